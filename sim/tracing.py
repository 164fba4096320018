"""Timeline traces: a run as Chrome / Perfetto trace-event JSON (``sim run --trace FILE``).

A trace shows, for a few chosen devices, what each of their inferences did and when
(computed on the device; or offloaded: uplink, server queue, service, downlink), the
model version each holds and the drift condition of its group; and, for the whole run,
the active flows and throughput of every link and the queue and busy workers of every
server.  It opens in ui.perfetto.dev or chrome://tracing (docs/tracing.md).

Why it is built this way:

* **Nothing when off.**  The per-event paths of links, servers and the offload chain
  are the simulator's hot loop, so they hold no tracing code at all: a run with a
  :class:`Tracer` is built with the subclasses here (:class:`TracedNetwork`,
  :class:`TracedServer`, :class:`TracedOffload` for the chosen devices' inputs), which
  observe the same steps and then do what the originals do.  The hooks that stay in
  the entities are per block of arrivals (``DeviceGroup._emit``), per install and per
  drift change; each is one ``is None`` check.  No hook schedules an event or draws a
  number, so a traced run gives the results of an untraced one, bit for bit, and the
  ``scale`` and ``request`` drivers give the same trace (``tests/unit/test_tracing.py``).
* **Bounded.**  Per-device tracks exist only for the chosen devices; a counter keeps
  at most one value per window of ``counter_resolution_s`` of simulated time (the last
  it took there, from the time it took it) and only when the value changes; and
  recording stops at ``max_events``, with a note in the file's metadata
  (:attr:`Tracer.note`) that the command line prints.
* **Exact nesting.**  Times are kept in seconds and written as whole nanoseconds in
  microsecond units that Perfetto reads back to the same nanosecond (it truncates
  ``ts x 1000``), so the steps of an offloaded inference tile their parent slice and a
  device's on-device slices never overlap, as trace viewers need on one track.
  Offloaded inferences of one device may overlap one another, so they are laid on as
  many "offloads" tracks of that device as needed (each inference on the first track
  free at its start).

The subclasses observe private steps of :mod:`sim.entities.link`, :mod:`sim.entities.server`
and :mod:`sim.entities.offload` (``_start``, ``_on_timer``, ``_finish``, the chain's
callbacks); tests/unit/test_tracing.py checks them against untraced runs.
"""

from __future__ import annotations

import json
import math
from heapq import heappop, heappush
from pathlib import Path

import numpy as np

from sim.entities.link import Network
from sim.entities.offload import Offload
from sim.entities.server import Server
from sim.errors import InputError

MAX_EVENTS = 1_000_000  # default cap: 80-90 bytes of JSON each (docs/tracing.md)
COUNTER_RESOLUTION_S = 1e-3  # counters keep at most one value per millisecond of simulated time ...
COUNTER_SAMPLES = 100_000  # ... and by default at most this many over the run (docs/tracing.md)
DEFAULT_DEVICES = "1"
FLAG = "--trace-devices"


class TraceSelectionError(InputError, ValueError):
    """A device selection that names no devices of the scenario; ``str()`` is one line naming the
    flag (bad input: the command line prints it and exits 2)."""

    def __init__(self, message: str, flag: str = FLAG):
        self.flag, self.message = flag, message
        super().__init__(f"{flag}: {message}")


