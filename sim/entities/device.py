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

Two kinds of group:

* :class:`DeviceGroupProcess` runs one whole model; correctness is a Bernoulli draw
  with the accuracy (from the accuracy trace) of the model that served it.
* :class:`EarlyExitGroupProcess` is a MEANet device: the main block always runs
  (unless the policy offloads raw inputs), each input's exit record is drawn from
  the exit-record trace, the routing policy picks the exit from the record's
  entropy and confidences, and correctness is the record's at that exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import simpy

NAN = float("nan")

from sim.entities.link import DirectedLink, Network
from sim.entities.server import Server
from sim.policies.routing import EXTENSION, MAIN, OFFLOAD
from sim.recorder import Recorder
from sim.rng import Stream
from sim.traces import ExitCondition, TimingDistribution


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
    service_stream: Stream
    accuracy: float | None
    energy: object  # config.ServerEnergy

    def job_energy_j(self, seconds: float) -> float:
        e = self.energy
        return (self.timing.macs or 0.0) * e.energy_per_mac_j if e.compute_model == "macs" else seconds * e.active_power_w


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
        env.process(self._arrivals())

    def _arrivals(self):
        a = self.spec.arrivals
        n = self.spec.count
        if a.process == "poisson":
            mean_gap = 1.0 / (n * a.rate_hz)
            timeout, gap, pick, arrive = self.env.timeout, self.arrival_rng.exponential, self.arrival_rng.integer, self.arrive
            while True:
                yield timeout(gap(mean_gap))
                arrive(pick(n))
        else:
            period = 1.0 / a.rate_hz
            phases = sorted((self.arrival_rng.random() * period, d) for d in range(n))
            base = 0.0
            while True:
                for phase, d in phases:
                    yield self.env.timeout(base + phase - self.env.now)
                    self.arrive(d)
                base += period

    def arrive(self, d: int) -> None:
        raise NotImplementedError

    def _compute_energy_j(self, seconds: float, macs: float | None) -> float:
        e = self.spec.energy
        if e.compute_model == "macs":
            return (macs or 0.0) * e.energy_per_mac_j
        return seconds * e.active_power_w

    def _local(self, d: int, arrival_s: float, seconds: float, exit_: int, correct: bool, energy_j: float,
               map_: float = NAN, version: int = -1, staleness_s: float = NAN) -> float:
        """Run ``seconds`` of compute on device ``d``; record if finished by the horizon."""
        done = max(self.busy_until[d], arrival_s) + seconds
        self.busy_until[d] = done
        if done <= self.horizon_s:
            self.recorder.inference((arrival_s, done, self.index, d, -1, exit_, correct, map_, version, staleness_s,
                                     0, 0, energy_j, 0.0, 0.0))
        return done

    def _offload(self, d: int, arrival_s: float, t: OffloadTarget, correct: bool, ready_s: float,
                 compute_j: float, map_: float = NAN):
        """Input leaves the device at ``ready_s`` (after any on-device compute)."""
        env, spec = self.env, self.spec
        if ready_s > env.now:
            yield env.timeout(ready_s - env.now)
        start_up = env.now
        flow = yield self.network.transfer(t.up, spec.input_bytes, purpose="inference_input")
        if flow.aborted:
            self.recorder.failed += 1
            return
        self.recorder.flow(start_up, env.now, "inference_input", spec.input_bytes, t.up[0].name)
        if t.up_latency_s:
            yield env.timeout(t.up_latency_s)
        service = t.timing.sample(t.service_stream.random()) / t.speed_factor
        yield t.server.submit(service)
        start_down = env.now
        flow = yield self.network.transfer(t.down, spec.result_bytes, purpose="inference_result")
        if flow.aborted:
            self.recorder.failed += 1
            return
        self.recorder.flow(start_down, env.now, "inference_result", spec.result_bytes, t.down[-1].name)
        if t.down_latency_s:
            yield env.timeout(t.down_latency_s)
        self.recorder.inference((arrival_s, env.now, self.index, d, t.index, OFFLOAD, correct, map_, -1, NAN,
                                 spec.input_bytes, spec.result_bytes, compute_j, self.radio_j, t.job_energy_j(service)))


