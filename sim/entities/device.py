"""Device groups: a group of ``count`` identical devices behind one access point.

A group is one SimPy process however many devices it has.  Poisson arrivals of
``count`` devices are one Poisson stream of rate ``count * rate_hz`` with each
arrival assigned to a uniformly drawn device (superposition); periodic arrivals
cycle through the devices in order of their random phases.

Each device is a single FIFO processor.  On-device compute is computed by
Lindley's recursion (start = max(arrival, device free), no events needed);
offloaded inference is a process: uplink flow, path latency, server job,
downlink flow, path latency.  An inference that has not finished by the horizon
is not recorded.

Arrivals are drawn in blocks of :data:`BLOCK`: one numpy call per block gives the
gaps, the devices, the uniforms of the routing, outcome and service streams and
the service times and energies they imply, so the per-arrival work is the SimPy
timeout, Lindley's recursion and one row.  Every stream yields the values it would
give drawn one at a time (:meth:`sim.rng.Stream.randoms`).  Only what depends on
the state at the arrival (a device's backlog, the model version it holds) is
looked up per arrival.

Two kinds of group:

* :class:`DeviceGroupProcess` runs one whole model; correctness is a Bernoulli draw
  with the accuracy (from the accuracy trace) of the model that served it.
* :class:`EarlyExitGroupProcess` is a MEANet device: the main block always runs
  (unless the policy offloads raw inputs), each input's exit record is drawn from
  the exit-record trace, the routing policy picks the exit from the record's
  entropy and confidences, and correctness is the record's at that exit.

SimPy's clock is read as ``env._now`` in the per-event paths: the public ``now`` is a
property, a function call per read (3.5% of an event's instructions, measured with
cachegrind); SimPy is pinned below 5 and every test exercises these paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import simpy

from sim.entities.link import DirectedLink, Network
from sim.entities.server import Server
from sim.policies.routing import EXTENSION, MAIN, OFFLOAD, exit_table
from sim.recorder import Recorder
from sim.rng import Stream
from sim.traces import ExitCondition, TimingDistribution

NAN = float("nan")
BLOCK = 1024  # arrivals drawn per numpy call


@dataclass
class OffloadTarget:
    """A server as seen from one access point: the routes there and back, its timing."""

    index: int
    server: Server
    up: Sequence[DirectedLink]
    down: Sequence[DirectedLink]
    up_latency_s: float
    down_latency_s: float
    timing: TimingDistribution
    speed_factor: float
    service_times: Iterator[float]  # the server's job times, shared by its targets (:func:`service_times`)
    accuracy: float | None
    energy: object  # config.ServerEnergy

    def __post_init__(self):
        self.up_name, self.down_name = self.up[0].name, self.down[-1].name
        self.up_class = self.down_class = None  # the network's flow classes, set on first use
        e = self.energy  # a job's energy is fixed + per_s x its service time
        macs = e.compute_model == "macs"
        self.job_j_fixed = (self.timing.macs or 0.0) * e.energy_per_mac_j if macs else 0.0
        self.job_j_per_s = 0.0 if macs else e.active_power_w

    def job_energy_j(self, seconds: float) -> float:
        return self.job_j_fixed + seconds * self.job_j_per_s


def service_times(timing: TimingDistribution, speed_factor: float, stream: Stream) -> Iterator[float]:
    """A server's job service times in seconds, drawn a block at a time: the values that
    ``timing.sample(stream.random()) / speed_factor`` gives one at a time, bit for bit."""
    while True:
        yield from (timing.sample_many(stream.randoms(BLOCK)) / speed_factor).tolist()


class _Group:
    def __init__(self, env: simpy.Environment, index: int, spec, *, network: Network, recorder: Recorder,
                 policy, targets: dict[str, OffloadTarget], streams, horizon_s: float):
        self.env = env
        self.index = index
        self.spec = spec
        self.network = network
        self.recorder = recorder
        self.policy = policy
        self.targets = targets
        self.horizon_s = horizon_s
        prefix = f"group/{spec.name}/"
        self.arrival_rng = streams[prefix + "arrivals"]
        self.route_rng = streams[prefix + "routing"]
        self.service_rng = streams[prefix + "service"]
        self.outcome_rng = streams[prefix + "correct"]
        self.busy_until = [0.0] * spec.count
        e = spec.energy
        self.radio_j = 8 * spec.input_bytes * e.radio_up_j_per_bit + 8 * spec.result_bytes * e.radio_down_j_per_bit
        env.process(self._run())

    def _arrival_blocks(self):
        """Blocks of (gaps, devices): the delay before each arrival and the device it comes from."""
        a = self.spec.arrivals
        n = self.spec.count
        rng = self.arrival_rng
        if a.process == "poisson":
            mean_gap = 1.0 / (n * a.rate_hz)
            while True:
                yield rng.exponentials(BLOCK, mean_gap), rng.integers(BLOCK, n)
        period = 1.0 / a.rate_hz
        phases = rng.randoms(n) * period  # device d's first arrival
        devices = np.argsort(phases, kind="stable")  # devices in order of their phases
        times = phases[devices]
        per_block = max(1, BLOCK // n)  # whole periods, about BLOCK arrivals
        block_devices = np.tile(devices, per_block)
        last = 0.0
        base = 0.0
        while True:
            bases = []
            for _ in range(per_block):
                bases.append(base)
                base += period
            t = (np.array(bases)[:, None] + times[None, :]).ravel()
            yield np.diff(t, prepend=last), block_devices
            last = t[-1]

    def _run(self):
        raise NotImplementedError

    def _local_rows(self, exits: bool = False, versioned: bool = False):
        """The recorder's appender for this group's on-device inferences: each row is
        (arrival_s, done_s, device[, exit], correct[, map, version, staleness_s],
        compute_energy_j); the other columns are fixed."""
        fixed = dict(group=self.index, place=-1, bytes_up=0, bytes_down=0, radio_energy_j=0.0, server_energy_j=0.0)
        if not exits:
            fixed["exit"] = MAIN
        if not versioned:
            fixed.update(map=NAN, version=-1, staleness_s=NAN)
        return self.recorder.rows(**fixed)

    def _compute_energy_j(self, seconds, macs):
        """Energy of on-device compute; scalars or arrays."""
        e = self.spec.energy
        if e.compute_model == "macs":
            return (macs if macs is not None else 0.0) * e.energy_per_mac_j
        return seconds * e.active_power_w

    def _offload(self, d: int, arrival_s: float, t: OffloadTarget, correct: bool, ready_s: float,
                 compute_j: float, map_: float = NAN):
        """Input leaves the device at ``ready_s`` (after any on-device compute)."""
        env, spec, rec, net = self.env, self.spec, self.recorder, self.network
        now = env._now
        if ready_s > now:
            yield env.timeout(ready_s - now)
            now = env._now
        if t.up_class is None:
            t.up_class = net.flow_class(t.up)
        if (yield net.send(t.up_class, spec.input_bytes)):
            rec.failed += 1  # an outage cut the flow
            return
        rec.flow_row((now, env._now, "inference_input", spec.input_bytes, t.up_name))
        if t.up_latency_s:
            yield env.timeout(t.up_latency_s)
        service = next(t.service_times)
        yield t.server.submit(service)
        now = env._now
        if t.down_class is None:
            t.down_class = net.flow_class(t.down)
        if (yield net.send(t.down_class, spec.result_bytes)):
            rec.failed += 1
            return
        rec.flow_row((now, env._now, "inference_result", spec.result_bytes, t.down_name))
        if t.down_latency_s:
            yield env.timeout(t.down_latency_s)
        rec.inference((arrival_s, env._now, self.index, d, t.index, OFFLOAD, correct, map_, -1, NAN,
                       spec.input_bytes, spec.result_bytes, compute_j, self.radio_j, t.job_energy_j(service)))


class DeviceGroupProcess(_Group):
    """Devices running one whole model, offloading by a whole-model routing policy.
    With the update loop (``updates``), the model's accuracy and mAP follow the version
    each device holds; under the distributed baseline every input goes to the edge."""

    def __init__(self, env, index, spec, *, timing: TimingDistribution, accuracy: float | None,
                 updates=None, edge_target: OffloadTarget | None = None, **kw):
        self.timing = timing
        self.accuracy = accuracy
        self.updates = updates
        self.edge_target = edge_target
        super().__init__(env, index, spec, **kw)

    def _blocks(self):
        """Per block: gaps, devices, outcome uniforms, seconds and energies as lists (for
        the per-arrival loop) and the routing uniforms as an array (for ``offload_mask``)."""
        speed, macs = self.spec.compute.speed_factor, self.timing.macs
        for gaps, devices in self._arrival_blocks():
            k = len(gaps)
            u_route = self.route_rng.randoms(k)
            u_correct = self.outcome_rng.randoms(k)
            seconds = self.timing.sample_many(self.service_rng.randoms(k)) / speed
            energy = self._compute_energy_j(seconds, macs)
            if np.ndim(energy) == 0:
                energy = np.full(k, float(energy))
            yield gaps.tolist(), devices.tolist(), u_route, u_correct.tolist(), seconds.tolist(), energy.tolist()

    def _run(self):
        if self.updates is not None:
            return self._run_updating()
        return self._run_routed()

    def _run_routed(self):
        env, timeout, busy, horizon = self.env, self.env.timeout, self.busy_until, self.horizon_s
        row, acc, policy = self._local_rows(), self.accuracy, self.policy
        for gaps, devices, u_route, u_correct, seconds, energy in self._blocks():
            mask = policy.offload_mask(u_route)  # None: the decision depends on the device's backlog
            offload = [False] * len(gaps) if mask is None else mask.tolist()
            u_route = u_route.tolist()
            for k, d in enumerate(devices):
                yield timeout(gaps[k])
                now = env._now
                b = busy[d]
                if mask is None:
                    offload[k] = policy.choose(u_route[k], b - now if b > now else 0.0) is not None
                if offload[k]:
                    t = self.targets[policy.target]
                    env.process(self._offload(d, now, t, u_correct[k] < t.accuracy, now, 0.0))
                    continue
                done = (b if b > now else now) + seconds[k]
                busy[d] = done
                if done <= horizon:
                    row((now, done, d, u_correct[k] < acc, energy[k]))

    def _run_updating(self):
        env, timeout, busy, horizon = self.env, self.env.timeout, self.busy_until, self.horizon_s
        row, st = self._local_rows(versioned=True), self.updates
        acc, map_, version, installed = st.acc, st.map, st.version, st.installed_s
        for gaps, devices, _route, u_correct, seconds, energy in self._blocks():
            # the routing stream is drawn (and unused) to stay aligned with whole-model devices
            for g, d, u, s, e in zip(gaps, devices, u_correct, seconds, energy):
                yield timeout(g)
                now = env._now
                if st.offload:
                    a, m = st.edge_model()
                    st.edge_seen[st.condition] = st.edge_seen.get(st.condition, 0) + 1
                    env.process(self._offload(d, now, self.edge_target, u < a, now, 0.0, m))
                    continue
                b = busy[d]
                done = (b if b > now else now) + s
                busy[d] = done
                if done <= horizon:
                    row((now, done, d, u < acc[d], map_[d], version[d], now - installed[d], e))


class EarlyExitGroupProcess(_Group):
    """MEANet devices: main block, then exit, extension block or offload, by the policy.
    The policy is a pure function of an input's exit record, so each record's exit and
    correctness there are computed once."""

    def __init__(self, env, index, spec, *, blocks: tuple[TimingDistribution, ...], records: ExitCondition, **kw):
        self.main, self.adaptive, self.extension = blocks
        self.speed = spec.early_exit.speed_factor
        self.n_records = len(records)
        f = records.columns
        self.exit_of = exit_table(kw["policy"], f)
        self.correct_of = np.choose(self.exit_of, [np.asarray(f[c]).astype(bool)
                                                   for c in ("main_correct", "ext_correct", "cloud_correct")])
        self.ext_macs = (self.adaptive.macs or 0.0) + (self.extension.macs or 0.0)
        super().__init__(env, index, spec, **kw)

    def _blocks(self):
        """Per block, as lists: gaps, devices, exits, correctness there, seconds on the
        device and compute energies."""
        main_macs, speed = self.main.macs or 0.0, self.speed
        for gaps, devices in self._arrival_blocks():
            k = len(gaps)
            i = self.outcome_rng.integers(k, self.n_records)
            exits = self.exit_of[i]
            if self.policy.runs_main:
                u = self.service_rng.randoms(k)
                ext = exits == EXTENSION
                seconds = self.main.sample_many(u) / speed
                seconds = seconds + np.where(
                    ext, (self.adaptive.sample_many(u) + self.extension.sample_many(u)) / speed, 0.0)
                energy = self._compute_energy_j(seconds, np.where(ext, main_macs + self.ext_macs, main_macs))
            else:
                seconds = energy = np.zeros(k)
            yield (gaps.tolist(), devices.tolist(), exits.tolist(), self.correct_of[i].tolist(), seconds.tolist(),
                   energy.tolist())

    def _run(self):
        env, timeout, busy, horizon = self.env, self.env.timeout, self.busy_until, self.horizon_s
        row = self._local_rows(exits=True)
        target = self.targets.get(getattr(self.policy, "target", None))
        for block in self._blocks():
            for g, d, x, c, s, e in zip(*block):
                yield timeout(g)
                now = env._now
                b = busy[d]
                done = (b if b > now else now) + s
                busy[d] = done
                if x == OFFLOAD:  # leaves the device when its main block is done (at once for cloud_only)
                    env.process(self._offload(d, now, target, c, done, e))
                elif done <= horizon:
                    row((now, done, d, x, c, e))
