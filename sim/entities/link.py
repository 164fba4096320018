"""Links: event-driven, weighted max-min fair fluid bandwidth sharing.

A flow carries ``size_bytes`` over a path of directed links.  Rates are weighted
max-min fair, by progressive filling (:func:`maxmin_rates`, as SimGrid does): all
unfrozen flows grow in proportion to their weights until some link saturates; the
flows crossing it freeze at that level; repeat.  With a heap of link levels this is
O(P log L) for P flow-link incidences and L links.  Rates change only when a flow
starts or ends.

Rates can only interact through shared links, so the network is split into
*components*: the links joined by the paths of the flow classes seen so far
(union-find; components only merge).  A start or end recomputes only its own
component, usually one access point's uplink or downlink, and a component with one
active class, or whose classes all cross its narrowest link, needs no progressive
filling.
Between recomputations rates are constant, so each component keeps one SimPy
timeout (its earliest completion) scheduled.

A component forgets its idle classes (no flow in progress) once they outnumber its active
ones (:meth:`Network._sweep`, amortised O(1) per new class), so the cost of a new class does
not grow with the history of the run: the update loop makes a class per distinct weight, and
every period brings new weights.  A swept class that a caller still holds (the offload chain
keeps one per path) joins again on its next flow; its bits stay counted on its links.

Propagation latency is not part of the fluid model: callers add the path's
latency after the transfer (see :meth:`Network.path_latency_s`).

The per-event paths read the clock as ``env.now``, an attribute of
:class:`sim.simclock.Environment` (SimPy's own ``now`` is a property, a function call
per read); they work, more slowly, with a plain ``simpy.Environment`` too.
"""

from __future__ import annotations

import functools
import heapq
import math
from typing import Iterable, Sequence

import simpy

from sim.simclock import call_in

_EPS_S = 1e-12  # completion-time tolerance (seconds), besides the clock's own resolution
SWEEP_SLACK = 16  # idle classes a component keeps beyond twice its active ones
_ULPS = 4.0  # a flow is done when what is left of it is within this many units of rounding
PACKET_BITS = 8.0 * 1500  # a full-size IP packet: its transmission counts in a drop-tail RTT; the unit of buffers
MIN_BUFFER_PACKETS = 10  # a drop-tail buffer's floor, for links whose bandwidth-delay product is tiny
# packets an ACK of the tcp transport waits for on a link that other flows' data keep busy, besides a drop-tail
# FIFO's standing queue: on average half the packet being sent, and the one packet the link's device holds beneath
# its queue discipline (ns-3's point-to-point device as the ns-3 cross-check sets it; Linux's BQL, at least one)
ACK_WAIT_PACKETS = 1.5
UNNAMED = ("", "", "", "other")  # the flow-log description of a flow its caller did not describe


def _ignore(cut: bool) -> None:
    """The end of a flow nobody waits for (the ACKs of the tcp transport)."""


def _finish_tolerance_s(now: float) -> float:
    """Seconds below which a completion cannot be timed: a timer set that close to ``now``
    fires at ``now`` itself (SimPy's clock is a float, whose resolution grows with its value:
    ``math.ulp(65536.0)`` is 1.5e-11 s), so a flow left that short is finished now."""
    return _EPS_S + _ULPS * math.ulp(now)


