"""The scenario schema: frozen pydantic models, ``extra="forbid"``, SI units in names.

A scenario describes the *platform* (access points, backhaul links, servers),
the *deployment* (device groups and where they attach) and the *behaviour*
(policies).  Everything here is plain data; :mod:`sim.build` turns it into
SimPy entities.  Cross-references (a group's access point, a policy's target
server, a link's end points) are checked by :meth:`Scenario._check_references`,
so a scenario that validates can always be built.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from sim.names import MAX_NAME as MAX_NAME_LEN, Name
from sim.policies.allocation import AllocationPolicy, EqualShare
from sim.policies.routing import LocalOnly, RoutingPolicy
from sim.policies.scheduling import SchedulingPolicy, Fifo

# Every number of a scenario is finite and bounded (docs/robustness.md, "Bounds"): the bounds
# are far beyond any real system, and keep every derived quantity (a transfer or compute
# time, an energy, a count of events) a finite float, so a typo such as 1e308 is refused here
# with one line instead of overflowing to inf or running for ever.
MAX_TIME_S = 1e9  # the longest horizon (about 32 years): a time on the clock beyond it never comes
MAX_DELAY_S = 3600.0  # one hop's latency or a flow's set-up: an hour is beyond any network
MIN_BPS, MAX_BPS = 1.0, 1e12  # 1 b/s .. 1 Tb/s (above 800G Ethernet); >= 1 b/s keeps a transfer finite
MAX_BYTES = 10**12  # 1 TB per input, result, sample or model
MAX_COUNT = 1_000_000  # workers, batch sizes, epochs
MAX_DEVICES = 100_000_000  # devices of a group; sim.limits then checks the memory the run needs
MAX_RATE_HZ = 1e6  # events per second of one device
MIN_SPEED, MAX_SPEED = 1e-6, 1e6  # declared speed-ups: a millionth .. a million times the profiled CPU
MAX_POWER_W = 1e6  # a megawatt: a data-centre hall, far above one device or server
MAX_J_PER_MAC = 1e-6  # a microjoule per MAC: 200,000 times the 4.6 pJ of a 45 nm fp32 MAC
MAX_J_PER_BIT = 1e-3  # a millijoule per radio bit: 10,000 times a cellular radio's 100 nJ
MAX_SEED = 2**63 - 1  # written as a 64-bit integer in the results
MAX_FACTOR = 1e6  # a declared multiplier (training steps per forward pass)
MAX_TAIL_J = 1e3  # a kilojoule of radio tail per transmission: a million times an LTE tail's ~1 J


def _bounded(lo: float, hi: float, lo_open: bool = False) -> object:
    return Field(gt=lo, le=hi, allow_inf_nan=False) if lo_open else Field(ge=lo, le=hi, allow_inf_nan=False)


Time = Annotated[float, _bounded(0, MAX_TIME_S)]  # a time on the simulation clock, >= 0
Duration = Annotated[float, _bounded(0, MAX_TIME_S, lo_open=True)]  # a span of time, > 0
Delay = Annotated[float, _bounded(0, MAX_DELAY_S)]
Bandwidth = Annotated[float, _bounded(MIN_BPS, MAX_BPS)]
Bytes = Annotated[int, Field(gt=0, le=MAX_BYTES)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Speed = Annotated[float, _bounded(MIN_SPEED, MAX_SPEED)]
Power = Annotated[float, _bounded(0, MAX_POWER_W)]
JPerMac = Annotated[float, _bounded(0, MAX_J_PER_MAC)]
JPerBit = Annotated[float, _bounded(0, MAX_J_PER_BIT)]
# payload share of the raw rate: >= 0.001 keeps a transfer at the slowest rate finite
Goodput = Annotated[float, _bounded(1e-3, 1)]
# the queue discipline of an access point or a link (docs/network.md)
Queue = Annotated[Literal["fair", "droptail"], Field(
    description="fair: max-min fair shares; droptail: shares inversely proportional to each flow's round-trip "
                "time (docs/network.md)")]
Severity = Annotated[int, Field(ge=0, le=5)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Arrivals(Frozen):
    """Inference arrivals of one device."""

    process: Literal["poisson", "periodic"] = "poisson"
    rate_hz: Annotated[float, _bounded(0, MAX_RATE_HZ, lo_open=True)]


class Energy(Frozen):
    """Device energy parameters (joules, watts).

    Compute energy is ``active_power_w`` x measured compute time (``compute_model:
    time``) or ``energy_per_mac_j`` x the segment's MACs (``compute_model: macs``;
    4.6 pJ is a common figure for an fp32 MAC at 45 nm)."""

    compute_model: Literal["time", "macs"] = "time"
    energy_per_mac_j: JPerMac = 4.6e-12
    active_power_w: Power = 2.0
    idle_power_w: Power = 0.0
    radio_up_j_per_bit: JPerBit = 0.0
    radio_down_j_per_bit: JPerBit = 0.0
    radio_tx_power_w: Power | None = Field(
        None, description="radio energy from air time: transmit power x the time on the air of each upload "
                          "(bits / the device's own rate), instead of radio_up_j_per_bit (docs/wireless.md)")
    radio_rx_power_w: Power | None = Field(
        None, description="receive power x the time on the air of each download, instead of radio_down_j_per_bit")
    radio_tail_j: Annotated[float, _bounded(0, MAX_TAIL_J)] | None = Field(
        None, description="energy after each transmission (the radio's tail state), with the power model")


class TimingRef(Frozen):
    """A model segment in a timing-profile trace."""

    trace: str = Field(description="path of the timing trace, relative to the scenario file")
    model: Name
    segment: Name = "full"
    batch_size: Count = 1
    speed_factor: Speed = Field(
        1.0, description="declared (not measured) speed-up of the target hardware over the profiled one"
    )


class Condition(Frozen):
    """The data a device sees: clean, or an ImageNet-C corruption at a severity 1..5."""

    corruption: Name = "clean"
    severity: Severity = 0

    @model_validator(mode="after")
    def _clean_has_no_severity(self) -> "Condition":
        if (self.corruption == "clean") != (self.severity == 0):
            raise ValueError("severity must be 0 for clean data and 1..5 for a corruption")
        return self

    @property
    def key(self) -> str:
        return f"{self.corruption}/{self.severity}"


class EarlyExit(Frozen):
    """A MEANet device: main, adaptive and extension blocks timed from a timing trace,
    each input's exit outcome drawn from an exit-record trace."""

    records: str = Field(description="exit-record trace (sim.exits/1), relative to the scenario file")
    timing: str = Field(description="timing trace with the main/adaptive/extension segments")
    model: Name = Field("meanet_mnist", description="MEANet variant in the timing trace")
    batch_size: Count = 1
    speed_factor: Speed = Field(1.0, description="declared (not measured) speed-up over the profiled CPU")
    condition: Condition = Condition()
    drift: "Drift | None" = Field(None, description="the data condition over time (instead of a fixed condition)")
    precision: Literal["fp32", "int8", "int4", "binary"] = Field(
        "fp32", description="arithmetic of the device blocks: selects their exit records (measured at that precision), "
                            "their times (the timing trace's entries at that precision where it has them, as "
                            "`sim profile timings --precisions int8` writes; else the fp32 ones) and scales "
                            "energy_per_mac_j by the declared energy ratio (sim.entities.energy)")

    @model_validator(mode="after")
    def _condition_or_drift(self) -> "EarlyExit":
        if self.drift is not None and "condition" in self.model_fields_set:
            raise ValueError("give either condition or drift")
        if self.drift is not None and self.drift.per_device:
            raise ValueError("per-device drift (shares, switching.per_device) is for updates.drift of whole-model "
                             "groups; an early-exit group's devices share one condition")
        return self