def select_devices(scenario, devices: str | int = DEFAULT_DEVICES, flag: str = FLAG) -> dict[int, list[int]]:
    """The devices to trace, as {group index: sorted device indices}.

    ``devices``: a number N (the first N devices of the scenario, in group order), or a
    comma-separated list of ``group:index`` (``cameras:0,cameras:5,phones:2``).
    Raises :class:`TraceSelectionError`."""
    groups = {g.name: (i, g.count) for i, g in enumerate(scenario.device_groups)}
    total = sum(g.count for g in scenario.device_groups)
    text = str(devices).strip()
    if not text:
        raise TraceSelectionError("expected a number of devices (e.g. 3) or group:index,... "
                                  "(e.g. cameras:0,phones:2), found nothing", flag)
    if ":" not in text:
        try:
            n = int(text)
        except ValueError:
            raise TraceSelectionError(f"expected a number of devices (e.g. 3) or group:index,... "
                                      f"(e.g. cameras:0,phones:2), found {text!r}", flag) from None
        if n < 1:
            raise TraceSelectionError(f"the number of devices must be at least 1, found {n}", flag)
        if n > total:
            raise TraceSelectionError(f"{n} devices asked for, but the scenario has {total}", flag)
        chosen: dict[int, list[int]] = {}
        for i, g in enumerate(scenario.device_groups):
            take = min(n, g.count)
            if take:
                chosen[i] = list(range(take))
            n -= take
        return chosen
    chosen = {}
    for item in text.split(","):
        name, sep, index = item.strip().rpartition(":")
        if not sep or not name:
            raise TraceSelectionError(f"expected group:index, found {item.strip()!r}", flag)
        if name not in groups:
            raise TraceSelectionError(f"unknown group {name!r} (groups: {', '.join(groups)})", flag)
        gi, count = groups[name]
        try:
            d = int(index)
        except ValueError:
            raise TraceSelectionError(f"{item.strip()!r}: the index must be a whole number", flag) from None
        if not 0 <= d < count:
            raise TraceSelectionError(f"{item.strip()!r}: index out of range (group {name} has devices "
                                      f"0..{count - 1})", flag)
        chosen.setdefault(gi, []).append(d)
    return {gi: sorted(set(ds)) for gi, ds in sorted(chosen.items())}