class DirectedLink:
    """One direction of a link: a capacity shared by the flows that cross it."""

    __slots__ = ("name", "capacity_bps", "latency_s", "setup_s", "up", "component", "classes", "swept_bits",
                 "droptail", "reverse", "goodput", "nominal_bps", "airtime", "cap_area", "cap_since", "swept_air_s",
                 "data_flows", "longest_rtt_s")

    def __init__(self, name: str, capacity_bps: float, latency_s: float = 0.0, goodput: float = 1.0,
                 setup_s: float = 0.0, droptail: bool = False, airtime: str | None = None):
        """``capacity_bps`` is the raw rate; flows share ``goodput x capacity_bps`` of payload
        (headers take the rest); each flow crossing the link starts ``setup_s`` late
        (connection set-up and slow start, as a fixed term); ``droptail``: a drop-tail queue,
        under which flows share in inverse proportion to their round-trip times.

        ``airtime`` (``"throughput_fair"`` or ``"airtime_fair"``): a radio medium.  Its capacity
        is then time on the air, counted in bits at ``capacity_bps`` (the *unit rate*): a flow
        of a device whose :class:`Channel` runs at ``r`` bit/s spends ``capacity_bps / r``
        units of it per bit, so a device alone gets ``goodput x r`` and a slow device takes
        more of the medium per bit (see :class:`FlowClass` and docs/wireless.md)."""
        if capacity_bps <= 0 or not 0 < goodput <= 1:
            raise ValueError(f"link {name}: capacity must be positive and goodput in (0, 1]")
        if airtime not in (None, "throughput_fair", "airtime_fair"):
            raise ValueError(f"link {name}: unknown sharing {airtime!r}")
        self.name = name
        self.goodput = goodput
        self.nominal_bps = float(capacity_bps)  # the declared raw rate (a capacity trace changes capacity_bps)
        self.airtime = airtime
        self.capacity_bps = float(capacity_bps) * goodput
        self.cap_area, self.cap_since = 0.0, 0.0  # capacity x time before cap_since (a capacity trace)
        self.latency_s = float(latency_s)
        self.setup_s = float(setup_s)
        self.up = True  # False during an outage: flows crossing it abort
        self.component: _Component | None = None  # set by the network
        self.classes: list[FlowClass] = []  # the live flow classes whose path crosses it
        self.swept_bits = 0.0  # bits carried by classes since swept (see :meth:`Network._sweep`)
        self.swept_air_s = 0.0  # a radio medium: air time used by classes since swept
        self.droptail = droptail
        self.reverse: DirectedLink | None = None  # the other direction (ACKs of the tcp transport), set by sim.build
        self.data_flows = 0  # tcp flows in progress whose data cross it (their packets delay the ACKs it carries)
        # drop-tail: the longest round trip (:func:`droptail_rtt_s`) of the tcp flows so far whose data or ACKs
        # cross it, which sizes its buffer (:func:`droptail_buffer_packets`)
        self.longest_rtt_s = 0.0

    @property
    def delivered_bits(self) -> float:
        """Bits carried so far, as of the network's last advance (see :meth:`Network.advance`)."""
        return self.swept_bits + sum(c.sent_bits for c in self.classes)

    @property
    def air_used_s(self) -> float:
        """A radio medium's air time used so far (as of the network's last advance), in seconds:
        each device's bits / (goodput x its rate at the time), piece by piece; the flows without a
        device of their own (explicit traffic, ACKs) at the unit rate.  Divided by the time, the
        share of air time used (:func:`sim.runner.run`: ``airtime_utilisation``)."""
        return self.swept_air_s + sum(c.air_on(self) for c in self.classes)

    def mean_capacity_bps(self, until_s: float) -> float:
        """The payload capacity averaged over [0, ``until_s``] (it changes under a capacity trace):
        what the link's utilisation is measured against."""
        if self.cap_since == 0.0 or until_s <= 0:
            return self.capacity_bps
        return (self.cap_area + self.capacity_bps * (until_s - self.cap_since)) / until_s

    def __repr__(self) -> str:
        return f"DirectedLink({self.name!r}, {self.capacity_bps:g} bps)"


class Channel:
    """One device's radio channel on an airtime link (:class:`DirectedLink` with ``airtime``):
    its PHY rate now, in bit/s (0: out of coverage: its flows are cut, as by an outage).
    :meth:`Network.set_rates` changes it (fading, an SNR trace); flows in flight re-share."""

    __slots__ = ("link", "rate_bps", "classes")

    def __init__(self, link: DirectedLink, rate_bps: float):
        if link.airtime is None:
            raise ValueError(f"link {link.name}: a channel needs a radio (airtime) link")
        self.link = link
        self.rate_bps = float(rate_bps)
        self.classes: list[FlowClass] = []  # the live flow classes over it (and some swept, until a rate change)

    def __repr__(self) -> str:
        return f"Channel({self.link.name!r}, {self.rate_bps:g} bps)"


