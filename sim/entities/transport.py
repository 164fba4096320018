"""The TCP transport model on top of the fluid network (a scenario's ``transport: {model: tcp}``;
docs/network.md).  Per flow of ``S`` payload bytes along a path of one-way propagation latency
``L`` and bottleneck capacity ``C``, whose ACKs wait ``Q`` on the way back (round trip
``R = 2 L + Q``; links are symmetric in latency):

* **goodput**: the flow carries ``S + ceil(S / mss) x header`` bytes on the wire;
* **set-up**: its first byte leaves ``setup_rtts x 2 L`` after it is started (the handshake:
  SYN, SYN-ACK; the data follows the ACK);
* **ACK queueing**: ``Q`` is taken when the handshake ends (:meth:`sim.entities.link.Network.ack_wait_s`):
  on each link of the way back that carries the data of other tcp flows then in progress
  (in their handshake, stalls or transfer), a full-size packet and a half's transmission
  (the packet being sent, half done on average, and the one the device holds beneath its
  queue discipline; the ACKs' own queue is served next under fair queueing), and under
  drop-tail the FIFO's mean standing queue besides (:func:`sim.entities.link.ack_queue_s`);
* **slow start**: the congestion window starts at ``initial_window_segments`` and grows every
  round trip by a factor ``gamma``: 2 under ``byte_counting`` (each ACK grows the window by the
  segments it acknowledges: RFC 3465, Linux, ns-3's Cubic), else ``1 + 1/ack_every_segments``
  (one segment per ACK: RFC 5681, ns-3's NewReno; the ``gamma`` of Cardwell et al.); windows are
  kept fractional, as in that model.  After sending each window the sender waits for the first
  ACK of that window if it comes back later than the window takes to send (at ``C``), i.e. it
  stalls for
  ``max(0, t_seg + R - w_k t_seg)`` after window ``k`` (``t_seg``: one wire segment at ``C``),
  as long as segments remain (the latency model of Cardwell, Savage and Anderson, INFOCOM 2000,
  as taught in Kurose and Ross, ch. 3).  The stalls follow the set-up delay: the flow
  takes no bandwidth before it starts, then its bytes share the links as a fluid flow.
  ``C`` is the path's bottleneck capacity, not the flow's share under contention (a flow with
  a smaller share fills its window's round trip sooner and stalls less: the model then
  overstates the stalls);
* **ACKs**: the receiver sends ``ceil(segments / ack_every_segments)`` ACKs of ``header``
  bytes along the reverse path, started with the data as one fluid flow of those bytes (the
  ACK bytes load the reverse links; their timing is not spread over the data's).
"""

from __future__ import annotations

import math


class Transport:
    """The per-flow plan of :meth:`plan` (cached per class, size, ACK wait and bottleneck: the
    offload chain sends flows of a few sizes only, and a path's ACK wait takes a few values)."""

    def __init__(self, mss_bytes: int, header_bytes: int, setup_rtts: float, initial_window_segments: int,
                 ack_every_segments: int, byte_counting: bool):
        self.mss, self.header, self.setup_rtts = mss_bytes, header_bytes, setup_rtts
        self.iw, self.ack_every = initial_window_segments, ack_every_segments
        # the window's growth per round trip in slow start: x2 when each ACK grows it by the segments it
        # acknowledges (byte counting); else one segment per ACK, x(1 + 1/b) (Cardwell et al.'s gamma)
        self.growth = 2.0 if byte_counting else 1.0 + 1.0 / ack_every_segments
        self._plans: dict = {}

    @classmethod
    def of(cls, t) -> "Transport":
        """From a scenario's ``transport`` block (:class:`sim.config.Transport`)."""
        return cls(t.mss_bytes, t.header_bytes, t.setup_rtts, t.initial_window_segments, t.ack_every_segments,
                   t.byte_counting)

    def plan(self, flow_class, size_bytes: float, ack_wait_s: float) -> tuple[float, float, float]:
        """(bits on the wire, slow-start stalls in seconds, ACK bits on the reverse path) of a
        flow of ``size_bytes`` along ``flow_class``'s path whose ACKs wait ``ack_wait_s`` on
        the way back (its round trip: twice the path's latency plus that)."""
        bottleneck_bps = flow_class.bottleneck_bps  # a capacity trace or a channel's rate changes it
        key = (flow_class, size_bytes, ack_wait_s, bottleneck_bps)
        p = self._plans.get(key)
        if p is None:
            if len(self._plans) > 100_000:  # sizes drawn from a distribution: keep the cache bounded
                self._plans.clear()
            p = self._plans[key] = self._plan(flow_class.latency_s, bottleneck_bps, size_bytes, ack_wait_s)
        return p

    def _plan(self, latency_s: float, bottleneck_bps: float, size_bytes: float,
              ack_wait_s: float) -> tuple[float, float, float]:
        segments = max(math.ceil(size_bytes / self.mss), 1)
        wire_bits = 8.0 * (size_bytes + segments * self.header)
        rtt = 2.0 * latency_s + ack_wait_s
        return wire_bits, self.stalls_s(segments, rtt, bottleneck_bps), \
            8.0 * math.ceil(segments / self.ack_every) * self.header

    def payload_share(self, one_medium: bool = False) -> float:
        """The payload's share of what a long flow puts on the wire: ``mss / (mss + header)``,
        and on ``one_medium`` (a half-duplex access point, whose ACKs share the data's medium)
        ``mss / (mss + header + header / ack_every)``.  What a planner that counts payload bits
        at a link's rate must scale the rate by."""
        return self.mss / (self.mss + self.header + (self.header / self.ack_every if one_medium else 0.0))

    def handshake_s(self, latency_s: float) -> float:
        """Seconds before the first byte of a flow along a path of one-way ``latency_s``."""
        return self.setup_rtts * 2.0 * latency_s

    def stalls_s(self, segments: int, rtt_s: float, bottleneck_bps: float) -> float:
        """Seconds a flow of ``segments`` waits for ACKs in slow start (0 once its window
        covers a round trip at the bottleneck, or once every segment is sent)."""
        if bottleneck_bps <= 0.0:  # a device out of radio coverage: the flow is cut, it waits on no window
            return 0.0
        seg_s = 8.0 * (self.mss + self.header) / bottleneck_bps
        stall, window, sent = 0.0, float(self.iw), 0.0
        while True:
            sent += window
            if sent >= segments:
                return stall
            gap = seg_s + rtt_s - window * seg_s
            if gap <= 0:
                return stall
            stall += gap
            window *= self.growth