class Tracer:
    """Records one run's timeline; :meth:`write` saves it as trace-event JSON.

    Made before the run (``Tracer(scenario, devices="3")``), given to
    :func:`sim.runner.run` as ``tracer=``, written after it.  One tracer, one run.
    ``counter_resolution_s`` None: ``max(1 ms, horizon / 100,000)`` (at most 100,000
    samples per counter)."""

    def __init__(self, scenario, devices: str | int = DEFAULT_DEVICES, max_events: int = MAX_EVENTS,
                 counter_resolution_s: float | None = None, replication: int = 0, flag: str = FLAG):
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if counter_resolution_s is None:
            counter_resolution_s = max(COUNTER_RESOLUTION_S, scenario.horizon_s / COUNTER_SAMPLES)
        if not counter_resolution_s >= 0:
            raise ValueError("counter_resolution_s must be >= 0")
        self.scenario, self.replication = scenario, replication
        self.selected = select_devices(scenario, devices, flag)
        self.max_events, self.resolution_s = int(max_events), float(counter_resolution_s)
        self._sets = {gi: frozenset(ds) for gi, ds in self.selected.items()}
        self._arrays = {gi: np.asarray(ds, dtype=np.int64) for gi, ds in self.selected.items()}
        self._last_done = {gi: {d: 0.0 for d in ds} for gi, ds in self.selected.items()}
        self.env = None
        self.horizon_s = scenario.horizon_s
        self.events = 0  # recorded events (metadata events not counted)
        self.counter_events = 0  # of which counter samples
        self.truncated_at_s: float | None = None  # when the cap was reached
        self._slices: list[tuple] = []  # (group, device, name, cat, start_s, end_s, args): on-device work
        self._chains: list[tuple] = []  # (group, device, failed, ((name, start_s, end_s), ...), args): offloads
        self._conditions: dict[int, list[tuple[float, str]]] = {}  # group -> [(from_s, condition)]
        self._series: dict[tuple, list[tuple]] = {}  # (process key, counter name, arg) -> [(t_s, value), ...]
        self._observed: list = []  # the traced network and servers (their last changes are flushed at the end)
        self._closed = False

    # ------------------------------------------------------------------ the cap
    @property
    def truncated(self) -> bool:
        return self.truncated_at_s is not None

    @property
    def note(self) -> str | None:
        """One line when the cap was reached (else None): what is missing and what to do."""
        if self.truncated_at_s is None:
            return None
        return (f"trace truncated: the cap of {self.max_events:,} events was reached at simulated time "
                f"{self.truncated_at_s:.6g} s ({self.counter_events:,} of them counter samples); later events "
                f"are not in the file (raise --trace-max-events, trace fewer devices with --trace-devices, "
                f"or sample counters more coarsely with --trace-resolution)")

    def _room(self, k: int) -> bool:
        """Whether ``k`` more events fit; the first time they do not, recording stops."""
        if self.truncated_at_s is not None:
            return False
        if self.events + k > self.max_events:
            self.truncated_at_s = self.env.now
            return False
        self.events += k
        return True

    # ------------------------------------------------------------------ wiring (sim.build)
    def network(self, env, links) -> "TracedNetwork":
        """The run's network, observed (called by :func:`sim.build.build` instead of ``Network``)."""
        if self.env is not None:
            raise RuntimeError("a Tracer records one run; make a new one for the next")
        self.env = env
        net = TracedNetwork(env, links, self)
        self._observed.append(net)
        return net

    def server(self, env, name: str, workers: int, priority) -> "TracedServer":
        """A server, observed (called by :func:`sim.build.build` instead of ``Server``)."""
        server = TracedServer(env, name, workers, priority, self)
        self._observed.append(server)
        return server

    def hooks(self, group: int):
        """(the tracer or None, the offload-job factory) for device group ``group``: a group
        with no chosen device gets ``(None, Offload)``, the untraced path."""
        devs = self._sets.get(group)
        if not devs:
            return None, Offload

        def job(g, d, *args):
            if d in devs:
                j = TracedOffload(g, d, *args)
                j.tracer = self
                return j
            return Offload(g, d, *args)

        return self, job

    def attach(self, model, scenario) -> None:
        """After the model is built: the state observers (installs, drift) and the first values."""
        if [g.count for g in scenario.device_groups] != [g.count for g in self.scenario.device_groups]:
            raise ValueError("the tracer was made for another scenario (its device groups differ)")
        self.scenario, self.horizon_s = scenario, scenario.horizon_s
        for gi, ds in self.selected.items():
            group = model.groups[gi]
            st = group.updates
            schedule = group.drift if group.drift is not None else (st.schedule if st is not None else None)
            if schedule is not None:
                self._conditions[gi] = [(self.env.now, schedule.condition)]
                schedule.observers.append(lambda s, gi=gi: self._condition(gi, s.condition))
            if st is not None:
                for d in ds:
                    self._keep(("group", gi), f"device {d}", "model version", st.version[d])
                devs = self._sets[gi]
                st.on_install = lambda d, st=st, gi=gi: (
                    self._keep(("group", gi), f"device {d}", "model version", st.version[d]) if d in devs else None)

    # ------------------------------------------------------------------ observations
    def _keep(self, process: tuple, name: str, arg: str, value, t_s: float | None = None) -> None:
        """A counter's value from ``t_s`` (default now) on, kept if it differs from the last kept one."""
        key = (process, name, arg)
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = []
        elif s[-1][1] == value:
            return
        if self._room(1):
            self.counter_events += 1
            s.append((self.env.now if t_s is None else t_s, value))

    def _condition(self, group: int, condition: str) -> None:
        if self._room(1):
            self._conditions[group].append((self.env.now, condition))

    def on_device(self, group: int, arrival_s, device, done_s, offloaded_part) -> None:
        """A block's processed arrivals (``DeviceGroup._emit``): the chosen devices' on-device work.
        ``done_s`` is when each arrival's on-device part ended (0.0: it had none);
        ``offloaded_part`` (early exits) marks those whose input then went to a server.
        Each device is one FIFO processor, so a part starts at max(arrival, the device's previous end)."""
        if self.truncated_at_s is not None:
            return
        pick = np.flatnonzero(np.isin(device, self._arrays[group]) & (done_s > 0))
        if not len(pick):
            return
        last, horizon = self._last_done[group], self.horizon_s
        for k in pick.tolist():
            d, t, end = int(device[k]), float(arrival_s[k]), float(done_s[k])
            start = t if t > last[d] else last[d]
            last[d] = end
            if end > horizon:  # unfinished at the horizon (not counted by the run either)
                continue
            if offloaded_part is not None and offloaded_part[k]:
                name, cat = "main block, then offloaded", "device"
            else:
                name, cat = "on device", "inference"
            if not self._room(1):
                return
            self._slices.append((group, d, name, cat, start, end, {"arrival_s": t}))

    def offloaded(self, job: "TracedOffload", done_s: float) -> None:
        """A chosen device's offloaded inference, finished by the horizon: its four steps."""
        if not self._room(5):
            return
        served = job.served_s
        begin = max(job.arrived_s, served - job.service)  # the job's service started service seconds before its end
        steps = (("uplink", job.left_s, job.arrived_s), ("queue", job.arrived_s, begin), ("service", begin, served),
                 ("downlink", served, done_s))
        self._chains.append((job.g.p.index, job.d, False, steps,
                             {"arrival_s": job.arrival_s, "server": job.t.server.name,
                              "uplink_transfer_s": job.uploaded_s - job.left_s}))

    def failed(self, job: "TracedOffload", where: str) -> None:
        """A chosen device's offloaded inference whose flow an outage cut (``where``: uplink or downlink)."""
        now = self.env.now
        if where == "uplink":
            steps = (("uplink (cut)", job.left_s, now),)
        else:
            begin = max(job.arrived_s, job.served_s - job.service)
            steps = (("uplink", job.left_s, job.arrived_s), ("queue", job.arrived_s, begin),
                     ("service", begin, job.served_s), ("downlink (cut)", job.served_s, now))
        if self._room(1 + len(steps)):
            self._chains.append((job.g.p.index, job.d, True, steps, {"arrival_s": job.arrival_s}))

    # ------------------------------------------------------------------ output
    def close(self) -> None:
        """After the run: the counters' last changes, not yet kept (called by :meth:`write`)."""
        if not self._closed:
            self._closed = True
            for entity in self._observed:
                entity.flush()

    def metadata(self) -> dict:
        from sim.version import __version__
        from sim.scenario_io import scenario_sha256

        sc = self.scenario
        return {"scenario": sc.name, "scenario_sha256": scenario_sha256(sc), "seed": sc.seed,
                "replication": self.replication, "mode": sc.fidelity.mode, "horizon_s": sc.horizon_s,
                "simulator": "edge-sim", "simulator_version": __version__,
                "devices": [f"{sc.device_groups[gi].name}:{d}" for gi, ds in self.selected.items() for d in ds],
                "time": "ts and dur in microseconds of simulated time",
                "counter_resolution_s": self.resolution_s, "max_events": self.max_events, "events": self.events,
                "truncated": self.note}

    def write(self, path: str | Path) -> Path:
        """Write the trace to ``path`` atomically (one event per line; metadata events first, then
        the others by time); returns ``path``."""
        from sim.atomic import writing

        self.close()
        lines = self._lines()
        head = json.dumps({"displayTimeUnit": "ms", "metadata": self.metadata()}, allow_nan=False)[:-1]
        with writing(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(head + ', "traceEvents": [\n')
            for k in range(0, len(lines), 8192):
                f.write((",\n" if k else "") + ",\n".join(lines[k:k + 8192]))
            f.write("\n]}\n")
        return Path(path)

    def _lines(self) -> list[str]:
        """Every event as one line of JSON: metadata first, then by (time, depth, order)."""
        sc = self.scenario
        encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
        meta: list[dict] = []
        timed: list[tuple] = []  # (ts ns, depth, order, line)
        pids: dict[tuple, int] = {}

        def process(key: tuple, name: str) -> int:
            if key not in pids:
                pid = pids[key] = len(pids) + 1
                meta.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "ts": 0, "args": {"name": name}})
                meta.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "ts": 0,
                             "args": {"sort_index": pid}})
            return pids[key]

        def thread(pid: int, tid: int, name: str) -> None:
            meta.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "ts": 0, "args": {"name": name}})
            meta.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "ts": 0,
                         "args": {"sort_index": tid}})

        def span(pid, tid, name, cat, start_s, end_s, depth, order, args=None):
            a, b = _ns(start_s), _ns(end_s)
            e = {"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": _us(a), "dur": _us(b - a)}
            if args:
                e["args"] = args
            timed.append((a, depth, order, encode(e)))

        for gi in self.selected:
            process(("group", gi), f"group {sc.device_groups[gi].name}")
        for s in sc.servers:
            process(("server", s.name), f"server {s.name}")
        for key, _, _ in self._series:
            if key[0] == "link":
                process(key, f"link {key[1]}")

        # per group: the condition track, then per device its on-device track and its offload tracks
        slices_by: dict[tuple, list] = {}
        for s in self._slices:
            slices_by.setdefault((s[0], s[1]), []).append(s)
        chains_by: dict[tuple, list] = {}
        for c in self._chains:
            chains_by.setdefault((c[0], c[1]), []).append(c)
        for gi, ds in self.selected.items():
            pid, name = pids[("group", gi)], sc.device_groups[gi].name
            tid = 1
            segs = self._conditions.get(gi)
            if segs:
                thread(pid, tid, "drift condition")
                ends = [t for t, _ in segs[1:]] + [self.horizon_s if self.truncated_at_s is None
                                                   else max(self.truncated_at_s, segs[-1][0])]
                for (t0, cond), t1 in zip(segs, ends):
                    span(pid, tid, cond, "condition", t0, t1, 0, 0)
                tid += 1
            for d in ds:
                thread(pid, tid, f"{name}[{d}] on device")
                for _, _, sname, cat, a, b, args in slices_by.get((gi, d), ()):
                    span(pid, tid, sname, cat, a, b, 0, 0, args)
                lanes = _lanes(chains_by.get((gi, d), []))
                n_lanes = max((k for k, _ in lanes), default=-1) + 1
                for lane in range(n_lanes):
                    thread(pid, tid + 1 + lane, f"{name}[{d}] offloads" + (f" {lane + 1}" if lane else ""))
                for lane, (_, _, failed, steps, args) in lanes:
                    lt = tid + 1 + lane
                    span(pid, lt, "offloaded (failed)" if failed else "offloaded", "failed" if failed else "inference",
                         steps[0][1], steps[-1][2], 0, 0, args)
                    for k, (sname, a, b) in enumerate(steps):
                        span(pid, lt, sname, "offload", a, b, 1, k)
                tid += 1 + n_lanes
        for (key, cname, arg), samples in self._series.items():
            pid = process(key, f"{key[0]} {key[1]}")
            head = '{"ph":"C","name":%s,"pid":%d,"tid":0,"ts":' % (json.dumps(cname), pid)
            mid = ',"args":{%s:' % json.dumps(arg)
            for t, v in samples:
                a = _ns(t)
                timed.append((a, 2, 0, f"{head}{_us(a)!r}{mid}{v!r}}}}}"))
        timed.sort(key=lambda x: x[:3])
        return [encode(e) for e in meta] + [x[3] for x in timed]


