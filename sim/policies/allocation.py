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
from typing import Annotated, Callable, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from sim.traces import CEMA_REDUNDANCY_MARGIN


def deliverable(phis: tuple[float, ...], phi: float) -> float:
    """The largest deliverable unit (whole tensors: an element of ``phis``) within ``phi``."""
    return max((p for p in phis if p <= phi + 1e-6), default=0.0)


REDUNDANCY_MARGIN = CEMA_REDUNDANCY_MARGIN  # CEMA's redundancy test, this project's margin for 10 classes


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
    # bits of each deliverable unit (aligned with phis) computed from an architecture's tensors;
    # empty: each unit is its share phi of model_bits
    unit_bits: tuple[float, ...] = ()
    job_s_per_sample: float = 0.0  # the edge job's expected seconds per uploaded sample
    # CEMA's measured pass fraction for a redundancy margin (None: pass_fraction at every margin)
    pass_fraction_at: Callable[[float], float] | None = None

    def payload_bits(self, phi: float) -> float:
        """Bits of the deliverable unit ``phi`` (an element of ``phis``)."""
        return self.unit_bits[self.phis.index(phi)] if self.unit_bits else phi * self.model_bits

    def phi_within(self, bits: float) -> float:
        """The fraction of the model a download of ``bits`` delivers: ``bits / model_bits`` (at
        most 1), or with unit sizes from an architecture, linear between the units' sizes."""
        if not self.unit_bits:
            return min(bits / self.model_bits, 1.0)
        lo_b, lo_p = 0.0, 0.0
        for b, p in zip(self.unit_bits, self.phis):
            if bits <= b:
                return lo_p + (p - lo_p) * (bits - lo_b) / (b - lo_b) if b > lo_b else p
            lo_b, lo_p = b, p
        return 1.0

    def deliverable(self, phi: float) -> float:
        """The largest whole-tensor unit (an element of ``phis``) within ``phi``."""
        return deliverable(self.phis, phi)


@dataclass(frozen=True)
class AllocationContext:
    """What the access point's controller knows when it decides.  ``capacity_bps``: the
    uplink (half duplex: the one medium both directions share); ``down_capacity_bps``: the
    downlink of a full-duplex access point (None: half duplex); ``competing_*_bps``: the rate
    of the other traffic (inference inputs and results) the access point carried over the
    last period, measured from its finished transfers."""

    capacity_bps: float
    period_s: float
    types: list[DeviceType]
    down_capacity_bps: float | None = None
    competing_up_bps: float = 0.0
    competing_down_bps: float = 0.0


@dataclass(frozen=True)
class Decision:
    bandwidth_bps: float  # per device; also the weight of its flows
    samples: float  # samples to upload this period
    phi: float  # fraction of the model to download after the edge job (0: no download)
    chunk_samples: int | None = None  # run a job and a download after every chunk (CEMA)
    offload_inference: bool = False  # devices send their inputs to the edge instead (distributed)
    # CEMA: each device uploads only the samples of its own stream that pass the upload filters at this
    # redundancy margin (at most ``samples``), kept samples beyond whole chunks wait for the next period
    filter_margin: float | None = None
    replay_samples: int = 0  # CEMA: the edge distils on its replay buffer of this many uploaded samples
    tail_samples: int = 0  # uploaded after the last update, without a download (data for a later update)


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # devices send their inputs to the edge from the start, before the first decision (distributed)
    offloads_from_start: ClassVar[bool] = False

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
            d, phi = split_at(self.alpha, b * ctx.period_s, t.sample_bits, t.model_bits, t.max_samples,
                              t.phi_within if t.unit_bits else None)
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


MIN_AVAILABLE = 0.05  # the share of the link the optimiser always counts on, however busy it was


def available(ctx: AllocationContext) -> tuple[float, float]:
    """(upload bandwidth the update loop can count on, download / upload bandwidth ratio):
    the link less the competing traffic measured over the last period; a half-duplex medium
    carries both directions (ratio 1), a full-duplex access point's downlink is its own."""
    if ctx.down_capacity_bps is None:
        up = max(ctx.capacity_bps - ctx.competing_up_bps - ctx.competing_down_bps, MIN_AVAILABLE * ctx.capacity_bps)
        return up, 1.0
    up = max(ctx.capacity_bps - ctx.competing_up_bps, MIN_AVAILABLE * ctx.capacity_bps)
    down = max(ctx.down_capacity_bps - ctx.competing_down_bps, MIN_AVAILABLE * ctx.down_capacity_bps)
    return up, down / up