class DriftSegment(Condition):
    """From ``start_s`` on, the data has this condition (clean, or a corruption and severity)."""

    start_s: Time
    corruption: Name
    severity: Severity


class DriftSwitching(Frozen):
    """A random switching process: after an exponential holding time (mean
    ``mean_holding_s``) the condition jumps to another one drawn uniformly."""

    mean_holding_s: Duration
    conditions: Annotated[list[Condition], Field(min_length=2)]
    per_device: bool = Field(False, description="each device its own switching process (its own holding times "
                                                "and draws) instead of one for the whole group")


class DriftShare(Condition):
    """This share of the group's devices has this condition throughout."""

    share: Annotated[float, _bounded(0, 1, lo_open=True)]


class Drift(Frozen):
    """Which corruption and severity a group's data has over time: fixed segments or switching
    (for the whole group, or per device), or a share of the devices per condition."""

    segments: list[DriftSegment] = []
    switching: DriftSwitching | None = None
    shares: list[DriftShare] = Field([], description="a share of the devices per condition (shares sum to 1; "
                                                     "the first devices take the first condition)")

    @property
    def per_device(self) -> bool:
        """Devices of the group may see different conditions."""
        return bool(self.shares) or (self.switching is not None and self.switching.per_device)

    @model_validator(mode="after")
    def _one_kind(self) -> "Drift":
        if bool(self.segments) + (self.switching is not None) + bool(self.shares) != 1:
            raise ValueError("give one of segments, switching or shares")
        if self.shares and abs(sum(x.share for x in self.shares) - 1) > 1e-6:
            raise ValueError(f"shares must sum to 1, found {sum(x.share for x in self.shares):.6g}")
        if self.segments and self.segments[0].start_s != 0:
            raise ValueError("the first segment must start at 0")
        if any(b.start_s <= a.start_s for a, b in zip(self.segments, self.segments[1:])):
            raise ValueError("segments must start at increasing times")
        return self


class EdgeJob(Frozen):
    """Service time of a fine-tune + distil job at the edge, from timing traces:
    per uploaded sample, ``train_factor`` x (teacher + student forward time per sample at
    ``batch_size``) x ``epochs``; a training step costs about three forward passes
    (forward, backward of activations, backward of weights): a declared factor.

    An early-exit group's job recomputes the normalisation statistics of its own blocks
    (what its adapted exit records measured): per sample the main block, then main +
    adaptive + extension, timed from ``early_exit.timing`` at ``batch_size``; it names no
    trace, teacher or student (a forward-only pass: give ``train_factor: 1``)."""

    trace: str | None = Field(None, description="timing trace of teacher and student (whole-model groups)")
    teacher: Name | None = Field(None, description="the edge's large model (whole-model groups)")
    teacher_segment: Name = "full"
    student: Name | None = Field(None, description="the distilled device model (whole-model groups)")
    student_segment: Name = "full"
    batch_size: Count = 4
    train_factor: Annotated[float, _bounded(0, MAX_FACTOR, lo_open=True)] = 3.0
    epochs: Count = 1
    speed_factor: Speed = Field(1.0, description="declared (not measured) edge speed-up over the profiled CPU")


EarlyExit.model_rebuild()


class PayloadRef(Frozen):
    """An architecture in a payload trace (``sim.payloads/1``)."""

    trace: str = Field(description="payload trace, relative to the scenario file")
    model: str = Field(min_length=1, max_length=MAX_NAME_LEN,
                       description="architecture: resnet18, mobilenet_v2, meanet_mnist/main, ...")