def _ns(t_s: float) -> int:
    return round(t_s * 1e9)


def _us(ns: int):
    """``ns`` nanoseconds in microseconds, as the JSON number Perfetto reads back to ``ns`` exactly
    (its reader truncates ``value x 1000``): an int when whole, else the double nearest ns/1000,
    nudged up until the truncation lands on ``ns``."""
    if ns % 1000 == 0:
        return ns // 1000
    x = ns / 1000
    while int(x * 1000.0) < ns:
        x = math.nextafter(x, math.inf)
    return x


def _lanes(chains: list) -> list[tuple[int, tuple]]:
    """Each chain on the first lane free at its start (interval partitioning: as few lanes as
    the most chains in flight at once), in order of start; lanes compared in whole nanoseconds."""
    free: list[int] = []  # lanes free again, by number
    busy: list[tuple[int, int]] = []  # (end ns, lane)
    out, lanes = [], 0
    for c in sorted(chains, key=lambda c: (_ns(c[3][0][1]), _ns(c[3][-1][2]), c[3], c[4]["arrival_s"])):
        start = _ns(c[3][0][1])
        while busy and busy[0][0] <= start:
            heappush(free, heappop(busy)[1])
        if free:
            lane = heappop(free)
        else:
            lane, lanes = lanes, lanes + 1
        heappush(busy, (_ns(c[3][-1][2]), lane))
        out.append((lane, c))
    return out


