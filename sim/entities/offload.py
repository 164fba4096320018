"""The one offload chain: an input leaves the device, crosses the network, is served, comes back.

Each offloaded input is its own uplink flow, its own server job and its own downlink
flow, in both time drivers: what crosses the network interacts with everything else
there, so nothing of it is drawn in bulk.  The chain: uplink flow (from when the input
is ready: its on-device part done), uplink path latency, server job, downlink flow,
downlink path latency; then the group's recorder counts it if it is done by the
horizon.  A flow cut by an outage fails the inference (counted as failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from sim.entities.energy import JobEnergy
from sim.entities.link import DirectedLink, Network
from sim.entities.server import Server
from sim.rng import Stream
from sim.simclock import call_in
from sim.traces import TimingDistribution

NAN = float("nan")
SERVICE_BLOCK = 1024  # server job times drawn per numpy call


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
    energy: JobEnergy
    ap: str = ""  # the access point these routes start from (the flow log's src / dst)

    def __post_init__(self):
        self.up_name, self.down_name = self.up[0].name, self.down[-1].name
        self.up_class = self.down_class = None  # the network's flow classes, set on first use


def service_times(timing: TimingDistribution, speed_factor: float, stream: Stream) -> Iterator[float]:
    """A server's job service times in seconds, drawn a block at a time: the values that
    ``timing.sample(stream.random()) / speed_factor`` gives one at a time, bit for bit."""
    while True:
        yield from (timing.sample_many(stream.randoms(SERVICE_BLOCK)) / speed_factor).tolist()


class Offload:
    """One offloaded input of device ``d``, as a chain of callbacks (no SimPy process:
    each step is called by the network, the server or a timer when the previous one
    ends).  Its events: the start (when the input is ready), the network's completion
    timers, the uplink latency and the server job.  The downlink latency needs no event:
    nothing follows it, so the inference is done ``down_latency_s`` after its last bit."""

    __slots__ = ("g", "d", "arrival_s", "t", "correct", "compute_j", "map_", "service", "u", "radio_j")

    def __init__(self, group, d: int, arrival_s: float, t, correct, compute_j: float, map_: float = NAN,
                 u: tuple = ()):
        """``t``: an :class:`OffloadTarget`, or a selector (:mod:`sim.entities.selection`) that
        picks one when the input leaves, with the input's uniforms ``u`` = (correct, select 1,
        select 2); ``correct`` None: decided then, as ``u[0]`` < the picked server's accuracy."""
        self.g, self.d, self.arrival_s, self.t = group, d, arrival_s, t
        self.correct, self.compute_j, self.map_, self.u = correct, compute_j, map_, u

    def start(self, _ev=None) -> None:
        """The input leaves the device: its server is picked (if a rule picks it), its uplink flow."""
        t, net = self.t, self.g.net
        if t.__class__ is not OffloadTarget:
            u = self.u
            t = self.t = t.pick(self.g.env.now, u[1], u[2], self.d)
            if self.correct is None:
                self.correct = u[0] < t.accuracy
        net.send_then(self._flow_class(True), self.g.p.input_bytes, self._uploaded,
                      None if net.flow_log is None else (self.g.p.name, t.ap, t.server.name, "inference_input"), self.d)

    def _flow_class(self, up: bool):
        """The flow class of this input's uplink (``up``) or its result's downlink: on a radio
        access point the device's own channel (sim.entities.wireless), else the target's
        class of that route, made on first use."""
        t, net, radio = self.t, self.g.net, self.g.radio
        if radio is not None:
            return radio.flow_class(net, t.up if up else t.down, self.d, up)
        if up:
            if t.up_class is None:
                t.up_class = net.flow_class(t.up)
            return t.up_class
        if t.down_class is None:
            t.down_class = net.flow_class(t.down)
        return t.down_class

    def _uploaded(self, cut: bool) -> None:
        g, t = self.g, self.t
        if cut:
            g.record.failed += 1  # an outage cut the flow
            return
        if g.radio is not None:  # the air time the network measured: its energy (fading, an SNR trace), its load
            if g.air_energy is not None:
                self.radio_j = g.air_energy.up_j(self.d, g.p.input_bytes, g.net.flow_air_s)
            g.record.rec.air("inference_input", g.net.flow_air_s, t.up_name)
        g.record.rec.flow("inference_input", g.p.input_bytes, t.up_name)
        if t.up_latency_s:
            call_in(g.env, t.up_latency_s, self._arrived)
        else:
            self._arrived()

    def _arrived(self, _ev=None) -> None:
        self.service = next(self.t.service_times)
        self.t.server.submit_then(self.service, self._served)

    def _served(self) -> None:
        t, net = self.t, self.g.net
        net.send_then(self._flow_class(False), self.g.p.result_bytes, self._returned,
                      None if net.flow_log is None else (self.g.p.name, t.server.name, t.ap, "inference_result"), self.d)

    def _returned(self, cut: bool) -> None:
        g, t = self.g, self.t
        if cut:
            g.record.failed += 1
            return
        if g.radio is not None:
            if g.air_energy is not None:
                self.radio_j += g.air_energy.down_j(self.d, g.p.result_bytes, g.net.flow_air_s)
            g.record.rec.air("inference_result", g.net.flow_air_s, t.down_name)
        g.record.rec.flow("inference_result", g.p.result_bytes, t.down_name)
        done = g.env.now + t.down_latency_s
        if done <= g.horizon_s:  # else unfinished at the horizon
            r = g.record.radio_j  # one value, one per device, or None: this offload's own
            g.record.offloaded((self.arrival_s, done, self.d, t.index, self.correct, self.map_, self.compute_j,
                                t.energy.job_j(self.service),
                                self.radio_j if r is None else r if isinstance(r, float) else float(r[self.d])))
            g.record.maybe_flush()