class Updates(Frozen):
    """The model-update loop (PAPERS.md A): every ``period_s`` each device uploads samples
    to ``edge``, the edge fine-tunes and distils, and the updated model comes back.  An
    early-exit group takes its data condition from ``early_exit`` (``condition`` or
    ``drift``) and its accuracy from its exit records (adapted ones included), so it gives
    neither ``surface`` nor ``drift`` here (docs/early_exit.md)."""

    surface: str | None = Field(None, description="adaptation surface trace (sim.adaptation/1); whole-model groups")
    edge: Name
    period_s: Duration = 60.0
    sample_bytes: Bytes = 784
    samples_per_s: Annotated[float, _bounded(0, MAX_RATE_HZ, lo_open=True)] = Field(
        10.0, description="new data samples a device produces per second")
    model_bytes: Bytes | None = Field(
        None, description="declared full model payload (each deliverable unit its share of it); default: the "
                          "surface's measured student payload (an early-exit group: the normalisation payload its "
                          "adapted exit records measured)")
    architecture: PayloadRef | None = Field(
        None, description="the device model's architecture in a payload trace (sim profile payloads): each "
                          "deliverable unit's bytes computed from its real tensors (whole-model groups)")
    payload_bits: Literal[32, 16, 8] = Field(
        32, description="bits per delivered parameter: 32 sends fp32, 16 or 8 a quantised copy (payload scaled, "
                        "or with architecture computed per tensor; its accuracy is taken as the fp32 model's: "
                        "declared, not measured)")
    job: EdgeJob = EdgeJob()
    drift: Drift | None = Field(None, description="the data condition over time (whole-model groups; an "
                                                  "early-exit group gives early_exit.drift)")


# --- time-varying capacity and fading (docs/wireless.md) ---
class CapacityTrace(Frozen):
    """A capacity over time from a file (CSV, ``#`` provenance lines then ``time_s`` and ``capacity_bps``
    or ``snr_offset_db``; or Parquet with the provenance in its metadata), relative to the scenario file.
    ``capacity_bps`` sets a fixed-rate access point's or link's raw rate; ``snr_offset_db`` shifts every
    device's SNR on a radio access point.  Each value holds from its time to the next; after the last
    row the trace starts again (``repeat``: the last value lasts as long as the step before it) or its last
    value stays (``hold``)."""

    path: str
    at_end: Literal["repeat", "hold"] = "hold"


class Fading(Frozen):
    """Block fading of each device's channel: every ``coherence_s`` a new power gain (mean 1) is drawn
    per device from its own stream, Rayleigh or Rician with factor ``k_factor``; the device's rate
    follows from its SNR + 10 log10(gain), and flows in flight re-share."""

    model: Literal["rayleigh", "rician"]
    k_factor: Annotated[float, _bounded(0.0, 1e3)] | None = Field(
        None, description="rician only: power of the direct path over the scattered ones (linear)")
    coherence_s: Annotated[float, _bounded(1e-3, MAX_TIME_S)] = Field(
        description="how long a draw holds (block fading)")

    @model_validator(mode="after")
    def _k(self) -> "Fading":
        if self.model == "rician" and self.k_factor is None:
            raise ValueError("k_factor: required by model 'rician'")
        if self.model == "rayleigh" and self.k_factor is not None:
            raise ValueError("k_factor: used by model 'rician' only (rayleigh has no direct path)")
        return self


# --- radio access points and device positions (docs/wireless.md) ---
MIN_HZ, MAX_HZ = 1e3, 1e10  # a channel of 1 kHz .. 10 GHz
MIN_DBM, MAX_DBM = -50.0, 60.0  # transmit power: 10 nW .. 1 kW
MAX_DISTANCE_M = 1e5  # 100 km from the access point
Dbm = Annotated[float, _bounded(MIN_DBM, MAX_DBM)]
Distance = Annotated[float, _bounded(0.01, MAX_DISTANCE_M)]
Coordinate = Annotated[float, _bounded(-MAX_DISTANCE_M, MAX_DISTANCE_M)]


class PathLoss(Frozen):
    """Path loss against distance.  ``log_distance``: ``ref_loss_db + 10 exponent log10(d / ref_distance_m)``
    (``ref_loss_db`` defaults to free space at ``ref_distance_m``); ``umi_street_canyon`` and ``uma``:
    3GPP TR 38.901 Table 7.4.1-1, line of sight or not, with its breakpoint distance."""

    model: Literal["log_distance", "umi_street_canyon", "uma"] = "log_distance"
    exponent: Annotated[float, _bounded(1.0, 10.0)] = Field(3.0, description="log_distance only")
    ref_distance_m: Annotated[float, _bounded(0.01, 1e4)] = Field(1.0, description="log_distance only")
    ref_loss_db: Annotated[float, _bounded(0.0, 200.0)] | None = Field(
        None, description="log_distance only; default: free space at ref_distance_m and carrier_ghz")
    los: bool = Field(True, description="3GPP models only: line of sight (else the NLOS formula)")
    ap_height_m: Annotated[float, _bounded(1.0, 150.0)] | None = Field(
        None, description="3GPP models only; default 10 m (UMi) or 25 m (UMa)")
    device_height_m: Annotated[float, _bounded(1.5, 22.5)] = Field(
        1.5, description="3GPP models only (UMa: below 13 m)")


class RateMapping(Frozen):
    """SNR to bit rate: ``shannon`` (bandwidth x log2(1 + SNR)), ``nr_cqi`` (5G NR CQI table) or ``wifi_ax``
    (802.11ax MCS 0-11, received power against the minimum sensitivities); times ``efficiency``, at most
    ``cap_bps``."""

    model: Literal["shannon", "nr_cqi", "wifi_ax"] = "shannon"
    efficiency: Annotated[float, _bounded(1e-3, 1.0)] = Field(
        1.0, description="share of the mapped rate that carries data (Shannon gap, control and reference overhead)")
    cap_bps: Bandwidth | None = Field(None, description="each device's rate is at most this")
    nr_table: Literal["64qam", "256qam"] = Field(
        "64qam", description="nr_cqi only: TS 38.214 Table 5.2.2.1-2 (64qam) or 5.2.2.1-3 (256qam)")
    spatial_streams: Annotated[int, Field(ge=1, le=8)] = Field(1, description="wifi_ax only")