# ---------------------------------------------------------------------- observed entities
#
# Counters are kept in windows of the resolution: a change at or after the end of the current
# window first keeps what each changed counter has held since its last change (read before the
# new change is applied: nothing changed it since), stamped with that change's time, and opens a
# new window; a change inside the window only notes the time.  So a change costs a comparison and
# a store, a counter keeps at most one value per window (the last it took there), and each kept
# value is exact from its stamp to the next one; with resolution 0 every change is kept.

class TracedNetwork(Network):
    """A :class:`~sim.entities.link.Network` that reports each link's active flows and throughput
    (payload bits per second of the flows crossing it) as they change; what it does is unchanged."""

    def __init__(self, env, links, tracer: Tracer):
        super().__init__(env, links)
        self.tracer, self._due = tracer, -math.inf
        self._changed: dict = {}  # component -> time of its last change not yet kept
        self._shown = {link: (0, 0) for link in self.links}  # link -> (flows, bits/s) last kept
        for link in self.links:
            tracer._keep(("link", link.name), "flows", "active", 0)
            tracer._keep(("link", link.name), "throughput", "Mbps", 0.0)

    def _window(self, now: float) -> None:
        """A change at or after the window's end: keep the last one's state, open a new window."""
        self.flush()
        self._due = now + self.tracer.resolution_s

    def flush(self) -> None:
        """Keep the current flows and throughput of the links changed since the last flush."""
        changed = self._changed
        if not changed:
            return
        stamp: dict = {}  # link -> its component's last change (a merged component's links: the later)
        for comp, t in (sorted(changed.items(), key=lambda x: x[1]) if len(changed) > 1 else changed.items()):
            for link in comp.links:
                stamp[link] = t
        changed.clear()
        flows = dict.fromkeys(stamp, 0)
        bps = dict.fromkeys(stamp, 0.0)
        for comp in {id(link.component): link.component for link in stamp}.values():
            for c in comp.active:
                n = len(c.heap)
                r = c.rate_bps * n
                for link in c.path:
                    if link in flows:
                        flows[link] += n
                        bps[link] += r
        shown, keep = self._shown, self.tracer._keep
        for link, t in stamp.items():
            now = (flows[link], int(bps[link]))  # whole bits/s: sums of rates added in another order agree
            was = shown[link]
            if now != was:
                shown[link] = now
                key = ("link", link.name)
                if now[0] != was[0]:
                    keep(key, "flows", "active", now[0], t)
                if now[1] != was[1]:
                    keep(key, "throughput", "Mbps", now[1] / 1e6, t)

    # (the base class's steps are called directly, not through super(): these run per event)
    def _start(self, cls, size_bits, done) -> None:
        now = self.env.now
        if now >= self._due:
            self._window(now)
        Network._start(self, cls, size_bits, done)
        self._changed[cls.path[0].component] = now

    def _on_timer(self, comp, timer) -> None:
        generation, now = comp.generation, self.env.now
        if now >= self._due:
            self._window(now)
        Network._on_timer(self, comp, timer)
        if comp.generation != generation:  # a timer not superseded: flows ended, rates changed
            self._changed[comp] = now

    def set_up(self, link, up: bool) -> None:
        now = self.env.now
        if now >= self._due:
            self._window(now)
        Network.set_up(self, link, up)
        self._changed[link.component] = now


