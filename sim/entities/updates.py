"""The model-update loop (PAPERS.md A): drift, uploads, edge jobs, model downloads, versions.

:class:`UpdateState` holds, for one device group, what each device's model is and what
the edge knows; :class:`UpdateController` (one per access point) decides every period
with the allocation policy and runs one chain per device: upload samples -> edge
fine-tune + distil job -> download the payload -> install the new version.

Versions are numbered per device when an update is started; a version installs only
if it is newer than the one held, so versions never go backwards; a download cut by an
outage installs nothing and the device keeps its model.  A device's accuracy and mAP
come from the adaptation surface: ``F(condition, samples, phi)`` of the version it
holds if that version was adapted to the current condition, else the unadapted
model's ``F(condition, 0, 0)`` [this project's choice: the surface has no
cross-condition measurements].
"""

from __future__ import annotations

import math

import simpy

from dataclasses import dataclass

from sim.entities.drift import ConditionSchedule, schedule_of
from sim.policies.allocation import AllocationContext, DeviceType
from sim.traces import AdaptationSurface, TimingDistribution

ENTROPY_MAX_FRACTION = 0.4  # CEMA: E_max = 0.4 ln(classes)
REDUNDANCY_MAX_COSINE = 0.95  # a sample whose prediction is closer than this to the running average is redundant


def cema_pass_fraction(surface: AdaptationSurface, condition: str) -> float:
    """Fraction of the measured stream that passes CEMA's filters: entropy below
    0.4 ln(classes) and prediction not redundant with the running average."""
    f = surface.filters.get(condition)
    if not f:
        return 1.0
    e_max = ENTROPY_MAX_FRACTION * math.log(surface.setup["classes"])
    ok = [e < e_max and c < REDUNDANCY_MAX_COSINE for e, c in zip(f["entropy_nats"], f["cosine_to_average"])]
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

    @classmethod
    def of(cls, count: int, u, energy=None) -> "UpdateParams":
        """From a scenario's ``updates`` block (config.Updates) for a group of ``count`` devices
        whose ``energy`` block (config.Energy) gives the radio costs."""
        d, j = u.drift, u.job
        return cls(count, u.period_s, u.sample_bytes, u.samples_per_s, u.model_bytes, u.payload_bits,
                   *schedule_of(d), j.batch_size, j.train_factor, j.epochs, j.speed_factor,
                   energy.radio_up_j_per_bit if energy else 0.0, energy.radio_down_j_per_bit if energy else 0.0)


class UpdateState:
    """Model versions and edge knowledge of one device group."""

    def __init__(self, env: simpy.Environment, index: int, params: UpdateParams, surface: AdaptationSurface,
                 drift_rng):
        self.env, self.index, self.p, self.surface = env, index, params, surface
        u = params
        n = params.count
        setup = surface.setup
        self.model_bits = 8.0 * (u.model_bytes or setup["payload_bytes"]) * u.payload_bits / 32
        # the smallest measured delivery: the normalisation parameters (a rounded grid value)
        self.norm_phi = min(p for p in surface.phis if p > 0)
        self.version = [0] * n
        self.next_version = [0] * n
        self.ver_cond: list[str | None] = [None] * n
        self.ver_samples = [0.0] * n
        self.ver_phi = [0.0] * n
        self.installed_s = [0.0] * n
        self.edge_cond: list[str | None] = [None] * n
        self.edge_samples = [0.0] * n
        self.edge_seen: dict[str, int] = {}  # distributed: inputs the edge adapted on, per condition
        self.edge_received_bytes = 0
        self.installs = 0
        self.offload = False  # the distributed baseline: inputs go to the edge (set_offload)
        self.listeners: list = []  # the device group: told before every change of this state
        self.schedule = ConditionSchedule(env, u.drift_segments, u.switching, drift_rng, self._before_change,
                                          self._after_drift)
        self.condition = self.schedule.condition
        self.acc = [0.0] * n
        self.map = [0.0] * n
        self._pass: dict[str, float] = {}
        self.refresh_all()

    def _after_drift(self) -> None:
        self.condition = self.schedule.condition
        self.refresh_all()

    def _before_change(self) -> None:
        for g in self.listeners:
            g.before_change()

    def set_offload(self, offload: bool) -> None:
        """The distributed baseline's switch: inputs go to the edge from now on (or no longer)."""
        if offload != self.offload:
            self._before_change()
            self.offload = offload
            for g in self.listeners:
                g.after_routing_change()

    def refresh(self, d: int) -> None:
        c, s = self.condition, self.surface
        if self.ver_cond[d] == c:
            self.acc[d] = s.value(c, self.ver_samples[d], self.ver_phi[d], "accuracy")
            self.map[d] = s.value(c, self.ver_samples[d], self.ver_phi[d], "map")
        else:
            self.acc[d] = s.value(c, 0, 0, "accuracy")
            self.map[d] = s.value(c, 0, 0, "map")

    def refresh_all(self) -> None:
        for d in range(self.p.count):
            self.refresh(d)

    def install(self, d: int, version: int, condition: str, samples: float, phi: float) -> bool:
        if version <= self.version[d]:
            return False
        self._before_change()
        self.version[d] = version
        self.ver_cond[d], self.ver_samples[d], self.ver_phi[d] = condition, samples, phi
        self.installed_s[d] = self.env.now
        self.installs += 1
        self.refresh(d)
        return True

    def deliverable(self, phi: float) -> float:
        """The largest whole-tensor prefix (a measured phi) that fits in ``phi``."""
        return max((p for p in self.surface.phis if p <= phi + 1e-6), default=0.0)

    def samples_known(self, d: int) -> float:
        """Samples of the current condition the edge already holds for device ``d``."""
        return self.edge_samples[d] if self.edge_cond[d] == self.condition else 0.0

    def pass_fraction(self) -> float:
        if self.condition not in self._pass:
            self._pass[self.condition] = cema_pass_fraction(self.surface, self.condition)
        return self._pass[self.condition]

    def device_types(self) -> list[tuple[list[int], DeviceType]]:
        u = self.p
        groups: dict[tuple, list[int]] = {}
        for d in range(u.count):
            groups.setdefault((self.samples_known(d), self.map[d]), []).append(d)
        cond = self.condition
        out = []
        for (known, current), devices in sorted(groups.items()):
            out.append((devices, DeviceType(
                count=len(devices), samples_cum=known, max_samples=u.samples_per_s * u.period_s,
                sample_bits=8.0 * u.sample_bytes, model_bits=self.model_bits, norm_phi=self.norm_phi,
                pass_fraction=self.pass_fraction(), current_value=current, phis=self.surface.phis,
                value=lambda samples, phi, c=cond: self.surface.value(c, samples, phi, "map"))))
        return out

    def edge_model(self) -> tuple[float, float]:
        """(accuracy, mAP) of the edge's adapted large model for the current condition."""
        seen = self.edge_seen.get(self.condition, 0)
        return (self.surface.teacher_value(self.condition, seen, "accuracy"),
                self.surface.teacher_value(self.condition, seen, "map"))