class Radio(Frozen):
    """The radio of an access point: each device's rate follows from its SNR (docs/wireless.md)."""

    bandwidth_hz: Annotated[float, _bounded(MIN_HZ, MAX_HZ)] = Field(
        description="channel width; full duplex: of each direction; half duplex: shared by both")
    carrier_ghz: Annotated[float, _bounded(0.5, 100.0)] = 3.5
    device_tx_power_dbm: Dbm = Field(23.0, description="the devices' transmit power (uplink)")
    ap_tx_power_dbm: Dbm = Field(30.0, description="the access point's transmit power (downlink)")
    noise_figure_db: Annotated[float, _bounded(0.0, 30.0)] = Field(
        7.0, description="receiver noise figure, both directions: noise = -174 dBm/Hz + 10 log10(bandwidth) + NF")
    pathloss: PathLoss = PathLoss()
    shadowing_sigma_db: Annotated[float, _bounded(0.0, 30.0)] | None = Field(
        None, description="log-normal shadowing per device; default: the 3GPP model's own (4, 7.82 UMi NLOS, "
                          "6 UMa NLOS), 0 for log_distance")
    rate: RateMapping = RateMapping()

    @model_validator(mode="after")
    def _consistent(self) -> "Radio":
        if self.rate.model == "wifi_ax" and self.bandwidth_hz not in (20e6, 40e6, 80e6, 160e6):
            raise ValueError(f"rate model 'wifi_ax' needs bandwidth_hz 20e6, 40e6, 80e6 or 160e6, found "
                             f"{self.bandwidth_hz:g}")
        p = self.pathloss
        if p.model == "uma" and p.device_height_m >= 13.0:
            raise ValueError("pathloss.device_height_m: the uma model is taken for devices below 13 m (their "
                             "effective environment height is then 1 m)")
        if p.model != "log_distance":
            ap_height = p.ap_height_m or (10.0 if p.model == "umi_street_canyon" else 25.0)
            if ap_height <= p.device_height_m:
                raise ValueError(f"pathloss: the access point ({ap_height:g} m) must stand above the devices "
                                 f"({p.device_height_m:g} m)")
        return self


