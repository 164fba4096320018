"""The model-update loop (PAPERS.md A): drift, uploads, edge jobs, model downloads, versions.

:class:`UpdateState` holds, for one device group, what each device's model is and what
the edge knows; :class:`UpdateController` (one per access point) decides every period
with the allocation policy and runs one chain per device: upload samples -> edge
fine-tune + distil job -> download the payload -> install the new version.

Versions are numbered per device when an update is started; a version installs only
if it is newer than the one held, so versions never go backwards; a download cut by an
outage installs nothing and the device keeps its model.  A device's accuracy and mAP
come from the adaptation surface: ``F(condition, samples, phi)`` of the version it
holds if that version was adapted to the current condition (for CEMA's filtered uploads,
the surface measured on the filtered stream), the measured cross-condition value of a
version adapted to another condition (``cross`` in the trace; the unadapted model's
``F(condition, 0, 0)`` where it was not measured), and the unadapted model's before any
version.  An early-exit group's versions select exit records instead
(:class:`RecordSurface`): the same loop; a version adapted to another condition serves
as the blocks as trained (its records have no cross-condition measurements).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy

from dataclasses import dataclass

from sim.entities.drift import ConditionSchedule, schedule_of
from sim.policies.allocation import REDUNDANCY_MARGIN, AllocationContext, DeviceType, deliverable
from sim.traces import CEMA_ENTROPY_FRACTION, AdaptationSurface, ExitRecords, TimingDistribution, cema_filter

ENTROPY_MAX_FRACTION = CEMA_ENTROPY_FRACTION  # CEMA: E_max = 0.4 ln(classes)
REDUNDANCY_MAX_COSINE = REDUNDANCY_MARGIN  # a prediction at least this close to the running average is redundant


def cema_pass_fraction(surface: AdaptationSurface, condition: str, max_cosine: float = REDUNDANCY_MAX_COSINE) -> float:
    """Fraction of the measured stream that passes CEMA's filters (:func:`sim.traces.cema_filter`
    over the stream's predictions from its start: entropy below 0.4 ln(classes), prediction not
    redundant with the moving average of the kept ones).  A trace without predictions (exit
    records) gives each sample's cosine to the average of all earlier predictions instead."""
    f = surface.filters.get(condition)
    if not f:
        return 1.0
    classes = surface.setup["classes"]
    if f.get("predictions"):
        kept, _ = cema_filter(f["predictions"], f["entropy_nats"], classes, max_cosine)
        return sum(kept) / len(kept)
    e_max = ENTROPY_MAX_FRACTION * math.log(classes)
    ok = [e < e_max and abs(c) < max_cosine for e, c in zip(f["entropy_nats"], f["cosine_to_average"])]
    return sum(ok) / len(ok)


@dataclass(frozen=True)
class UpdateParams:
    """What the update loop needs of a group's ``updates`` block (built by :mod:`sim.build`).
    ``drift_segments``: ((start_s, condition key), ...) for fixed segments, else empty and
    ``switching``: (mean holding seconds, (condition key, ...))."""

    count: int
    period_s: float
    sample_bytes: int
    samples_per_s: float
    model_bytes: int | None  # None: the surface's measured student payload
    payload_bits: int
    drift_segments: tuple[tuple[float, str], ...]
    switching: tuple[float, tuple[str, ...]] | None
    job_batch_size: int
    job_train_factor: float
    job_epochs: int
    job_speed_factor: float
    radio_up_j_per_bit: float = 0.0  # the device's radio, paid for its uploads and downloads
    radio_down_j_per_bit: float = 0.0
    architecture: object = None  # sim.traces.Architecture: unit payloads from its tensors (updates.architecture)
    per_device: bool = False  # switching: each device its own process
    shares: tuple[tuple[float, str], ...] = ()  # ((share, condition key), ...): a share of the devices per condition

    @classmethod
    def of(cls, count: int, u, energy=None, drift=None) -> "UpdateParams":
        """From a scenario's ``updates`` block (config.Updates) for a group of ``count`` devices
        whose ``energy`` block (config.Energy) gives the radio costs; ``drift``: the group's data
        condition when it is not ``u.drift`` (an early-exit group's ``early_exit.drift`` or
        ``condition``)."""
        d, j = drift if drift is not None else u.drift, u.job
        shares = tuple((x.share, x.key) for x in getattr(d, "shares", ()))
        segments, switching = schedule_of(d) if not shares else ((), None)
        return cls(count, u.period_s, u.sample_bytes, u.samples_per_s, u.model_bytes, u.payload_bits,
                   segments, switching, j.batch_size, j.train_factor, j.epochs, j.speed_factor,
                   energy.radio_up_j_per_bit if energy else 0.0, energy.radio_down_j_per_bit if energy else 0.0,
                   per_device=bool(getattr(getattr(d, "switching", None), "per_device", False)), shares=shares)