class FlowClass:
    """Flows with the same path and weight.  Max-min fairness gives them equal rates, so
    the class keeps one counter of bits served per flow since it was created
    (``served_bits``) and a heap of its flows keyed by the counter value at which each
    one finishes (processor sharing in virtual time): O(log n) per start or end."""

    __slots__ = ("path", "weight", "heap", "served_bits", "rate_bps", "seq", "bottleneck_bps", "setup_s",
                 "sent_bits", "live", "latency_s", "path_code", "share", "reverse", "channel", "coef",
                 "air_acc", "air_mark", "air_inv", "air_start", "air_sent", "rtt_s", "ack_wait_s")

    def __init__(self, path: tuple, weight: float, channel: Channel | None = None):
        self.path = path
        self.weight = weight
        self.channel = channel  # the device's radio channel (on one airtime link of the path), or None
        # one entry per flow: (served-bits value at which it finishes, sequence number, size in bits,
        # its completion event)
        self.heap: list = []
        self.served_bits = 0.0
        self.rate_bps = 0.0  # per flow
        self.seq = 0
        self.sent_bits = 0.0  # all the class's flows together, over the run (link accounting)
        self.setup_s = sum(link.setup_s for link in path)
        self.latency_s = sum(link.latency_s for link in path)  # propagation, added after a transfer by callers
        self.path_code = -1  # the flow log's code of the path (:mod:`sim.entities.flowlog`), set on first use
        self.reverse: FlowClass | None = None  # the class of its ACKs (tcp transport), made on first use
        self.live = True  # False once swept while idle (it joins its component again on its next flow)
        # a channel's air time per flow, as an affine function of served_bits between rate changes:
        # A(b) = air_acc + (b - air_mark) x air_inv (air_inv: seconds of air per bit at the rate now);
        # air_start: each flow in progress's A at its start, by sequence number
        self.air_acc = self.air_mark = self.air_inv = 0.0
        self.air_start: dict | None = {} if channel is not None else None
        self.air_sent = 0.0  # air seconds on its channel's link, all its flows together, over the run
        self.ack_wait_s = 0.0  # tcp: the wait its latest flow's ACKs met on the way back (:meth:`Network.ack_wait_s`)
        self.derive()

    def derive(self) -> None:
        """The sharing terms that follow from the path's capacities and the channel's rate (again
        after :meth:`Network.set_capacity` or :meth:`Network.set_rates`).

        ``coef``: on each airtime link of the path, the units of the link one bit of the class
        uses (unit rate / the channel's rate; 1 without a channel: the unit rate); None when the
        path has no airtime link (every link then counts bits: plain max-min).  ``share``: the
        weight its flows grow by in the filling: ``weight``, times ``rate / unit rate`` on an
        ``airtime_fair`` link (equal time on the air, so bits in proportion to the rate),
        divided by the round-trip time under a drop-tail queue (``rtt_s``, :func:`droptail_rtt_s`, plus
        ``ack_wait_s``).  ``bottleneck_bps``: the rate of one flow alone."""
        path, ch = self.path, self.channel
        if ch is not None:  # close the air-time piece at the old rate (the caller advanced the served bits)
            self.air_acc += (self.served_bits - self.air_mark) * self.air_inv
            self.air_mark = self.served_bits
            self.air_inv = 1.0 / (ch.link.goodput * ch.rate_bps) if ch.rate_bps > 0 else 0.0
        self.rtt_s = droptail_rtt_s(path)
        coef = None
        for link in path:
            if link.airtime is not None:
                a = 1.0 if ch is None or ch.link is not link else (
                    link.nominal_bps / ch.rate_bps if ch.rate_bps > 0 else math.inf)
                if coef is None:
                    coef = {}
                coef[link] = a
        self.coef = coef
        self.derive_share()
        if coef is None:
            self.bottleneck_bps = min(link.capacity_bps for link in path)
        else:
            self.bottleneck_bps = min(link.capacity_bps / coef.get(link, 1.0) for link in path)

    def derive_share(self) -> None:
        """``share`` (see :meth:`derive`), again when ``ack_wait_s`` changes."""
        share = self.weight
        if any(link.droptail for link in self.path):
            share = self.weight / (self.rtt_s + self.ack_wait_s)
        if self.coef is not None:
            for link, a in self.coef.items():
                if link.airtime == "airtime_fair" and math.isfinite(a):
                    share /= a
        self.share = share

    def air_on(self, link: DirectedLink) -> float:
        """The air time (s) its flows have used on the radio medium ``link``: on its channel's link,
        what the channel's rates gave; elsewhere its bits at the unit rate."""
        if self.channel is not None and self.channel.link is link:
            return self.air_sent
        return self.sent_bits / link.capacity_bps

    def idle_air(self) -> None:
        """No flow in progress (served_bits restarts at 0): the air-time counter restarts too."""
        self.air_acc = self.air_mark = 0.0
        if self.air_start is not None:
            self.air_start.clear()