class FixedPlacement(Frozen):
    """Distances from the access point, or (x, y) points with the access point at the origin:
    device i takes entry i mod the list's length."""

    kind: Literal["fixed"]
    distances_m: Annotated[list[Distance], Field(min_length=1)] | None = None
    points_m: Annotated[list[tuple[Coordinate, Coordinate]], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_list(self) -> "FixedPlacement":
        if (self.distances_m is None) == (self.points_m is None):
            raise ValueError("give distances_m or points_m (one of them)")
        return self


class DiscPlacement(Frozen):
    """Uniform over the disc of ``radius_m`` around the access point (the annulus beyond
    ``min_distance_m``)."""

    kind: Literal["uniform_disc"]
    radius_m: Distance
    min_distance_m: Annotated[float, _bounded(0.0, MAX_DISTANCE_M)] = 0.0

    @model_validator(mode="after")
    def _annulus(self) -> "DiscPlacement":
        if self.min_distance_m >= self.radius_m:
            raise ValueError(f"min_distance_m ({self.min_distance_m:g}) must be below radius_m ({self.radius_m:g})")
        return self


class RingPlacement(Frozen):
    """Every device at ``radius_m`` from the access point."""

    kind: Literal["ring"]
    radius_m: Distance


class FilePlacement(Frozen):
    """Positions from a CSV file (relative to the scenario file): ``#`` provenance lines, then a header with
    ``distance_m`` or ``x_m,y_m``; device i takes row i mod the number of rows."""

    kind: Literal["file"]
    path: str


Placement = Annotated[FixedPlacement | DiscPlacement | RingPlacement | FilePlacement, Field(discriminator="kind")]


class DeviceGroup(Frozen):
    name: Name
    count: Annotated[int, Field(gt=0, le=MAX_DEVICES)]
    access_point: Name
    model: Name = Field("device_model", description="model the device runs; its accuracy comes from the accuracy trace")
    compute: TimingRef | None = Field(None, description="whole-model timing (required unless early_exit is given)")
    early_exit: EarlyExit | None = None
    arrivals: Arrivals
    input_bytes: Bytes = 3072
    result_bytes: Bytes = 64
    energy: Energy = Energy()
    routing: RoutingPolicy | None = Field(None, description="overrides policies.routing for this group")
    updates: Updates | None = None
    deadline_s: Duration | None = Field(
        None, description="an inference completed later than this after its arrival is counted as missed")
    placement: Placement | None = Field(
        None, description="where the devices stand around their radio access point (docs/wireless.md)")
    snr_db: Annotated[float, _bounded(-50.0, 80.0)] | None = Field(
        None, description="every device's SNR in both directions, instead of a placement (radio access points)")
    fading: Fading | None = Field(None, description="block fading of each device's channel (radio access points)")


class AccessPoint(Frozen):
    """A wireless access point.  ``duplex: full``: separate uplink and downlink capacities;
    ``duplex: half``: one shared medium of ``uplink_bps`` carries both directions (the
    model-update loop then splits one capacity between data upload and model download)."""

    name: Name
    uplink_bps: Bandwidth | None = Field(None, description="required unless radio is given")
    downlink_bps: Bandwidth | None = Field(None, description="defaults to uplink_bps; unused when half duplex")
    radio: Radio | None = Field(
        None, description="a radio access point: each device's rate follows from its own SNR (docs/wireless.md); "
                          "then uplink_bps and downlink_bps are not given")
    duplex: Literal["full", "half"] = "full"
    latency_s: Delay = 0.0
    goodput_factor: Goodput = Field(
        1.0, description="share of the raw rate left after framing overheads; under the tcp transport (the "
                         "default) IP/TCP headers are counted per segment, so this is the MAC/PHY share alone, e.g. 0.9")
    flow_setup_s: Delay = Field(
        0.0, description="fixed delay before each flow's first byte: connection set-up and slow start (the "
                         "tcp transport models both per flow; this adds to it)")
    outages: list[tuple[Time, Time]] = Field(
        [], description="[start_s, end_s] intervals when the access point carries nothing; flows crossing it abort")
    queue: Queue = "fair"
    sharing: Literal["throughput_fair", "airtime_fair"] = Field(
        "throughput_fair", description="radio access points: max-min in bits (slow devices pull everyone down) "
                                       "or in time on the air (each device's bits in proportion to its rate)")
    capacity_trace: CapacityTrace | None = Field(
        None, description="over time, from a file: a fixed-rate access point's uplink capacity_bps (the downlink "
                          "keeps its declared ratio to it), or a radio one's snr_offset_db")

    @model_validator(mode="after")
    def _outages_ordered(self) -> "AccessPoint":
        if self.radio is None and self.uplink_bps is None:
            raise ValueError("uplink_bps: required (or give radio)")
        if self.radio is not None:
            for f in ("uplink_bps", "downlink_bps"):
                if getattr(self, f) is not None:
                    raise ValueError(f"{f}: a radio access point's rates come from its radio (cap each device "
                                     "with radio.rate.cap_bps)")
        for start, end in self.outages:
            if end <= start:
                raise ValueError(f"outage [{start}, {end}]: end must be after start")
        return self


class Node(Frozen):
    """A router or host: a node of the topology besides the access points and servers, which
    links join and traffic may start or end at (docs/network.md)."""

    name: Name


class Link(Frozen):
    """A full-duplex link between two named nodes (access points, servers or ``nodes``), with
    ``bandwidth_bps`` in each direction, or ``bandwidth_ab_bps`` from ``between[0]`` to
    ``between[1]`` and ``bandwidth_ba_bps`` back."""

    name: Name
    between: tuple[Name, Name]
    bandwidth_bps: Bandwidth | None = Field(None, description="capacity of each direction")
    bandwidth_ab_bps: Bandwidth | None = Field(None, description="capacity from between[0] to between[1]")
    bandwidth_ba_bps: Bandwidth | None = Field(None, description="capacity from between[1] to between[0]")
    latency_s: Delay = 0.0
    goodput_factor: Goodput = 1.0
    queue: Queue = "fair"
    capacity_trace: CapacityTrace | None = Field(
        None, description="capacity over time from a file: the trace's capacity_bps is that of the direction "
                          "between[0] to between[1]; the other keeps its declared ratio to it")

    @model_validator(mode="after")
    def _one_bandwidth(self) -> "Link":
        ab, ba = self.bandwidth_ab_bps, self.bandwidth_ba_bps
        if self.bandwidth_bps is None and (ab is None or ba is None):
            raise ValueError("give bandwidth_bps (both directions), or bandwidth_ab_bps and bandwidth_ba_bps")
        if self.bandwidth_bps is not None and (ab is not None or ba is not None):
            raise ValueError("give bandwidth_bps (both directions) or bandwidth_ab_bps and bandwidth_ba_bps, "
                             "not both")
        return self

    @property
    def capacities_bps(self) -> tuple[float, float]:
        """(a to b, b to a) of ``between: [a, b]``."""
        if self.bandwidth_bps is not None:
            return self.bandwidth_bps, self.bandwidth_bps
        return self.bandwidth_ab_bps, self.bandwidth_ba_bps


class FlowSize(Frozen):
    """The size of each flow of background traffic, drawn from a distribution:
    ``exponential`` (``mean_bytes``), ``lognormal`` (``mean_bytes``, ``sigma`` of the
    underlying normal) or ``uniform`` (``min_bytes`` .. ``max_bytes``); rounded to whole
    bytes, at least 1."""

    distribution: Literal["exponential", "lognormal", "uniform"]
    mean_bytes: Annotated[float, _bounded(1, MAX_BYTES)] | None = None
    sigma: Annotated[float, _bounded(0, 10, lo_open=True)] | None = None
    min_bytes: Bytes | None = None
    max_bytes: Bytes | None = None

    @model_validator(mode="after")
    def _fields_of_distribution(self) -> "FlowSize":
        need = {"exponential": ("mean_bytes",), "lognormal": ("mean_bytes", "sigma"),
                "uniform": ("min_bytes", "max_bytes")}[self.distribution]
        for f in ("mean_bytes", "sigma", "min_bytes", "max_bytes"):
            given = getattr(self, f) is not None
            if f in need and not given:
                raise ValueError(f"{f} is required by distribution {self.distribution!r}")
            if f not in need and given:
                raise ValueError(f"{f} is not used by distribution {self.distribution!r}")
        if self.distribution == "uniform" and self.max_bytes < self.min_bytes:
            raise ValueError("max_bytes must be at least min_bytes")
        return self


class Traffic(Frozen):
    """Explicit traffic from node ``src`` to node ``dst`` (docs/network.md): one flow of
    ``size_bytes`` at ``start_s`` (``process: single``, the default), or background traffic,
    ``process: poisson``: flows starting at rate ``rate_hz`` between ``start_s`` and ``stop_s``
    (default: the horizon), each of ``size_bytes`` or of a size drawn from ``size``.  A flow
    from an access point crosses its uplink; a flow to one, its downlink."""

    name: Name
    src: Name
    dst: Name
    process: Literal["single", "poisson"] = "single"
    start_s: Time = 0.0
    size_bytes: Bytes | None = None
    size: FlowSize | None = None
    rate_hz: Annotated[float, _bounded(0, MAX_RATE_HZ, lo_open=True)] | None = None
    stop_s: Time | None = None

    @model_validator(mode="after")
    def _fields_of_process(self) -> "Traffic":
        if self.process == "single":
            if self.size_bytes is None:
                raise ValueError("size_bytes is required by a single flow (process: single)")
            for f in ("size", "rate_hz", "stop_s"):
                if getattr(self, f) is not None:
                    raise ValueError(f"{f} is for background traffic (process: poisson), not a single flow")
            return self
        if self.rate_hz is None:
            raise ValueError("rate_hz is required by process: poisson")
        if (self.size_bytes is None) == (self.size is None):
            raise ValueError("give either size_bytes or size (a distribution)")
        if self.stop_s is not None and self.stop_s <= self.start_s:
            raise ValueError(f"stop_s ({self.stop_s}) must be after start_s ({self.start_s})")
        return self


class ServerEnergy(Frozen):
    """Server compute energy per job: ``active_power_w`` x service time, or
    ``energy_per_mac_j`` x the model's MACs."""

    compute_model: Literal["time", "macs"] = "macs"
    energy_per_mac_j: JPerMac = 4.6e-12
    active_power_w: Power = 0.0


class Server(Frozen):
    name: Name
    tier: Literal["edge", "cloud"]
    workers: Count = 1
    model: Name = Field(description="model served; its accuracy comes from the accuracy trace")
    compute: TimingRef
    scheduling: SchedulingPolicy = Fifo()
    energy: ServerEnergy = ServerEnergy()


class Policies(Frozen):
    routing: RoutingPolicy = LocalOnly()
    allocation: AllocationPolicy = EqualShare()


class Metrics(Frozen):
    window_s: Duration = 10.0


class Transport(Frozen):
    """How flows use the links (docs/network.md).  ``tcp``: each flow carries its payload in
    segments of ``mss_bytes`` with ``header_bytes`` of headers each; waits ``setup_rtts`` round
    trips of its own path before its first byte (the connection's handshake); is held back in
    its first round trips by a congestion window that starts at ``initial_window_segments``
    and grows every round trip (slow start: x2 with ``byte_counting``, else x(1 + 1/
    ``ack_every_segments``)); and its receiver sends one ACK of
    ``header_bytes`` per ``ack_every_segments`` segments back along the reverse path, where they
    wait behind the data of other flows (a round trip longer by that wait, in slow start and in
    drop-tail shares).  ``fluid``: the ideal fluid model (payload only, no set-up, no window, no ACKs)."""

    model: Literal["tcp", "fluid"] = "tcp"
    mss_bytes: Annotated[int, Field(ge=1, le=65_495)] = Field(
        1448, description="payload bytes per segment (1500-byte IP packets with TCP timestamps)")
    header_bytes: Annotated[int, Field(ge=0, le=65_535)] = Field(
        52, description="header bytes per segment (IPv4 20 + TCP 20 + timestamps 12); also an ACK's size")
    setup_rtts: Annotated[float, _bounded(0, 100)] = Field(
        1.0, description="round trips of the flow's own path before its first byte (the handshake; 0: an open "
                         "connection)")
    initial_window_segments: Annotated[int, Field(ge=1, le=MAX_COUNT)] = Field(
        10, description="congestion window of a new connection, in segments (RFC 6928)")
    ack_every_segments: Annotated[int, Field(ge=1, le=MAX_COUNT)] = Field(
        2, description="segments acknowledged per ACK (delayed ACKs, RFC 1122)")
    byte_counting: bool = Field(
        False, description="false: slow start grows the window by one segment per ACK (RFC 5681, as ns-3's "
                           "NewReno): x(1 + 1/ack_every_segments) per round trip; true: by the segments each ACK "
                           "acknowledges (RFC 3465 byte counting, as Linux and ns-3's Cubic): x2")


class Fidelity(Frozen):
    """How the device groups are driven in time; both drivers give the same results.

    ``scale`` (default): each group passes its on-device inferences in bulk between
    the changes of its state, and starts each offloaded input at its arrival time.
    ``request``: one event per arrival, the reference the scale driver is checked against."""

    mode: Literal["scale", "request"] = "scale"


class Traces(Frozen):
    accuracy: str | None = Field(None, description="accuracy trace (needed by whole-model devices and the "
                                                   "servers they offload to), relative to the scenario file")


class Scenario(Frozen):
    name: Name
    description: str = ""
    horizon_s: Duration = Field(
        description="simulated seconds (at most 1e9, about 32 years)")
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    traces: Traces
    access_points: Annotated[list[AccessPoint], Field(min_length=1)]
    nodes: list[Node] = Field([], description="routers and hosts besides access points and servers")
    links: list[Link] = []
    traffic: list[Traffic] = Field([], description="explicit flows and background traffic between nodes")
    servers: list[Server] = []
    device_groups: Annotated[list[DeviceGroup], Field(min_length=1)]
    policies: Policies = Policies()
    metrics: Metrics = Metrics()
    fidelity: Fidelity = Fidelity()
    transport: Transport = Transport()

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

    def with_(self, overrides: dict | None = None, **fields) -> "Scenario":
        """A validated copy with dotted-path ``overrides`` and top-level ``fields`` changed
        (:func:`sim.scenario_io.with_`)."""
        from sim.scenario_io import with_

        return with_(self, overrides, **fields)

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
    nodes = [n.name for n in s.nodes]
    for kind, names in (("access_points", aps), ("servers", servers), ("links", [x.name for x in s.links]),
                        ("device_groups", [g.name for g in s.device_groups]), ("nodes", nodes),
                        ("traffic", [t.name for t in s.traffic])):
        for dup in _duplicates(names):
            errors.append((kind, f"duplicate name {dup!r}"))
    for i, v in enumerate(s.servers):
        if v.name in aps:
            errors.append((f"servers[{i}].name", f"{v.name!r} is also an access point"))
    linked = {end for x in s.links for end in x.between}
    for i, n in enumerate(s.nodes):
        if n.name in aps or n.name in servers:
            errors.append((f"nodes[{i}].name", f"{n.name!r} is also an access point or a server"))
        elif n.name not in linked:
            errors.append((f"nodes[{i}].name", f"no link joins node {n.name!r} (it could carry nothing)"))
    for i, t in enumerate(s.traffic):
        for end in ("src", "dst"):
            if getattr(t, end) not in aps + servers + nodes:
                errors.append((f"traffic[{i}].{end}", f"undefined node {getattr(t, end)!r}"))
        if t.src == t.dst:
            errors.append((f"traffic[{i}].dst", f"the flow starts and ends at {t.src!r}"))
        if t.start_s >= s.horizon_s:
            errors.append((f"traffic[{i}].start_s", f"{t.start_s} is not before the horizon ({s.horizon_s} s): "
                                                    "the traffic would never start"))
    for i, g in enumerate(s.device_groups):
        if g.access_point not in aps:
            errors.append((f"device_groups[{i}].access_point", f"undefined access point {g.access_point!r}"))
    seen_pairs: dict[frozenset, int] = {}
    for i, x in enumerate(s.links):
        pair = frozenset(x.between)
        if pair in seen_pairs and len(pair) == 2:
            a, b = x.between
            errors.append((f"links[{i}].between", f"links[{seen_pairs[pair]}] already joins {a!r} and {b!r} "
                                                  "(one link per pair of nodes: routes would use only one)"))
        seen_pairs.setdefault(pair, i)
        if x.between[0] == x.between[1]:
            errors.append((f"links[{i}].between", f"a link joins two different nodes, found {x.between[0]!r} twice"))
        for j, end in enumerate(x.between):
            if end not in aps + servers + nodes:
                errors.append((f"links[{i}].between[{j}]", f"undefined node {end!r}"))
    for i, g in enumerate(s.device_groups):
        policy = s.routing_of(g)
        where = f"device_groups[{i}].routing" if g.routing else "policies.routing"
        if (g.compute is None) == (g.early_exit is None):
            errors.append((f"device_groups[{i}]", "give exactly one of compute (a whole model) or early_exit"))
        elif g.early_exit is not None and not policy.early_exit:
            errors.append((where, f"kind {policy.kind!r} is a whole-model policy but group {g.name!r} is an "
                                  "early-exit device (use meanet, confidence, device_only, main_only or cloud_only)"))
        elif g.early_exit is None and policy.early_exit:
            errors.append((where, f"kind {policy.kind!r} needs early_exit in group {g.name!r}"))
    for i, g in enumerate(s.device_groups):
        if g.updates is not None:
            errors += _updates_errors(s, i, g)
            if g.updates.edge not in servers:
                errors.append((f"device_groups[{i}].updates.edge", f"undefined server {g.updates.edge!r}"))
    if s.traces.accuracy is None and any(g.compute is not None and g.updates is None for g in s.device_groups):
        errors.append(("traces.accuracy", "required by device groups that run a whole model (compute)"))
    routings = [("policies.routing", s.policies.routing)]
    routings += [(f"device_groups[{i}].routing", g.routing) for i, g in enumerate(s.device_groups) if g.routing]
    for where, policy in routings:
        for field, target in policy.targets():
            if target not in servers:
                errors.append((f"{where}.{field}", f"undefined server {target!r}"))
    errors += _radio_errors(s)
    errors += _wireless_errors(s)
    return errors + unused_settings(s)


def _set(model: BaseModel, field: str) -> bool:
    return field in model.model_fields_set


def _updates_errors(s: Scenario, i: int, g: DeviceGroup) -> list[tuple[str, str]]:
    """A group's ``updates`` against its family: a whole model needs the adaptation surface,
    its drift and the edge's teacher and student; an early-exit group has its drift in
    ``early_exit`` and its accuracy in its exit records (docs/early_exit.md)."""
    u, where, errors = g.updates, f"device_groups[{i}].updates", []
    if u.architecture is not None and u.model_bytes is not None:
        errors.append((f"{where}.model_bytes", "give either model_bytes (declared) or architecture (computed from "
                                               "its tensors), not both"))
    if u.architecture is not None and g.early_exit is not None:
        errors.append((f"{where}.architecture", "an early-exit group's payload is the normalisation payload its "
                                                "adapted exit records measured"))
    if g.compute is not None:
        for field, value in (("surface", u.surface), ("drift", u.drift), ("job.trace", u.job.trace),
                             ("job.teacher", u.job.teacher), ("job.student", u.job.student)):
            if value is None:
                errors.append((f"{where}.{field}", "required for a whole-model group (compute)"))
        return errors
    if g.early_exit is None:
        return errors
    if g.early_exit.precision != "fp32":
        errors.append((f"device_groups[{i}].early_exit.precision", "adapted exit records are measured at fp32 only "
                                                                    "(an updating group's blocks are fp32)"))
    if u.drift is not None:
        errors.append((f"{where}.drift", "an early-exit group's data is early_exit.condition or early_exit.drift "
                                         "(its exit records and its updates follow that one)"))
    if u.surface is not None:
        errors.append((f"{where}.surface", "an early-exit group's accuracy comes from its exit records "
                                           "(early_exit.records, adapted records included), not a surface"))
    for field in ("trace", "teacher", "teacher_segment", "student", "student_segment"):
        if _set(u.job, field):
            errors.append((f"{where}.job.{field}", "an early-exit group's edge job recomputes the normalisation "
                                                   "statistics of its own blocks, timed from early_exit.timing"))
    if s.policies.allocation.kind == "distributed":
        errors.append(("policies.allocation", f"kind 'distributed' serves every input with the edge's large model; "
                                              f"early-exit group {g.name!r} routes by its exits (use another kind)"))
    return errors


def unused_settings(s: Scenario) -> list[tuple[str, str]]:
    """Settings given in ``s`` that could not change its results, as (field path, why): every
    setting counts or is rejected (see docs/scenarios.md, "Every setting counts")."""
    errors: list[tuple[str, str]] = []
    for i, ap in enumerate(s.access_points):
        if ap.duplex == "half" and _set(ap, "downlink_bps"):
            errors.append((f"access_points[{i}].downlink_bps", "a half-duplex access point has one medium: "
                                                               "uplink_bps carries both directions"))
    energies = [(f"device_groups[{i}].energy", g.energy) for i, g in enumerate(s.device_groups)]
    energies += [(f"servers[{i}].energy", v.energy) for i, v in enumerate(s.servers)]
    for where, e in energies:
        if e.compute_model == "time" and _set(e, "energy_per_mac_j"):
            errors.append((f"{where}.energy_per_mac_j", "not used with compute_model: time (energy = active_power_w "
                                                        "x compute time)"))
        if e.compute_model == "macs" and _set(e, "active_power_w"):
            errors.append((f"{where}.active_power_w", "not used with compute_model: macs (energy = energy_per_mac_j "
                                                      "x MACs)"))
    if s.transport.model == "fluid":
        for f in sorted(s.transport.model_fields_set - {"model"}):
            errors.append((f"transport.{f}", "not used by transport model 'fluid' (the ideal fluid model: payload "
                                             "only, no set-up, no window, no ACKs)"))
    if _set(s.policies, "allocation") and not any(g.updates is not None for g in s.device_groups):
        errors.append(("policies.allocation", "no device group has updates"))
    if _set(s.policies, "routing") and all(g.routing is not None for g in s.device_groups):
        errors.append(("policies.routing", "every device group sets its own routing"))
    errors += _radio_unused(s)
    whole = any(g.compute is not None and g.updates is None for g in s.device_groups)
    if s.traces.accuracy is not None and not whole:
        errors.append(("traces.accuracy", "no device group runs a whole model without updates (the accuracy "
                                          "trace would not be read)"))
    return errors


def _radio_errors(s: Scenario) -> list[tuple[str, str]]:
    """A group's placement or snr_db against its access point (docs/wireless.md)."""
    errors: list[tuple[str, str]] = []
    radios = {a.name: a.radio for a in s.access_points}
    for i, g in enumerate(s.device_groups):
        where = f"device_groups[{i}]"
        if g.access_point not in radios:
            continue
        if radios[g.access_point] is None:
            for f in ("placement", "snr_db"):
                if getattr(g, f) is not None:
                    errors.append((f"{where}.{f}", f"access point {g.access_point!r} has no radio (its rate is "
                                                   "uplink_bps for every device)"))
            continue
        if g.placement is not None and g.snr_db is not None:
            errors.append((f"{where}.snr_db", "give placement or snr_db, not both"))
        elif g.placement is None and g.snr_db is None:
            errors.append((where, f"access point {g.access_point!r} has a radio: give placement (where the "
                                  "devices stand) or snr_db"))
        p = g.placement
        if p is not None and p.kind == "fixed":
            n = len(p.distances_m if p.distances_m is not None else p.points_m)
            if n > g.count:
                errors.append((f"{where}.placement", f"{n} positions for {g.count} devices (device i takes entry "
                                                     "i mod the list's length; the rest would stand unused)"))
    return errors


def _radio_unused(s: Scenario) -> list[tuple[str, str]]:
    """Radio settings that cannot change a scenario's results."""
    errors: list[tuple[str, str]] = []
    by_ap: dict[str, list[DeviceGroup]] = {}
    for g in s.device_groups:
        by_ap.setdefault(g.access_point, []).append(g)
    for i, ap in enumerate(s.access_points):
        r = ap.radio
        if r is None:
            continue
        where = f"access_points[{i}].radio"
        groups = by_ap.get(ap.name, [])
        placed = any(g.placement is not None for g in groups)
        by_snr = any(g.snr_db is not None for g in groups)
        p, rate = r.pathloss, r.rate
        if groups and not placed:
            for f in ("carrier_ghz", "device_tx_power_dbm", "ap_tx_power_dbm", "pathloss", "shadowing_sigma_db"):
                if _set(r, f):
                    errors.append((f"{where}.{f}", f"every device group of {ap.name!r} gives snr_db (no distance, "
                                                   "no path loss)"))
        if rate.model == "wifi_ax" and _set(r, "noise_figure_db") and groups and not by_snr:
            errors.append((f"{where}.noise_figure_db", "rate model 'wifi_ax' compares received power with the "
                                                      "802.11ax minimum sensitivities: the noise figure cancels"))
        if p.model == "log_distance":
            for f in ("los", "ap_height_m", "device_height_m"):
                if _set(p, f):
                    errors.append((f"{where}.pathloss.{f}", "used by the 3GPP models only (umi_street_canyon, uma)"))
            if p.ref_loss_db is not None and _set(r, "carrier_ghz") and placed:
                errors.append((f"{where}.carrier_ghz", "log_distance with ref_loss_db given does not use the "
                                                       "carrier frequency"))
        else:
            for f in ("exponent", "ref_distance_m", "ref_loss_db"):
                if _set(p, f):
                    errors.append((f"{where}.pathloss.{f}", f"used by log_distance only (model {p.model!r} has "
                                                            "its own formula)"))
        if rate.model != "nr_cqi" and _set(rate, "nr_table"):
            errors.append((f"{where}.rate.nr_table", "used by rate model 'nr_cqi' only"))
        if rate.model != "wifi_ax" and _set(rate, "spatial_streams"):
            errors.append((f"{where}.rate.spatial_streams", "used by rate model 'wifi_ax' only"))
    return errors


def _wireless_errors(s: Scenario) -> list[tuple[str, str]]:
    """Sharing, fading and the radio energy model against the access point (docs/wireless.md)."""
    errors: list[tuple[str, str]] = []
    radios = {a.name: a.radio for a in s.access_points}
    for i, ap in enumerate(s.access_points):
        if ap.radio is None and _set(ap, "sharing"):
            errors.append((f"access_points[{i}].sharing", f"access point {ap.name!r} has no radio: every device "
                                                          "has its rate, so max-min in bits and in air time agree"))
        groups = [g for g in s.device_groups if g.access_point == ap.name]
        if ap.radio is not None and _set(ap, "sharing") and groups and all(
                g.snr_db is not None and g.fading is None for g in groups) and len({g.snr_db for g in groups}) == 1:
            errors.append((f"access_points[{i}].sharing", f"every device of {ap.name!r} has the same SNR and no "
                                                          "fading: one rate, so max-min in bits and in air time agree"))
    for i, g in enumerate(s.device_groups):
        where = f"device_groups[{i}]"
        if g.fading is not None and radios.get(g.access_point, 0) is None:
            errors.append((f"{where}.fading", f"access point {g.access_point!r} has no radio (no SNR to fade)"))
        e = g.energy
        power = e.radio_tx_power_w is not None or e.radio_rx_power_w is not None
        for f in ("radio_up_j_per_bit", "radio_down_j_per_bit"):
            if power and _set(e, f):
                errors.append((f"{where}.energy.{f}", "give either the per-bit radio model (radio_up/down_j_per_bit) "
                                                      "or the air-time one (radio_tx/rx_power_w), not both"))
        if e.radio_tail_j is not None and not power:
            errors.append((f"{where}.energy.radio_tail_j", "the tail energy goes with the air-time model "
                                                           "(give radio_tx_power_w or radio_rx_power_w)"))
    return errors