class Optimal(_Policy):
    """This project's optimiser (``sim/optimize.py``): per device type the update plan
    (samples, deliverable model fraction, chunking) with the best period-average mAP on
    the measured surface, knowing the access point's duplex, the competing traffic it
    carried over the last period and the edge job's duration; across types, bandwidth by
    water-filling.  Where it departs from the paper: docs/model_updates.md."""

    kind: Literal["optimal"] = "optimal"
    # steps of the water-filling search: beyond 100,000 only its cost grows, not its precision
    quanta: Annotated[int, Field(ge=10, le=100_000)] = 200
    lookahead: Annotated[int, Field(ge=1, le=100_000)] = 200

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        from sim.optimize import best_update, water_fill

        capacity, ratio = available(ctx)

        def split(t: DeviceType, b: float):
            return best_update(lambda d, phi: t.value(t.samples_cum + d, phi), t.current_value, b * ctx.period_s,
                               t.sample_bits, t.model_bits, t.max_samples, t.phis,
                               payload_of=t.payload_bits if t.unit_bits else None, down_ratio=ratio,
                               job_s_per_sample=t.job_s_per_sample, period_s=ctx.period_s)

        values = [_tabulate(lambda b, t=t: split(t, b).value, capacity / t.count) for t in ctx.types]
        bandwidth = water_fill(values, [t.count for t in ctx.types], capacity, self.quanta, self.lookahead)
        out = []
        for t, b in zip(ctx.types, bandwidth):
            s = split(t, b)
            out.append(Decision(b, math.floor(s.samples), s.phi, chunk_samples=s.chunk or None,
                                tail_samples=math.floor(s.tail)))
        return out


class PaperSplit(_Policy):
    """Paper A's method as the paper states it (PAPERS.md A): subproblem 1 per device, the
    split ``alpha`` of its bandwidth ``B`` between data upload and model download that
    maximises the accuracy *after* the period's one update, ``F(D_cum + alpha B T / s,
    phi((1 - alpha) B T))`` on the measured surface (phi the whole units that fit);
    subproblem 2 across devices, bandwidths summing to the access point's capacity that
    maximise the total, by water-filling.  One upload, one job and one download per period;
    the whole link counted on, as the paper's model has it."""

    kind: Literal["paper_split"] = "paper_split"
    quanta: Annotated[int, Field(ge=10, le=100_000)] = 200
    lookahead: Annotated[int, Field(ge=1, le=100_000)] = 200

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        from sim.optimize import best_split, water_fill

        def split(t: DeviceType, b: float):
            return best_split(lambda d, phi: t.value(t.samples_cum + d, t.deliverable(phi)), b * ctx.period_s,
                              t.sample_bits, t.model_bits, t.max_samples, phi_of=t.phi_within if t.unit_bits else None)

        values = [_tabulate(lambda b, t=t: split(t, b).value, ctx.capacity_bps / t.count) for t in ctx.types]
        bandwidth = water_fill(values, [t.count for t in ctx.types], ctx.capacity_bps, self.quanta, self.lookahead)
        out = []
        for t, b in zip(ctx.types, bandwidth):
            s = split(t, b)
            out.append(Decision(b, math.floor(s.samples), t.deliverable(s.phi)))
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
    """CEMA (PAPERS.md B): each device uploads only the samples of its stream that pass the
    entropy and redundancy filters (run sample by sample over its measured stream, the
    moving average of predictions over kept samples only), up to its equal share of the
    link; the edge updates after every 32 uploaded samples (whole chunks only), distilling
    on its replay buffer of the last ``replay_samples`` uploaded samples (pooled across the
    devices; 0: each device's own uploads), and sends back only the normalisation parameters."""

    kind: Literal["cema"] = "cema"
    chunk_samples: Annotated[int, Field(ge=1, le=1_000_000)] = 32
    # a sample is redundant if the cosine of its prediction to the running average is at least this:
    # CEMA's (and EATA's) own margin is 0.05 on 1,000 classes; 0.95 is this project's for 10 classes
    # (docs/model_updates.md, "CEMA's filters on MNIST-C")
    redundancy_margin: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = REDUNDANCY_MARGIN
    # CEMA's replay buffer holds 10,000 uploaded samples [paper]
    replay_samples: Annotated[int, Field(ge=0, le=100_000_000)] = 10_000

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        k = self.chunk_samples
        out = []
        for t in ctx.types:
            # at most what the device's share carries in the period; what passes is each device's own stream
            cap = k * math.floor(min(t.max_samples, b * ctx.period_s / t.sample_bits) / k)
            out.append(Decision(b, cap, t.norm_phi, chunk_samples=k, filter_margin=self.redundancy_margin,
                                replay_samples=self.replay_samples))
        return out


class Distributed(_Policy):
    """The distributed-computing baseline: devices never download a model; every
    inference input goes to the edge, which serves it with its large model and adapts
    that model on the inputs it receives."""

    kind: Literal["distributed"] = "distributed"
    offloads_from_start: ClassVar[bool] = True  # every input, from the first one

    def allocate(self, ctx: AllocationContext) -> list[Decision]:
        b = self._equal(ctx)
        return [Decision(b, 0, 0.0, offload_inference=True) for _ in ctx.types]


AllocationPolicy = Annotated[
    Union[FixedSplit, EqualShare, UploadAll, ModelOnly, Optimal, PaperSplit, Cema, Distributed],
    Field(discriminator="kind")
]
