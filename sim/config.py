"""The scenario schema: frozen pydantic models, ``extra="forbid"``, SI units in names.

A scenario describes the *platform* (access points, backhaul links, servers),
the *deployment* (device groups and where they attach) and the *behaviour*
(policies).  Everything here is plain data; :mod:`sim.build` turns it into
SimPy entities.  Cross-references (a group's access point, a policy's target
server, a link's end points) are checked by :meth:`Scenario._check_references`,
so a scenario that validates can always be built.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from sim.policies.routing import LocalOnly, RoutingPolicy
from sim.policies.scheduling import SchedulingPolicy, Fifo

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Arrivals(Frozen):
    """Inference arrivals of one device."""

    process: Literal["poisson", "periodic"] = "poisson"
    rate_hz: PositiveFloat


class Energy(Frozen):
    """Device energy parameters (joules, watts)."""

    active_power_w: NonNegFloat = 2.0
    idle_power_w: NonNegFloat = 0.0
    radio_up_j_per_bit: NonNegFloat = 0.0
    radio_down_j_per_bit: NonNegFloat = 0.0


class TimingRef(Frozen):
    """A model segment in a timing-profile trace."""

    trace: str = Field(description="path of the timing trace, relative to the scenario file")
    model: Name
    segment: Name = "full"
    batch_size: Annotated[int, Field(ge=1)] = 1
    speed_factor: PositiveFloat = Field(
        1.0, description="declared (not measured) speed-up of the target hardware over the profiled one"
    )


class DeviceGroup(Frozen):
    name: Name
    count: Annotated[int, Field(gt=0)]
    access_point: Name
    model: Name = Field(description="model the device runs; its accuracy comes from the accuracy trace")
    compute: TimingRef
    arrivals: Arrivals
    input_bytes: Annotated[int, Field(gt=0)] = 3072
    result_bytes: Annotated[int, Field(gt=0)] = 64
    data_rate_bps: NonNegFloat = Field(0.0, description="rate at which the device produces new data")
    energy: Energy = Energy()
    routing: RoutingPolicy | None = Field(None, description="overrides policies.routing for this group")


class AccessPoint(Frozen):
    name: Name
    uplink_bps: PositiveFloat
    downlink_bps: PositiveFloat
    latency_s: NonNegFloat = 0.0


class Link(Frozen):
    """A full-duplex backhaul link between two named nodes (access points or servers)."""

    name: Name
    between: tuple[Name, Name]
    bandwidth_bps: PositiveFloat
    latency_s: NonNegFloat = 0.0


class Server(Frozen):
    name: Name
    tier: Literal["edge", "cloud"]
    workers: Annotated[int, Field(gt=0)] = 1
    model: Name = Field(description="model served; its accuracy comes from the accuracy trace")
    compute: TimingRef
    scheduling: SchedulingPolicy = Fifo()


class Policies(Frozen):
    routing: RoutingPolicy = LocalOnly()


class Metrics(Frozen):
    window_s: PositiveFloat = 10.0


class Traces(Frozen):
    accuracy: str = Field(description="accuracy trace, relative to the scenario file")


class Scenario(Frozen):
    name: Name
    description: str = ""
    horizon_s: PositiveFloat
    seed: Annotated[int, Field(ge=0)] = 0
    traces: Traces
    access_points: Annotated[list[AccessPoint], Field(min_length=1)]
    links: list[Link] = []
    servers: list[Server] = []
    device_groups: Annotated[list[DeviceGroup], Field(min_length=1)]
    policies: Policies = Policies()
    metrics: Metrics = Metrics()

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> "Scenario":
        if info.context and info.context.get("defer_references"):
            return self
        errors = reference_errors(self)
        if errors:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in errors))
        return self

    def routing_of(self, group: DeviceGroup) -> RoutingPolicy:
        return group.routing or self.policies.routing

    @property
    def devices(self) -> int:
        return sum(g.count for g in self.device_groups)


def _duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def reference_errors(s: Scenario) -> list[tuple[str, str]]:
    """Every broken cross-reference in ``s`` as (field path, message)."""
    errors: list[tuple[str, str]] = []
    aps = [a.name for a in s.access_points]
    servers = [v.name for v in s.servers]
    for kind, names in (("access_points", aps), ("servers", servers), ("links", [x.name for x in s.links]),
                        ("device_groups", [g.name for g in s.device_groups])):
        for dup in _duplicates(names):
            errors.append((kind, f"duplicate name {dup!r}"))
    for i, v in enumerate(s.servers):
        if v.name in aps:
            errors.append((f"servers[{i}].name", f"{v.name!r} is also an access point"))
    for i, g in enumerate(s.device_groups):
        if g.access_point not in aps:
            errors.append((f"device_groups[{i}].access_point", f"undefined access point {g.access_point!r}"))
    for i, x in enumerate(s.links):
        for j, end in enumerate(x.between):
            if end not in aps + servers:
                errors.append((f"links[{i}].between[{j}]", f"undefined node {end!r}"))
    routings = [("policies.routing", s.policies.routing)]
    routings += [(f"device_groups[{i}].routing", g.routing) for i, g in enumerate(s.device_groups) if g.routing]
    for where, policy in routings:
        for field, target in policy.targets():
            if target not in servers:
                errors.append((f"{where}.{field}", f"undefined server {target!r}"))
    return errors