class _Component:
    """Links whose flows may share capacity, the classes active on them, and the
    state of their one pending completion timer."""

    __slots__ = ("links", "classes", "active", "last_s", "generation", "shared", "on_timer")

    def __init__(self, links: list, now: float, on_timer):
        self.links = links
        self.classes: list[FlowClass] = []  # the live classes on these links (active ones and some idle)
        self.active: list[FlowClass] = []
        self.last_s = now
        self.generation = 0  # bumped whenever the pending timer is superseded
        self.shared: DirectedLink | None = None
        self.on_timer = functools.partial(on_timer, self)  # the callback of its timers: on_timer(comp, timeout)

    def find_shared(self) -> None:
        """A link that every class crosses and that has the smallest capacity of the
        component saturates first whatever the flows: progressive filling then freezes
        every class at its level, so rates need no filling.  ``shared`` is that link or None.
        With airtime links (classes with ``coef``) the condition is that the link is every
        class's own bottleneck: then no other link can saturate before it."""
        common = set(self.classes[0].path)
        for c in self.classes[1:]:
            common.intersection_update(c.path)
        if any(c.coef is not None for c in self.classes):
            self.shared = next((l for l in common if all(
                l.capacity_bps / (c.coef.get(l, 1.0) if c.coef is not None else 1.0) <= c.bottleneck_bps
                for c in self.classes)), None)
            return
        floor = min(link.capacity_bps for link in self.links)
        self.shared = next((l for l in common if l.capacity_bps <= floor), None)


def droptail_rtt_s(path) -> float:
    """The round-trip time that weighs a flow's share under drop-tail queues (SimGrid's flow
    model: weight = 1 / RTT): twice the path's propagation latency plus one full-size packet's
    transmission on each of its links (which keeps it positive on a path without latency)."""
    return sum(2.0 * link.latency_s + PACKET_BITS / link.capacity_bps for link in path)


def droptail_buffer_packets(capacity_bps: float, rtt_s: float) -> int:
    """A drop-tail FIFO's buffer, in full-size packets: one bandwidth-delay product at
    ``capacity_bps`` over ``rtt_s`` (the rule of thumb), at least ``MIN_BUFFER_PACKETS``."""
    return max(MIN_BUFFER_PACKETS, math.ceil(capacity_bps * rtt_s / PACKET_BITS))


def ack_queue_s(link: DirectedLink) -> float:
    """Seconds an ACK of the tcp transport waits on ``link`` when other flows' data keep it
    busy: ``ACK_WAIT_PACKETS`` full-size packets' transmission (under fair queueing its own
    queue is served next), and under drop-tail the FIFO's standing queue besides.  A buffer of
    ``B`` packets (:func:`droptail_buffer_packets` of its ``longest_rtt_s``) against a
    bandwidth-delay product of ``P`` packets: a loss-based TCP fills it until a drop, then
    halves its window (``P + B``), which leaves ``(B - P) / 2`` queued (nothing if negative),
    and fills it again; the queue's mean over that sawtooth is ``(B + max(0, (B - P) / 2)) / 2``."""
    packets = ACK_WAIT_PACKETS
    if link.droptail:
        bdp = link.capacity_bps * link.longest_rtt_s / PACKET_BITS
        buffer = droptail_buffer_packets(link.capacity_bps, link.longest_rtt_s)
        packets += (buffer + max(0.0, (buffer - bdp) / 2.0)) / 2.0
    return packets * PACKET_BITS / link.capacity_bps


def maxmin_rates(capacity: Sequence[float], flows: Sequence[tuple[float, Sequence[int]]],
                 coefs: Sequence[Sequence[float] | None] | None = None) -> list[float]:
    """Weighted max-min fair rates by progressive filling.

    ``capacity[l]`` is link ``l``'s capacity; each flow is ``(weight, link indices)``.
    ``coefs`` (optional): per flow, None or one coefficient per link of its path: the units
    of that link's capacity one unit of the flow's rate uses (an airtime link: the unit rate
    over the device's rate); without, every coefficient is 1.  Link ``l`` saturates when
    ``sum(coef x rate) = capacity[l]``.  Returns one rate per flow.  A flow with an empty
    path gets rate ``inf``.
    """
    n_links = len(capacity)
    cap = [float(c) for c in capacity]
    wsum = [0.0] * n_links
    on_link: list[list[int]] = [[] for _ in range(n_links)]
    for i, (w, path) in enumerate(flows):
        if w <= 0:
            raise ValueError("flow weights must be positive")
        a = coefs[i] if coefs is not None else None
        for k, l in enumerate(path):
            wsum[l] += w if a is None else w * a[k]
            on_link[l].append(i)
    rates = [float("inf") if not path else 0.0 for _, path in flows]
    frozen = [not path for _, path in flows]
    heap = [(cap[l] / wsum[l], l) for l in range(n_links) if wsum[l] > 0]
    heapq.heapify(heap)
    while heap:
        level, l = heapq.heappop(heap)
        if wsum[l] <= 0 or level != cap[l] / wsum[l]:
            continue  # stale entry: the link's level changed since it was pushed
        for i in on_link[l]:
            if frozen[i]:
                continue
            frozen[i] = True
            w, path = flows[i]
            rate = w * level
            rates[i] = rate
            a = coefs[i] if coefs is not None else None
            for k, m in enumerate(path):
                wsum[m] -= w if a is None else w * a[k]
                cap[m] = max(cap[m] - (rate if a is None else rate * a[k]), 0.0)
                if m != l and wsum[m] > 1e-12:
                    heapq.heappush(heap, (cap[m] / wsum[m], m))
        wsum[l] = 0.0
    return rates