class DeviceGroupProcess(_Group):
    """Devices running one whole model, offloading by a whole-model routing policy.
    With the update loop (``updates``), the model's accuracy and mAP follow the version
    each device holds; under the distributed baseline every input goes to the edge."""

    def __init__(self, env, index, spec, *, timing: TimingDistribution, accuracy: float | None,
                 updates=None, edge_target: OffloadTarget | None = None, **kw):
        super().__init__(env, index, spec, **kw)
        self.timing = timing
        self.accuracy = accuracy
        self.updates = updates
        self.edge_target = edge_target

    def arrive(self, d: int) -> None:
        if self.updates is not None:
            self._arrive_updating(d)
            return
        now = self.env.now
        backlog = max(self.busy_until[d] - now, 0.0)
        target = self.policy.choose(self.route_rng.random(), backlog)
        u_correct = self.outcome_rng.random()
        if target is None:
            seconds = self.timing.sample(self.service_rng.random()) / self.spec.compute.speed_factor
            self._local(d, now, seconds, MAIN, u_correct < self.accuracy,
                        self._compute_energy_j(seconds, self.timing.macs))
        else:
            t = self.targets[target]
            self.env.process(self._offload(d, now, t, u_correct < t.accuracy, now, 0.0))


    def _arrive_updating(self, d: int) -> None:
        now, st = self.env.now, self.updates
        self.route_rng.random()  # keep the routing stream aligned with whole-model devices
        u_correct = self.outcome_rng.random()
        if st.offload:
            acc, map_ = st.edge_model()
            st.edge_seen[st.condition] = st.edge_seen.get(st.condition, 0) + 1
            self.env.process(self._offload(d, now, self.edge_target, u_correct < acc, now, 0.0, map_))
            return
        seconds = self.timing.sample(self.service_rng.random()) / self.spec.compute.speed_factor
        self._local(d, now, seconds, MAIN, u_correct < st.acc[d], self._compute_energy_j(seconds, self.timing.macs),
                    st.map[d], st.version[d], now - st.installed_s[d])


class EarlyExitGroupProcess(_Group):
    """MEANet devices: main block, then exit, extension block or offload, by the policy."""

    def __init__(self, env, index, spec, *, blocks: tuple[TimingDistribution, ...], records: ExitCondition, **kw):
        super().__init__(env, index, spec, **kw)
        self.main, self.adaptive, self.extension = blocks
        self.speed = spec.early_exit.speed_factor
        self.n_records = len(records)
        # plain lists: indexing them is much faster than numpy scalars
        self.rec = {k: records[k].tolist() for k in ("main_entropy_nats", "main_confidence", "main_pred_hard",
                                                     "ext_confidence", "main_correct", "ext_correct",
                                                     "cloud_correct")}
        self.ext_macs = (self.adaptive.macs or 0.0) + (self.extension.macs or 0.0)

    def arrive(self, d: int) -> None:
        now = self.env.now
        i = self.outcome_rng.integer(self.n_records)
        r = self.rec
        exit_ = self.policy.decide(r["main_entropy_nats"][i], r["main_confidence"][i], r["main_pred_hard"][i],
                                   r["ext_confidence"][i])
        if not self.policy.runs_main:
            t = self.targets[self.policy.target]
            self.env.process(self._offload(d, now, t, r["cloud_correct"][i], now, 0.0))
            return
        u = self.service_rng.random()
        seconds = self.main.sample(u) / self.speed
        macs = self.main.macs or 0.0
        if exit_ == EXTENSION:
            seconds += (self.adaptive.sample(u) + self.extension.sample(u)) / self.speed
            macs += self.ext_macs
        energy = self._compute_energy_j(seconds, macs)
        if exit_ == OFFLOAD:
            ready = max(self.busy_until[d], now) + seconds
            self.busy_until[d] = ready
            t = self.targets[self.policy.target]
            self.env.process(self._offload(d, now, t, r["cloud_correct"][i], ready, energy))
        else:
            correct = r["main_correct"][i] if exit_ == MAIN else r["ext_correct"][i]
            self._local(d, now, seconds, exit_, correct, energy)