class RecordSurface:
    """What the update loop knows of an early-exit group's model versions (docs/early_exit.md).

    A version adapted to the current condition on ``D`` samples serves with the exit records
    of the device blocks adapted to that condition on the largest measured ``N <= D``; a
    device with no such version (none yet, one adapted to another condition, or ``D`` below
    the smallest ``N``) serves with the records of the blocks as trained.  The value of a
    version, for the allocation policy, is the measured accuracy of its records under the
    group's routing policy (its exits' correctness, the cloud's for offloaded inputs).  An
    update delivers the normalisation tensors of the three blocks, one unit: ``phi`` 0 or 1."""

    objective = "accuracy"
    phis = (0.0, 1.0)

    def __init__(self, records: ExitRecords, sampler, conditions: list[str]):
        """``sampler``: the group's EarlyExitSampler, holding a record set for every condition in
        ``conditions`` and every adapted one of them (keys ``condition@N``)."""
        self.grid = {c: records.adapted_grid(c) for c in conditions}
        self.sets = sampler.sets
        self.acc = {key: sampler.accuracy(key) for key in sampler.sets}
        self.setup = {"payload_bytes": records.adaptation["payload_bytes"], "classes": records.classes}
        self.filters = records.filters  # CEMA's filter inputs over each condition's stream
        self._keys: dict[tuple[str, float, float], str] = {}

    def key(self, condition: str, samples: float, phi: float) -> str:
        """The record set of a version adapted to ``condition`` on ``samples`` (``phi`` 0: none).
        Memoised: the allocation optimiser asks about the same few points thousands of times
        a period (a simulated day of scenarios/early_exit_updates.yaml took 141 s without)."""
        memo = self._keys.get((condition, samples, phi))
        if memo is not None:
            return memo
        key = condition
        if phi > 0:
            n = max((k for k in self.grid[condition] if k <= samples), default=0)
            if n:
                key = f"{condition}@{n}"
        if len(self._keys) < 100_000:
            self._keys[(condition, samples, phi)] = key
        return key

    def records(self, condition: str, samples: float, phi: float) -> int:
        return self.sets[self.key(condition, samples, phi)]

    def value(self, condition: str, samples: float, phi: float, metric: str = "accuracy") -> float:
        if metric != "accuracy":
            raise ValueError(f"exit records give accuracy, not {metric}")
        return self.acc[self.key(condition, samples, phi)]


