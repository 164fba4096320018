"""Server selection: which server an offloaded input goes to.

A routing policy's ``target`` is either one server's name or one of these rules over
the servers in ``among``.  The rule is applied per input, when the input leaves the
device (:class:`sim.entities.selection.Selector`); the rules that read server load see
it as it was ``information_delay_s`` earlier (the state a device's access point last
heard of):

* ``nearest``: the smallest propagation latency there and back; ties: first listed.
* ``random``: uniformly at random.
* ``least_loaded``: the fewest jobs in system per worker; ties: first listed.
* ``power_of_two``: two distinct servers at random, the less loaded of them.
* ``cost``: the smallest expected latency (transfers at the path's bottleneck rate,
  propagation, the queue ahead divided among the workers times the mean service time,
  the service itself) plus ``energy_weight_s_per_j`` x the job's expected server energy.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, TypeAdapter, ValidationError,
                      field_validator)

from sim.names import Name

# finite and bounded (docs/scenarios.md, "Bounds"): a delay at most the longest horizon (1e9 s), a weight
# at most 1e9 s of latency per joule
NonNeg = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    among: list[Name] = Field(min_length=1, description="the candidate servers, in order of preference on ties")
    reads_load: ClassVar[bool] = False
    uniforms: ClassVar[int] = 0  # random draws per input

    @field_validator("among")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        dup = sorted({n for n in v if v.count(n) > 1})
        if dup:
            raise ValueError(f"server {dup[0]!r} listed twice")
        return v


class Nearest(_Rule):
    select: Literal["nearest"] = "nearest"


class Random(_Rule):
    select: Literal["random"] = "random"
    uniforms: ClassVar[int] = 1


class LeastLoaded(_Rule):
    select: Literal["least_loaded"] = "least_loaded"
    information_delay_s: NonNeg = Field(0.0, description="age of the load the device sees")
    reads_load: ClassVar[bool] = True


class PowerOfTwo(_Rule):
    select: Literal["power_of_two"] = "power_of_two"
    information_delay_s: NonNeg = Field(0.0, description="age of the load the device sees")
    reads_load: ClassVar[bool] = True
    uniforms: ClassVar[int] = 2

    @field_validator("among")
    @classmethod
    def _two(cls, v: list[str]) -> list[str]:
        if len(v) < 2:
            raise ValueError("power_of_two needs at least two servers")
        return v


class Cost(_Rule):
    select: Literal["cost"] = "cost"
    information_delay_s: NonNeg = Field(0.0, description="age of the load the device sees")
    energy_weight_s_per_j: NonNeg = Field(0.0, description="seconds of expected latency one joule of server energy is worth")
    reads_load: ClassVar[bool] = True


Selection = Annotated[Union[Nearest, Random, LeastLoaded, PowerOfTwo, Cost], Field(discriminator="select")]
_NAME, _RULE = TypeAdapter(Name), TypeAdapter(Selection)


def _target(v):
    """A server name or a selection rule, with one error naming the sub-field when neither."""
    try:
        return _NAME.validate_python(v) if isinstance(v, str) else _RULE.validate_python(v)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = [str(x) for x in err["loc"] if x not in ("nearest", "random", "least_loaded", "power_of_two", "cost")]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid" or (err["type"] == "union_tag_not_found"):
            msg = "select: one of nearest, random, least_loaded, power_of_two, cost"
        raise ValueError(f"{'.'.join(loc) + ': ' if loc else ''}{msg}") from None


def _dump(v):
    return v.model_dump(mode="json", exclude_unset=False) if isinstance(v, BaseModel) else v


Target = Annotated[Union[Name, Selection], PlainValidator(_target), PlainSerializer(_dump)]


def target_names(target) -> list[tuple[str, str]]:
    """(field, server name) pairs of a policy's ``target`` (a name or a selection rule)."""
    if target is None:
        return []
    if isinstance(target, str):
        return [("target", target)]
    return [(f"target.among[{k}]", n) for k, n in enumerate(target.among)]