class Network:
    """The directed links of a run and the flows currently crossing them.

    Flows are grouped into classes (same path, same weight); rates are recomputed per
    class by :func:`maxmin_rates` with class weight = flow weight x number of flows,
    so a recomputation costs O(classes in the component), not O(flows)."""

    def __init__(self, env: simpy.Environment, links: Iterable[DirectedLink]):
        self.env = env
        self.links: list[DirectedLink] = []
        for link in links:
            link.component = _Component([link], env.now, self._on_timer)
            self.links.append(link)
        self.classes: dict[tuple, FlowClass] = {}
        self._down = 0  # links in an outage
        self.completed = 0
        self.flow_log = None  # a :class:`sim.entities.flowlog.FlowLog`: one row per flow (flows.parquet)
        self.transport = None  # a :class:`sim.entities.transport.Transport` (tcp), or None: the ideal fluid model
        # the air time (s) of the flow over a device's channel whose ``then(False)`` is being called:
        # its bits / (goodput x the channel's rate), piece by piece over the rate changes it spans
        self.flow_air_s = 0.0

    @property
    def components(self) -> list[_Component]:
        seen: dict[int, _Component] = {}
        for link in self.links:
            seen.setdefault(id(link.component), link.component)
        return list(seen.values())

    def transfer(self, path: Sequence[DirectedLink], size_bytes: float, weight: float = 1.0,
                 meta: tuple = None, device: int = -1, channel: Channel | None = None) -> simpy.Event:
        """Start a flow of ``size_bytes`` along ``path``.  The returned event succeeds when
        its last bit leaves; its value is ``True`` if an outage cut the flow, else ``False``.
        ``meta`` = (name, src, dst, purpose) and ``device`` describe it in the flow log;
        ``channel``: the device's radio channel on the path's airtime link."""
        if not path or size_bytes <= 0:
            done = simpy.Event(self.env)
            done.succeed(False)
            return done
        return self.send(self.flow_class(path, weight, channel), size_bytes, meta, device)

    def flow_class(self, path: Sequence[DirectedLink], weight: float = 1.0, channel: Channel | None = None) -> FlowClass:
        """The class of flows along ``path`` with ``weight`` (created, and its links'
        components merged, on first use); ``channel``: the sending or receiving device's radio
        channel (on an airtime link of the path).  Callers that send many flows along one path
        keep it and call :meth:`send`."""
        key = (tuple(path), weight, channel)
        cls = self.classes.get(key)
        if cls is None:
            if not path:
                raise ValueError("a flow class needs a path")
            if weight <= 0:
                raise ValueError("flow weights must be positive")
            if channel is not None and channel.link not in key[0]:
                raise ValueError(f"channel on {channel.link.name} is not on the path")
            cls = self._class(key)
        return cls

    def send(self, cls: FlowClass, size_bytes: float, meta: tuple = None, device: int = -1) -> simpy.Event:
        """:meth:`transfer` of ``size_bytes`` > 0 along the path of ``cls``."""
        done = simpy.Event(self.env)
        then = done.succeed if cls.channel is None else functools.partial(self._succeed_air, done)
        self.send_then(cls, size_bytes, then, meta, device)
        return done

    def _succeed_air(self, done: simpy.Event, cut: bool) -> None:
        """A flow over a device's channel ends: its event carries its air time (``done.air_s``)."""
        done.air_s = self.flow_air_s
        done.succeed(cut)

    def send_then(self, cls: FlowClass, size_bytes: float, then, meta: tuple = None, device: int = -1) -> None:
        """Like :meth:`send`, but ``then(cut)`` is called when the flow ends (``cut``: an outage
        ended it), with no event of its own: after the network has settled its state, so
        ``then`` may start other flows.  ``meta`` = (name, src, dst, purpose) and ``device``
        (-1: none) describe the flow in the flow log, if the run keeps one."""
        if self.flow_log is not None:
            then = self.flow_log.start(cls, size_bytes, then, meta or UNNAMED, device)
        if self.transport is not None:
            self._send_tcp(cls, size_bytes, then)
            return
        if cls.setup_s > 0:
            call_in(self.env, cls.setup_s, self._after_setup, (cls, 8.0 * size_bytes, then))
        else:
            self._start(cls, 8.0 * size_bytes, then)

    def _after_setup(self, timer: simpy.Event) -> None:
        self._start(*timer._value)

    def _send_tcp(self, cls: FlowClass, size_bytes: float, then) -> None:
        """A flow under the tcp transport (:mod:`sim.entities.transport`): the handshake, then
        the slow-start stalls (against the round trip its ACKs meet then: :meth:`ack_wait_s`),
        then its wire bits, with its ACKs on the reverse path.  It counts in its links'
        ``data_flows`` from its start to its end."""
        rtt = cls.rtt_s
        for link in cls.path:
            link.data_flows += 1
            if link.droptail and rtt > link.longest_rtt_s:
                link.longest_rtt_s = rtt
            back = link.reverse
            if back is not None and back.droptail and rtt > back.longest_rtt_s:
                back.longest_rtt_s = rtt
        then = functools.partial(self._data_end, cls.path, then)
        delay = cls.setup_s + self.transport.handshake_s(cls.latency_s)
        if delay > 0:
            call_in(self.env, delay, self._after_handshake, (cls, size_bytes, then))
        else:
            self._slow_start(cls, size_bytes, then)

    def _after_handshake(self, timer: simpy.Event) -> None:
        self._slow_start(*timer._value)

    def _slow_start(self, cls: FlowClass, size_bytes: float, then) -> None:
        wait = self.ack_wait_s(cls)
        bits, stalls, ack_bits = self.transport.plan(cls, size_bytes, wait)
        if stalls > 0:
            call_in(self.env, stalls, self._after_stalls, (cls, bits, then, ack_bits, wait))
        else:
            self._start_tcp(cls, bits, then, ack_bits, wait)

    def _after_stalls(self, timer: simpy.Event) -> None:
        self._start_tcp(*timer._value)

    def ack_wait_s(self, cls: FlowClass) -> float:
        """Seconds an ACK of a flow along ``cls``'s path waits on the way back behind the data
        of the other tcp flows in progress there: :func:`ack_queue_s` of each reverse link
        that carries any (the flow itself counts on its own path, so on a half-duplex medium,
        its own reverse, it is left out)."""
        wait = 0.0
        for link in cls.path:
            back = link.reverse
            if back is not None and back.data_flows > (back is link):
                wait += ack_queue_s(back)
        return wait

    def _start_tcp(self, cls: FlowClass, bits: float, then, ack_bits: float, wait: float) -> None:
        if wait != cls.ack_wait_s:  # the class's drop-tail weight follows the round trip its latest flow meets
            cls.ack_wait_s = wait
            cls.derive_share()
        self._start(cls, bits, then)
        if self._down and any(not link.up for link in cls.path):
            return  # an outage cut the data at its start: no ACKs
        if ack_bits > 0:
            rev = cls.reverse
            if rev is None:
                back = tuple(link.reverse for link in reversed(cls.path))
                if any(link is None for link in back):
                    return  # a path without a way back carries no ACKs
                rev = cls.reverse = self.flow_class(back, cls.weight)
            self._start(rev, ack_bits, _ignore)

    @staticmethod
    def _data_end(path: tuple, then, cut: bool) -> None:
        for link in path:
            link.data_flows -= 1
        then(cut)

    def _class(self, key: tuple) -> FlowClass:
        """The class of ``key`` = (path, weight); a new class joins the components of its links."""
        cls = self.classes[key] = FlowClass(key[0], float(key[1]), key[2])
        if key[2] is not None:
            key[2].classes.append(cls)
        self._join(cls)
        return cls

    def _join(self, cls: FlowClass) -> None:
        """Register ``cls`` (new, or swept and now sending again) with its links and component."""
        cls.live = True
        for link in cls.path:
            link.classes.append(cls)
        comps = list({id(l.component): l.component for l in cls.path}.values())
        if len(comps) > 1:
            for c in comps:
                self._advance(c)
            into = max(comps, key=lambda c: len(c.links))
            for c in comps:
                if c is not into:
                    c.generation += 1  # its pending timer is void; ``into`` reschedules for all
                    into.links.extend(c.links)
                    into.active.extend(c.active)
                    into.classes.extend(c.classes)
                    for link in c.links:
                        link.component = into
        comp = cls.path[0].component
        comp.classes.append(cls)
        if len(comp.classes) > 2 * len(comp.active) + SWEEP_SLACK:
            self._sweep(comp, cls)
        comp.find_shared()
        if len(comps) > 1:
            self._reschedule(comp)  # one timer for the merged flows (the new class may start later)

    def _sweep(self, comp: _Component, joining: FlowClass) -> None:
        """Forget the idle classes of ``comp``: their bits move to their links' ``swept_bits``.
        Called when the live classes are more than twice the active ones plus a slack, so at
        most every ``active + slack`` new classes, each time O(live classes)."""
        keep = []
        for c in comp.classes:
            if c.heap or c is joining:
                keep.append(c)
                continue
            c.live = False
            for link in c.path:
                link.swept_bits += c.sent_bits
                if link.airtime is not None:
                    link.swept_air_s += c.air_on(link)
            c.sent_bits = c.air_sent = 0.0
            key = (c.path, c.weight, c.channel)
            if self.classes.get(key) is c:
                del self.classes[key]
        comp.classes = keep
        for link in comp.links:
            link.classes = [c for c in link.classes if c.live]

    def _start(self, cls: FlowClass, size_bits: float, done) -> None:
        if not cls.live:
            self._revive(cls)
        if self._down:
            for link in cls.path:
                if not link.up:
                    done(True)
                    return
        if cls.bottleneck_bps <= 0:  # its device is out of coverage: cut, as by an outage
            done(True)
            return
        comp = cls.path[0].component
        cls.seq += 1
        if cls.air_start is not None:  # its flow's air so far, A(served bits now): advanced first if busy
            if comp.active:
                self._advance(comp)
            cls.air_start[cls.seq] = cls.air_acc + (cls.served_bits - cls.air_mark) * cls.air_inv
        if not comp.active:  # an idle component (the common case): the flow has its bottleneck alone
            comp.last_s = self.env.now
            comp.active.append(cls)
            cls.heap.append((size_bits, cls.seq, size_bits, done))  # served_bits is 0 when idle
            cls.rate_bps = cls.bottleneck_bps
            comp.generation += 1
            self._timer(comp, size_bits / cls.bottleneck_bps)
            return
        self._advance(comp)
        if not cls.heap:
            comp.active.append(cls)
        heapq.heappush(cls.heap, (cls.served_bits + size_bits, cls.seq, size_bits, done))
        self._reschedule(comp)

    def _revive(self, cls: FlowClass) -> None:
        """A swept class that a caller held sends again: it joins as a new class would."""
        self.classes.setdefault((cls.path, cls.weight, cls.channel), cls)
        cls.derive()  # capacities or its channel's rate may have changed while it was swept
        if cls.channel is not None and cls not in cls.channel.classes:
            cls.channel.classes.append(cls)
        self._join(cls)

    def set_up(self, link: DirectedLink, up: bool) -> None:
        """Start or end an outage of ``link``; at its start every flow crossing it aborts."""
        comp = link.component
        self._advance(comp)
        if link.up != up:
            self._down += -1 if up else 1
        link.up = up
        cut = []
        if not up:
            for c in list(comp.active):
                if link in c.path:
                    cut += [entry[3] for entry in c.heap]
                    c.heap.clear()
                    comp.active.remove(c)
                    c.served_bits = 0.0
                    c.idle_air()
        self._reschedule(comp)
        for then in cut:
            then(True)

    def set_capacity(self, link: DirectedLink, capacity_bps: float) -> None:
        """Change the raw rate of ``link`` (a capacity trace): the flows crossing it re-share
        from now.  ``capacity_bps`` > 0 (a trace drop to nothing is an outage: :meth:`set_up`)."""
        if capacity_bps <= 0:
            raise ValueError(f"link {link.name}: capacity must be positive")
        comp = link.component
        self._advance(comp)
        now = self.env.now
        link.cap_area += link.capacity_bps * (now - link.cap_since)
        link.cap_since = now
        link.capacity_bps = float(capacity_bps) * link.goodput
        for c in link.classes:
            c.derive()
        if comp.classes:
            comp.find_shared()
        self._reschedule(comp)

    def set_rates(self, channels: Sequence[Channel], rates_bps: Sequence[float]) -> None:
        """Set each channel's PHY rate (fading, an SNR trace): flows in flight re-share from now,
        once per component; the flows of a channel whose rate is 0 are cut (out of coverage)."""
        comps: dict[int, _Component] = {}
        for ch in channels:
            for c in ch.classes:
                if c.live:
                    comp = c.path[0].component
                    if id(comp) not in comps:
                        comps[id(comp)] = comp
                        self._advance(comp)
        cut = []
        for ch, rate in zip(channels, rates_bps):
            ch.rate_bps = float(rate)
            live = []  # a swept class leaves the channel's list (it derives its rate again when it revives)
            for c in ch.classes:
                if not c.live:
                    continue
                live.append(c)
                c.derive()
                if c.bottleneck_bps <= 0 and c.heap:
                    cut += [entry[3] for entry in c.heap]
                    c.heap.clear()
                    c.path[0].component.active.remove(c)
                    c.served_bits = 0.0
                    c.idle_air()
            ch.classes = live
        for comp in comps.values():
            if comp.classes:
                comp.find_shared()
            self._reschedule(comp)
        for then in cut:
            then(True)

    @staticmethod
    def path_latency_s(path: Sequence[DirectedLink]) -> float:
        return sum(link.latency_s for link in path)

    def advance(self) -> None:
        """Bring delivered-bit counters up to ``env.now`` (for samplers)."""
        for comp in self.components:
            self._advance(comp)

    def _advance(self, comp: _Component) -> None:
        now = self.env.now
        dt = now - comp.last_s
        if dt > 0:
            for c in comp.active:
                c.served_bits += c.rate_bps * dt
                c.sent_bits += c.rate_bps * len(c.heap) * dt
                if c.air_start is not None:
                    c.air_sent += c.rate_bps * len(c.heap) * dt * c.air_inv
        comp.last_s = now

    @staticmethod
    def _recompute(comp: _Component) -> None:
        active = comp.active
        if not active:
            return
        if len(active) == 1:  # one class: its bottleneck link decides (what progressive filling gives)
            c = active[0]
            c.rate_bps = c.bottleneck_bps / len(c.heap)
        elif comp.shared is not None:  # every class freezes at the shared link's level
            shared = comp.shared
            if shared.airtime is None:
                level = shared.capacity_bps / sum(c.share * len(c.heap) for c in active)
            else:  # each bit of a class uses coef units of the medium
                level = shared.capacity_bps / sum(c.share * len(c.heap) * c.coef[shared] for c in active)
            for c in active:
                c.rate_bps = c.share * level
        else:
            local: dict[DirectedLink, int] = {}
            flows = [(c.share * len(c.heap), [local.setdefault(l, len(local)) for l in c.path]) for c in active]
            coefs = None
            if any(c.coef is not None for c in active):
                coefs = [None if c.coef is None else [c.coef.get(l, 1.0) for l in c.path] for c in active]
            for c, r in zip(active, maxmin_rates([l.capacity_bps for l in local], flows, coefs)):
                c.rate_bps = r / len(c.heap)

    def _reschedule(self, comp: _Component) -> None:
        self._recompute(comp)
        comp.generation += 1
        if not comp.active:
            return
        active = comp.active
        if len(active) == 1:
            c = active[0]
            delay = (c.heap[0][0] - c.served_bits) / c.rate_bps
        else:
            delay = min((c.heap[0][0] - c.served_bits) / c.rate_bps for c in active)
        self._timer(comp, delay)

    def _timer(self, comp: _Component, delay: float) -> None:
        # the timeout carries the generation it was set for; the callback is bound once per component
        call_in(self.env, delay if delay > 0 else 0.0, comp.on_timer, comp.generation)

    def _on_timer(self, comp: _Component, timer: simpy.Event) -> None:
        if timer._value != comp.generation:
            return  # superseded by a later start, end or merge
        self._advance(comp)
        active = comp.active
        tol_s = _finish_tolerance_s(self.env.now)
        finished = []  # each flow's then(cut), called once the component is settled
        for c in (active[:] if len(active) > 1 else active):  # a copy when classes may be removed mid-loop
            heap = c.heap
            # what is left of the first flow may be rounding only: of the clock (the timer fired up to
            # half a unit early), of the served-bits counter and of the finish key (both large after
            # a long busy period); each flow is then done, so the next timer lies strictly ahead
            while heap and heap[0][0] - c.served_bits <= (
                    c.rate_bps * tol_s + _ULPS * math.ulp(heap[0][0]) + 1e-9 * heap[0][2]):
                if c.air_start is None:
                    finished.append(heapq.heappop(heap)[3])
                else:  # its air time: A at its finish key less A at its start
                    key, seq, _, then = heapq.heappop(heap)
                    air = c.air_acc + (key - c.air_mark) * c.air_inv - c.air_start.pop(seq)
                    finished.append(functools.partial(self._then_air, then, air))
                self.completed += 1
            if not c.heap:
                active.remove(c)
                c.served_bits = 0.0  # restart the counter: keeps it small and precise
                if c.air_start is not None:
                    c.idle_air()
        if active:
            self._reschedule(comp)
        else:  # idle again: nothing to time
            comp.generation += 1
        for then in finished:
            then(False)

    def _then_air(self, then, air_s: float, cut: bool) -> None:
        self.flow_air_s = air_s
        then(cut)