class UpdateController:
    """Every period, the allocation policy decides for the devices behind one access point."""

    def __init__(self, env, states: list[UpdateState], policy, network, target, capacity_bps: float,
                 teacher: TimingDistribution, student: TimingDistribution, job_rng, recorder):
        self.env, self.states, self.policy, self.network = env, states, policy, network
        self.target, self.capacity_bps = target, capacity_bps
        self.teacher, self.student, self.job_rng, self.recorder = teacher, student, job_rng, recorder
        self.period_s = states[0].p.period_s
        env.process(self._periods())

    def _periods(self):
        while True:
            yield self.env.timeout(self.period_s)
            typed = [(st, devices, t) for st in self.states for devices, t in st.device_types()]
            ctx = AllocationContext(self.capacity_bps, self.period_s, [t for _, _, t in typed])
            decisions = self.policy.allocate(ctx)
            equal = self.capacity_bps / max(sum(t.count for t in ctx.types), 1)
            for (st, devices, _), dec in zip(typed, decisions):
                st.set_offload(dec.offload_inference)
                if dec.samples <= 0:
                    continue
                weight = max(dec.bandwidth_bps / equal, 1e-6)
                for d in devices:
                    self.env.process(self._chain(st, d, dec, weight))

    def _job_s(self, st: UpdateState, samples: float) -> float:
        p = st.p
        u = self.job_rng.random()
        per_sample = (self.teacher.sample(u) + self.student.sample(u)) / p.job_batch_size
        return samples * per_sample * p.job_train_factor * p.job_epochs / p.job_speed_factor

    def _chain(self, st: UpdateState, d: int, dec, weight: float):
        env, t, u = self.env, self.target, st.p
        condition = st.condition
        total = int(dec.samples)
        chunk = dec.chunk_samples or total
        sent = 0
        while sent < total:
            n = min(chunk, total - sent)
            aborted = yield self.network.transfer(t.up, n * u.sample_bytes, weight)
            if aborted:
                return
            self.recorder.flow("data_upload", n * u.sample_bytes, t.up[0].name)
            self.recorder.groups[st.index].update_traffic(d, n * u.sample_bytes, 0,
                                                          8.0 * n * u.sample_bytes * u.radio_up_j_per_bit)
            if t.up_latency_s:
                yield env.timeout(t.up_latency_s)
            sent += n
            st.edge_received_bytes += n * u.sample_bytes
            if st.edge_cond[d] != condition:
                st.edge_cond[d], st.edge_samples[d] = condition, 0.0
            st.edge_samples[d] += n
            samples = st.edge_samples[d]
            yield t.server.submit(self._job_s(st, n))
            if dec.phi <= 0:
                continue
            st.next_version[d] += 1
            version = st.next_version[d]
            phi = st.deliverable(dec.phi)
            if phi <= 0:
                continue
            payload = int(math.ceil(phi * st.model_bits / 8))
            aborted = yield self.network.transfer(t.down, payload, weight)
            if aborted:
                continue  # the old model stays
            self.recorder.flow("model_download", payload, t.down[-1].name)
            self.recorder.groups[st.index].update_traffic(d, 0, payload, 8.0 * payload * u.radio_down_j_per_bit)
            if t.down_latency_s:
                yield env.timeout(t.down_latency_s)
            st.install(d, version, condition, samples, phi)