class UpdateState:
    """Model versions and edge knowledge of one device group."""

    def __init__(self, env: simpy.Environment, index: int, params: UpdateParams,
                 surface: AdaptationSurface | RecordSurface, drift_rng, job_parts: tuple[TimingDistribution, ...] = ()):
        """``job_parts``: the forward passes the edge job runs per sample (teacher and student, or
        an early-exit group's blocks); ``surface`` a RecordSurface for an early-exit group."""
        self.env, self.index, self.p, self.surface = env, index, params, surface
        self.job_parts = job_parts
        self.name = ""  # the group's name, set by sim.build (the flow log names its flows by it)
        self.radio = None  # on a radio access point: the group's channels (sim.entities.wireless), set by sim.build
        self.link_energy = None  # the air-time radio energy model (sim.entities.energy.LinkEnergy), set by sim.build
        # an early-exit group: the record set each device's version selects (else None: accuracy and mAP)
        self.records: list[int] | None = [0] * params.count if isinstance(surface, RecordSurface) else None
        self.objective = getattr(surface, "objective", "map")  # what the allocation policy maximises
        u = params
        n = params.count
        setup = surface.setup
        if u.architecture is not None:  # each deliverable unit's bytes from the architecture's tensors
            self.unit_bits = tuple(8.0 * b for b in u.architecture.unit_bytes(surface.phis, u.payload_bits))
            self.model_bits = max(self.unit_bits)
        else:  # each unit its share phi of the (declared or surface-measured) full payload
            self.unit_bits = ()
            self.model_bits = 8.0 * (u.model_bytes or setup["payload_bytes"]) * u.payload_bits / 32
        # the smallest measured delivery: the normalisation parameters (a rounded grid value)
        self.norm_phi = min(p for p in surface.phis if p > 0)
        self.version = [0] * n
        self.next_version = [0] * n
        self.ver_cond: list[str | None] = [None] * n
        self.ver_samples = [0.0] * n
        self.ver_phi = [0.0] * n
        self.ver_filtered = [False] * n  # the version was adapted on CEMA's filtered uploads
        self.installed_s = [0.0] * n
        self.edge_cond: list[str | None] = [None] * n
        self.edge_samples = [0.0] * n
        self.edge_seen: dict[str, int] = {}  # distributed: inputs the edge adapted on, per condition
        self.edge_received_bytes = 0
        self.installs = 0
        self.offload = False  # the distributed baseline: inputs go to the edge (set_offload)
        self.listeners: list = []  # the device group: told before every change of this state
        self.on_install = None  # on_install(d) after device d installs a version (a timeline trace)
        # the data condition: one schedule for the group, or per device (its own switching process, or
        # a fixed condition for a share of the devices); cond_of[d] is device d's
        self.schedule: ConditionSchedule | None = None
        self.schedules: list[ConditionSchedule] = []
        if u.shares:
            bounds, acc = [], 0.0
            for share, key in u.shares:
                acc += share
                bounds.append((round(acc * n), key))
            self.cond_of = [next(k for b, k in bounds if d < b) if d < bounds[-1][0] else bounds[-1][1]
                            for d in range(n)]
        elif u.per_device and u.switching is not None:
            self.schedules = [ConditionSchedule(env, (), u.switching, drift_rng, self._before_change,
                                                lambda d=d: self._after_device_drift(d)) for d in range(n)]
            self.cond_of = [x.condition for x in self.schedules]
        else:
            self.schedule = ConditionSchedule(env, u.drift_segments, u.switching, drift_rng, self._before_change,
                                              self._after_drift)
            self.cond_of = [self.schedule.condition] * n
        self.condition = self.cond_of[0] if n else None  # the group's condition (device 0's where per device)
        self.acc = [0.0] * n
        self.map = [0.0] * n
        self._pass: dict[tuple[str, float], float] = {}
        # CEMA's filters, per device over its own stream: where it is in the condition's measured
        # stream (devices start spread over it), the moving average of its kept predictions, and
        # kept samples waiting for a whole chunk
        self.cema_pos = [-1] * n  # -1: not started
        self.cema_avg: list = [None] * n
        self.cema_pending = [0] * n
        self._stream: dict[str, tuple] = {}
        self.replay: deque = deque()  # CEMA's replay buffer at the edge: [condition, samples], oldest first
        self.replay_total = 0
        self.refresh_all()

    def _after_drift(self) -> None:
        self.condition = self.schedule.condition
        self.cond_of = [self.condition] * self.p.count
        self.refresh_all()
        self._after_change()

    def _after_device_drift(self, d: int) -> None:
        self.cond_of[d] = self.schedules[d].condition
        self.condition = self.cond_of[0]
        self.refresh(d)
        self._after_change()

    def _before_change(self) -> None:
        for g in self.listeners:
            g.before_change()

    def _after_change(self) -> None:
        for g in self.listeners:
            g.after_change()

    def set_offload(self, offload: bool) -> None:
        """The distributed baseline's switch: inputs go to the edge from now on (or no longer)."""
        if offload != self.offload:
            self._before_change()
            self.offload = offload
            for g in self.listeners:
                g.after_routing_change()

    def refresh(self, d: int) -> None:
        c, s = self.cond_of[d], self.surface
        adapted = self.ver_cond[d]
        samples, phi = (self.ver_samples[d], self.ver_phi[d]) if adapted == c else (0, 0)
        if self.records is not None:  # an early-exit group: the exit records its version selects (top-1 only)
            self.acc[d] = s.value(c, samples, phi, "accuracy")
            self.records[d] = s.records(c, samples, phi)
            return
        if adapted is not None and adapted != c:  # adapted to another condition: the measured cross value
            cross = [s.cross_value(adapted, c, self.ver_samples[d], self.ver_phi[d], m) for m in ("accuracy", "map")]
            if cross[0] is not None:
                self.acc[d], self.map[d] = cross
                return
        value = s.filtered_value if self.ver_filtered[d] and adapted == c else s.value
        self.acc[d] = value(c, samples, phi, "accuracy")
        self.map[d] = value(c, samples, phi, "map")

    def refresh_all(self) -> None:
        for d in range(self.p.count):
            self.refresh(d)

    def install(self, d: int, version: int, condition: str, samples: float, phi: float, filtered: bool = False) -> bool:
        if version <= self.version[d]:
            return False
        self._before_change()
        self.version[d] = version
        self.ver_cond[d], self.ver_samples[d], self.ver_phi[d] = condition, samples, phi
        self.ver_filtered[d] = filtered and hasattr(self.surface, "filtered_value")
        self.installed_s[d] = self.env.now
        self.installs += 1
        self.refresh(d)
        if self.on_install is not None:
            self.on_install(d)
        self._after_change()
        return True

    def deliverable(self, phi: float) -> float:
        """The largest whole-tensor prefix (a measured phi) that fits in ``phi``."""
        return deliverable(self.surface.phis, phi)

    def samples_known(self, d: int) -> float:
        """Samples of the current condition the edge already holds for device ``d``."""
        return self.edge_samples[d] if self.edge_cond[d] == self.cond_of[d] else 0.0

    def pass_fraction(self, max_cosine: float = REDUNDANCY_MAX_COSINE, condition: str | None = None) -> float:
        """CEMA's measured pass fraction under ``condition`` (default: the group's) at redundancy margin ``max_cosine``."""
        c = condition or self.condition
        key = (c, max_cosine)
        if key not in self._pass:
            self._pass[key] = cema_pass_fraction(self.surface, c, max_cosine)
        return self._pass[key]

    def cema_kept(self, d: int, margin: float, produced: int) -> int:
        """Device ``d``'s next ``produced`` samples through CEMA's filters (its own stream: the
        condition's measured predictions from where it left off, cyclically; the moving average
        of its kept predictions carried over): how many are kept.  A trace without predictions:
        the measured pass fraction of the stream times ``produced``, rounded down."""
        c = self.cond_of[d]
        stream = self._stream.get(c)
        if stream is None:
            preds = self.surface.predictions(c) if hasattr(self.surface, "predictions") else None
            f = self.surface.filters.get(c)
            stream = self._stream[c] = (np.asarray(preds, dtype=np.float64), np.asarray(f["entropy_nats"])) \
                if preds and f else ()
        if not stream or produced <= 0:
            return int(self.pass_fraction(margin, c) * produced)
        preds, ents = stream
        n = len(ents)
        if self.cema_pos[d] < 0:
            self.cema_pos[d] = (d * n) // self.p.count  # devices start spread over the stream
        idx = (self.cema_pos[d] + np.arange(produced)) % n
        kept, self.cema_avg[d] = cema_filter(preds[idx], ents[idx], self.surface.setup["classes"], margin,
                                             self.cema_avg[d])
        self.cema_pos[d] = int(idx[-1]) + 1
        return sum(kept)

    def replay_add(self, condition: str, samples: int, size: int) -> int:
        """Put ``samples`` uploaded samples of ``condition`` into the edge's replay buffer of ``size``
        (the oldest leave first); returns how many of the buffer are of ``condition``."""
        self.replay.append([condition, samples])
        self.replay_total += samples
        while self.replay_total > size and self.replay:
            drop = min(self.replay[0][1], self.replay_total - size)
            self.replay[0][1] -= drop
            self.replay_total -= drop
            if self.replay[0][1] <= 0:
                self.replay.popleft()
        return sum(n for c, n in self.replay if c == condition)

    def device_types(self) -> list[tuple[list[int], DeviceType]]:
        u = self.p
        groups: dict[tuple, list[int]] = {}
        metric = self.objective
        now = self.map if metric == "map" else self.acc
        # on a radio access point the allocation splits air time: a device's bits count at the
        # medium's unit rate over its own (sim.entities.wireless.DeviceRadio.air_scale), so each
        # device type is also one of equal rates
        radio = self.radio
        for d in range(u.count):
            key = (self.cond_of[d], self.samples_known(d), now[d])
            groups.setdefault(key if radio is None else key + radio.air_scale(d), []).append(d)
        out = []
        for key, devices in sorted(groups.items()):
            (cond, known, current), (up, down) = key[:3], (key[3:] or (1.0, 1.0))
            out.append((devices, DeviceType(
                count=len(devices), samples_cum=known, max_samples=u.samples_per_s * u.period_s,
                sample_bits=8.0 * u.sample_bytes * up, model_bits=self.model_bits * down, norm_phi=self.norm_phi,
                pass_fraction=self.pass_fraction(condition=cond),
                pass_fraction_at=lambda m, c=cond: self.pass_fraction(m, c), current_value=current,
                phis=self.surface.phis,
                unit_bits=tuple(b * down for b in self.unit_bits) if radio is not None else self.unit_bits,
                job_s_per_sample=self.job_s_per_sample,
                value=lambda samples, phi, c=cond: self.surface.value(c, samples, phi, metric))))
        return out

    def payload_bytes(self, phi: float) -> int:
        """Bytes of the deliverable unit ``phi`` (an element of the surface's phis)."""
        if self.unit_bits:
            return int(self.unit_bits[self.surface.phis.index(phi)] // 8)
        return int(math.ceil(phi * self.model_bits / 8))

    def job_time(self, samples: float, forward_s_per_sample: float) -> float:
        """The edge job's time on ``samples`` when its forward passes take ``forward_s_per_sample``."""
        p = self.p
        return samples * forward_s_per_sample * p.job_train_factor * p.job_epochs / p.job_speed_factor

    @property
    def job_s_per_sample(self) -> float:
        """The edge job's expected seconds per uploaded sample (the mean of its measured parts;
        queueing behind other jobs not included)."""
        return self.job_time(1.0, sum(t.mean_s for t in self.job_parts) / self.p.job_batch_size)

    def edge_model(self, d: int = 0) -> tuple[float, float]:
        """(accuracy, mAP) of the edge's adapted large model for device ``d``'s condition: adapted on
        the inputs of that condition the edge has received from all the group's devices (pooled)."""
        c = self.cond_of[d]
        seen = self.edge_seen.get(c, 0)
        return (self.surface.teacher_value(c, seen, "accuracy"), self.surface.teacher_value(c, seen, "map"))


class UpdateController:
    """Every period, the allocation policy decides for the devices behind one access point."""

    def __init__(self, env, states: list[UpdateState], policy, network, target, capacity_bps: float, job_rng,
                 recorder):
        self.env, self.states, self.policy, self.network = env, states, policy, network
        self.target, self.capacity_bps = target, capacity_bps
        self.job_rng, self.recorder = job_rng, recorder
        self.period_s = states[0].p.period_s
        up, down = target.up[0], target.down[-1]
        # a full-duplex access point's downlink, in the same (raw) units as capacity_bps; None: one medium
        self.down_capacity_bps = None if up is down else capacity_bps * down.capacity_bps / up.capacity_bps
        self._seen = (0.0, 0.0)  # inference bytes the access point had carried at the last decision
        if getattr(policy, "offloads_from_start", False):  # the distributed baseline: every input, from the first
            for st in states:
                st.set_offload(True)
        env.process(self._periods())

    def _competing(self) -> tuple[float, float]:
        """The rate of inference traffic (inputs up, results down) through the access point over
        the last period, from the transfers it finished: what its controller can observe.  On a
        radio access point it is counted in air, as the policies count the capacity: each
        transfer's air time (its bits at its device's own rates) as bits at the unit rate."""
        up, down = self.target.up[0], self.target.down[-1]
        if up.airtime is not None:  # seconds of air x the medium's payload capacity at the unit rate
            fa = self.recorder.flow_air_s
            now = (fa.get((up.name, "inference_input"), 0.0) * up.capacity_bps / 8.0,
                   fa.get((down.name, "inference_result"), 0.0) * down.capacity_bps / 8.0)
        else:
            fb = self.recorder.flow_bytes
            now = (fb.get((up.name, "inference_input"), (0, 0))[1],
                   fb.get((down.name, "inference_result"), (0, 0))[1])
        rates = tuple(8.0 * (a - b) / self.period_s for a, b in zip(now, self._seen))
        self._seen = now
        return rates

    def _periods(self):
        while True:
            yield self.env.timeout(self.period_s)
            typed = [(st, devices, t) for st in self.states for devices, t in st.device_types()]
            ctx = AllocationContext(self.capacity_bps, self.period_s, [t for _, _, t in typed], self.down_capacity_bps,
                                    *self._competing())
            decisions = self.policy.allocate(ctx)
            equal = self.capacity_bps / max(sum(t.count for t in ctx.types), 1)
            for (st, devices, _), dec in zip(typed, decisions):
                st.set_offload(dec.offload_inference)
                if dec.samples <= 0:
                    continue
                weight = max(dec.bandwidth_bps / equal, 1e-6)
                for d in devices:
                    total = int(dec.samples)
                    if dec.filter_margin is not None:  # CEMA: what passes the filters on this device's stream
                        k = dec.chunk_samples or 1
                        produced = int(st.p.samples_per_s * self.period_s)
                        pending = min(st.cema_pending[d] + st.cema_kept(d, dec.filter_margin, produced), produced)
                        total = min(total, k * (pending // k))
                        st.cema_pending[d] = pending - total
                        if total <= 0:
                            continue
                    self.env.process(self._chain(st, d, dec, weight, total, dec.tail_samples))

    def _job_s(self, st: UpdateState, samples: float) -> float:
        p = st.p
        u = self.job_rng.random()
        return st.job_time(samples, sum(t.sample(u) for t in st.job_parts) / p.job_batch_size)

    def _chain(self, st: UpdateState, d: int, dec, weight: float, total: int, tail: int = 0):
        """Upload ``total`` samples in chunks, each followed by the edge job and a download; then
        ``tail`` samples more and their job, without a download (data for a later update)."""
        env, t, u = self.env, self.target, st.p
        condition = st.cond_of[d]
        chunk = dec.chunk_samples or total
        sent = 0
        while sent < total + tail:
            n = min(chunk, total - sent) if sent < total else total + tail - sent
            sent_ev = self.network.transfer(t.up, n * u.sample_bytes,
                                                  weight if st.radio is None else st.radio.weight(d, weight, True),
                                                  (st.name, t.ap, t.server.name, "data_upload"), d,
                                                  st.radio.channel(d, True) if st.radio is not None else None)
            if (yield sent_ev):  # aborted
                return
            self.recorder.flow("data_upload", n * u.sample_bytes, t.up[0].name)
            self.recorder.groups[st.index].update_traffic(
                d, n * u.sample_bytes, 0, 8.0 * n * u.sample_bytes * u.radio_up_j_per_bit if st.link_energy is None
                else st.link_energy.up_j(d, n * u.sample_bytes, getattr(sent_ev, "air_s", 0.0)))
            if t.up_latency_s:
                yield env.timeout(t.up_latency_s)
            sent += n
            st.edge_received_bytes += n * u.sample_bytes
            if st.edge_cond[d] != condition:
                st.edge_cond[d], st.edge_samples[d] = condition, 0.0
            st.edge_samples[d] += n
            # the samples the edge distils on: the device's own uploads, or CEMA's pooled replay buffer
            samples = st.replay_add(condition, n, dec.replay_samples) if dec.replay_samples else st.edge_samples[d]
            yield t.server.submit(self._job_s(st, n))
            if dec.phi <= 0 or sent > total:
                continue
            st.next_version[d] += 1
            version = st.next_version[d]
            phi = st.deliverable(dec.phi)
            if phi <= 0:
                continue
            payload = st.payload_bytes(phi)
            got_ev = self.network.transfer(t.down, payload,
                                                  weight if st.radio is None else st.radio.weight(d, weight, False),
                                                  (st.name, t.server.name, t.ap, "model_download"), d,
                                                  st.radio.channel(d, False) if st.radio is not None else None)
            if (yield got_ev):  # aborted
                continue  # the old model stays
            self.recorder.flow("model_download", payload, t.down[-1].name)
            self.recorder.groups[st.index].update_traffic(
                d, 0, payload, 8.0 * payload * u.radio_down_j_per_bit if st.link_energy is None
                else st.link_energy.down_j(d, payload, getattr(got_ev, "air_s", 0.0)))
            if t.down_latency_s:
                yield env.timeout(t.down_latency_s)
            st.install(d, version, condition, samples, phi, filtered=dec.filter_margin is not None)
