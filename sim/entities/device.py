"""Device groups: a group of ``count`` identical devices behind one access point.

A group is one SimPy process however many devices it has.  Poisson arrivals of
``count`` devices are one Poisson stream of rate ``count * rate_hz`` with each
arrival assigned to a uniformly drawn device (superposition); periodic arrivals
cycle through the devices in order of their random phases.

Each device is a single FIFO processor.  On-device inference is computed by
Lindley's recursion (start = max(arrival, device free), no events needed);
offloaded inference is a process: uplink flow, path latency, server job,
downlink flow, path latency.  An inference that has not finished by the horizon
is not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import simpy

from sim.entities.link import DirectedLink, Network
from sim.entities.server import Server
from sim.recorder import Recorder
from sim.rng import Stream
from sim.traces import TimingDistribution


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
    accuracy: float


class DeviceGroupProcess:
    def __init__(self, env: simpy.Environment, index: int, spec, *, network: Network, recorder: Recorder,
                 policy, timing: TimingDistribution, accuracy: float, targets: dict[str, OffloadTarget],
                 streams, horizon_s: float):
        self.env = env
        self.index = index
        self.spec = spec
        self.network = network
        self.recorder = recorder
        self.policy = policy
        self.timing = timing
        self.accuracy = accuracy
        self.targets = targets
        self.horizon_s = horizon_s
        prefix = f"group/{spec.name}/"
        self.arrival_rng = streams[prefix + "arrivals"]
        self.route_rng = streams[prefix + "routing"]
        self.service_rng = streams[prefix + "service"]
        self.correct_rng = streams[prefix + "correct"]
        self.busy_until = [0.0] * spec.count
        e = spec.energy
        self.j_up = 8 * spec.input_bytes * e.radio_up_j_per_bit
        self.j_down = 8 * spec.result_bytes * e.radio_down_j_per_bit
        env.process(self._arrivals())

    def _arrivals(self):
        a = self.spec.arrivals
        n = self.spec.count
        if a.process == "poisson":
            mean_gap = 1.0 / (n * a.rate_hz)
            while True:
                yield self.env.timeout(self.arrival_rng.exponential(mean_gap))
                self.arrive(self.arrival_rng.integer(n))
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
        now = self.env.now
        backlog = max(self.busy_until[d] - now, 0.0)
        target = self.policy.choose(self.route_rng.random(), backlog)
        u_correct = self.correct_rng.random()
        if target is None:
            service = self.timing.sample(self.service_rng.random()) / self.spec.compute.speed_factor
            done = now + backlog + service
            self.busy_until[d] = done
            if done <= self.horizon_s:
                self.recorder.inference(now, done, self.index, d, -1, u_correct < self.accuracy,
                                        0, 0, service * self.spec.energy.active_power_w, 0.0)
        else:
            self.env.process(self._offload(d, now, self.targets[target], u_correct))

    def _offload(self, d: int, arrival_s: float, t: OffloadTarget, u_correct: float):
        env, spec = self.env, self.spec
        yield self.network.transfer(t.up, spec.input_bytes, purpose="inference_input")
        self.recorder.flow(arrival_s, env.now, "inference_input", spec.input_bytes, t.up[0].name)
        if t.up_latency_s:
            yield env.timeout(t.up_latency_s)
        yield t.server.submit(t.timing.sample(t.service_stream.random()) / t.speed_factor)
        start_down = env.now
        yield self.network.transfer(t.down, spec.result_bytes, purpose="inference_result")
        self.recorder.flow(start_down, env.now, "inference_result", spec.result_bytes, t.down[-1].name)
        if t.down_latency_s:
            yield env.timeout(t.down_latency_s)
        self.recorder.inference(arrival_s, env.now, self.index, d, t.index, u_correct < t.accuracy,
                                spec.input_bytes, spec.result_bytes, 0.0, self.j_up + self.j_down)