class TracedServer(Server):
    """A :class:`~sim.entities.server.Server` that reports its queue length and busy workers as
    they change; what it does is unchanged."""

    def __init__(self, env, name, workers, priority, tracer: Tracer):
        super().__init__(env, name, workers, priority)
        self.tracer, self._key, self._due, self._since = tracer, ("server", name), -math.inf, None
        tracer._keep(self._key, "queue", "jobs", 0)
        tracer._keep(self._key, "busy", "workers", 0)

    def _window(self, now: float) -> None:
        """A change at or after the window's end: keep the last one's state, open a new window."""
        self.flush()
        self._due = now + self.tracer.resolution_s

    def flush(self) -> None:
        """Keep the queue length and busy workers held since the last change, if not yet kept."""
        if self._since is not None:
            self.tracer._keep(self._key, "queue", "jobs", len(self.queue), self._since)
            self.tracer._keep(self._key, "busy", "workers", self.busy, self._since)
            self._since = None

    def submit_then(self, service_s: float, then) -> None:
        now = self.env.now
        if now >= self._due:
            self._window(now)
        Server.submit_then(self, service_s, then)
        self._since = now

    def _finish(self, timer) -> None:
        now = self.env.now
        if now >= self._due:
            self._window(now)
        Server._finish(self, timer)
        self._since = now


class TracedOffload(Offload):
    """A chosen device's offloaded input: the chain of :class:`~sim.entities.offload.Offload`,
    with the time of each step kept and the whole handed to the tracer at its end."""

    __slots__ = ("tracer", "left_s", "uploaded_s", "arrived_s", "served_s")

    def start(self, _ev=None) -> None:
        self.left_s = self.g.env.now
        super().start(_ev)

    def _uploaded(self, cut: bool) -> None:
        if cut:
            self.tracer.failed(self, "uplink")
        self.uploaded_s = self.g.env.now
        super()._uploaded(cut)

    def _arrived(self, _ev=None) -> None:
        self.arrived_s = self.g.env.now
        super()._arrived(_ev)

    def _served(self) -> None:
        self.served_s = self.g.env.now
        super()._served()

    def _returned(self, cut: bool) -> None:
        super()._returned(cut)
        if cut:
            self.tracer.failed(self, "downlink")
            return
        done = self.g.env.now + self.t.down_latency_s
        if done <= self.g.horizon_s:  # as Offload._returned: else unfinished at the horizon
            self.tracer.offloaded(self, done)
