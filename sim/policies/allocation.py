"""Bandwidth-allocation policies of the model-update loop (PAPERS.md A and B).

Once per period, for the devices sharing one access point, ``allocate(ctx)`` decides
for every device type (devices in the same state) how much bandwidth it holds, how
many samples it uploads and what fraction of the distilled model comes back.  It is
pure: it sees only what the edge knows at that time (:class:`DeviceType`), never the
future.  Every parameter has a default, so ``{kind: cema}`` alone is a valid choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class DeviceType:
    """Devices in the same state, as the edge knows it at decision time."""

    count: int
    samples_cum: float  # samples of the current condition already used for the device's model
    max_samples: float  # new samples produced during one period
    sample_bits: float
    model_bits: float  # the full model payload
    norm_phi: float  # fraction of the payload that is the normalisation parameters
    pass_fraction: float  # fraction of samples passing CEMA's upload filters
    value: Callable[[float, float], float]  # accuracy (or mAP) after an update with (samples_cum, phi)
    current_value: float = 0.0  # the value of the model the devices hold now
    phis: tuple[float, ...] = (1.0,)  # deliverable fractions of the model (whole tensors)


@dataclass(frozen=True)
class AllocationContext:
    capacity_bps: float
    period_s: float
    types: list[DeviceType]


@dataclass(frozen=True)
class Decision:
    bandwidth_bps: float  # per device; also the weight of its flows
    samples: float  # samples to upload this period
    phi: float  # fraction of the model to download after the edge job (0: no download)
    chunk_samples: int | None = None  # run a job and a download after every chunk (CEMA)
    offload_inference: bool = False  # devices send their inputs to the edge instead (distributed)


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @staticmethod
    def _equal(ctx: AllocationContext) -> float:
        return ctx.capacity_bps / max(sum(t.count for t in ctx.types), 1)


class FixedSplit(_Policy):
    """Equal bandwidth per device, a fixed share ``alpha`` of it for data upload."""

    kind: Literal["fixed_split"] = "fixed_split"
    alpha: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        from sim.optimize import split_at

        b = self._equal(ctx)
        out = []
        for t in ctx.types:
            d, phi = split_at(self.alpha, b * ctx.period_s, t.sample_bits, t.model_bits, t.max_samples)
            out.append(Decision(b, math.floor(d), phi))
        return out


class EqualShare(_Policy):
    """No allocation: every device uploads all its new samples and downloads the full
    model; uploads and downloads share the link max-min fairly, flow by flow."""

    kind: Literal["equal_share"] = "equal_share"

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        return [Decision(b, math.floor(t.max_samples), 1.0) for t in ctx.types]


class UploadAll(_Policy):
    """The data extreme: the whole budget uploads samples; only the normalisation
    parameters (the smallest useful payload) come back."""

    kind: Literal["upload_all"] = "upload_all"

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        return [Decision(b, math.floor(min(t.max_samples, b * ctx.period_s / t.sample_bits)), t.norm_phi)
                for t in ctx.types]


class ModelOnly(_Policy):
    """The model extreme: one batch of samples up, the full model down."""

    kind: Literal["model_only"] = "model_only"
    samples: Annotated[int, Field(ge=1, le=1_000_000)] = 32

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        return [Decision(b, min(self.samples, math.floor(t.max_samples)), 1.0) for t in ctx.types]


class Optimal(_Policy):
    """This project's optimiser (``sim/optimize.py``): per device type the update plan
    (samples, deliverable model fraction, chunking) with the best period-average mAP on
    the measured surface; across types, bandwidth by water-filling."""

    kind: Literal["optimal"] = "optimal"
    # steps of the water-filling search: beyond 100,000 only its cost grows, not its precision
    quanta: Annotated[int, Field(ge=10, le=100_000)] = 200
    lookahead: Annotated[int, Field(ge=1, le=100_000)] = 200

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        from sim.optimize import best_update, water_fill

        def split(t: DeviceType, b: float):
            return best_update(lambda d, phi: t.value(t.samples_cum + d, phi), t.current_value, b * ctx.period_s,
                               t.sample_bits, t.model_bits, t.max_samples, t.phis)

        values = [_tabulate(lambda b, t=t: split(t, b).value, ctx.capacity_bps / t.count) for t in ctx.types]
        bandwidth = water_fill(values, [t.count for t in ctx.types], ctx.capacity_bps, self.quanta, self.lookahead)
        out = []
        for t, b in zip(ctx.types, bandwidth):
            s = split(t, b)
            out.append(Decision(b, math.floor(s.samples), s.phi, chunk_samples=s.chunk or None))
        return out


def _tabulate(f: Callable[[float], float], hi: float, points: int = 101) -> Callable[[float], float]:
    """``f`` on [0, hi] as a piecewise-linear table (the optimiser evaluates it often)."""
    xs = [hi * i / (points - 1) for i in range(points)]
    ys = [f(x) for x in xs]

    def g(x: float) -> float:
        if x <= 0:
            return ys[0]
        if x >= hi:
            return ys[-1]
        k = x / hi * (points - 1)
        i = int(k)
        return ys[i] + (ys[i + 1] - ys[i]) * (k - i) if i + 1 < points else ys[-1]

    return g


class Cema(_Policy):
    """CEMA: upload only samples passing the entropy and redundancy filters (their pass
    fraction comes from the measured stream), update after every 32 uploaded samples
    (whole chunks only), download only the normalisation parameters."""

    kind: Literal["cema"] = "cema"
    chunk_samples: Annotated[int, Field(ge=1, le=1_000_000)] = 32

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        k = self.chunk_samples
        return [Decision(b, k * math.floor(min(t.pass_fraction * t.max_samples, b * ctx.period_s / t.sample_bits) / k),
                         t.norm_phi, chunk_samples=k) for t in ctx.types]


class Distributed(_Policy):
    """The distributed-computing baseline: devices never download a model; every
    inference input goes to the edge, which serves it with its large model and adapts
    that model on the inputs it receives."""

    kind: Literal["distributed"] = "distributed"

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        return [Decision(b, 0, 0.0, offload_inference=True) for _ in ctx.types]


AllocationPolicy = Annotated[
    Union[FixedSplit, EqualShare, UploadAll, ModelOnly, Optimal, Cema, Distributed], Field(discriminator="kind")
]
