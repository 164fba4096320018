"""Compute servers: ``workers`` identical workers and one queue ordered by a scheduling policy.

Jobs are callbacks, not processes: :meth:`Server.submit` returns an event that
succeeds when the job finishes.  The server keeps time integrals of its queue
length and busy workers, so samplers can report exact time averages (and tests
can check Little's law).

The per-event paths read the clock as ``env.now``, an attribute of
:class:`sim.simclock.Environment` (SimPy's own ``now`` is a property, a function call
per read); they work, more slowly, with a plain ``simpy.Environment`` too.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from typing import Callable

import simpy

from sim.simclock import call_in


class Server:
    def __init__(self, env: simpy.Environment, name: str, workers: int,
                 priority: Callable[[int, float, float], tuple]):
        if workers < 1:
            raise ValueError(f"server {name}: workers must be >= 1")
        self.env = env
        self.name = name
        self.workers = workers
        self.priority = priority
        self.busy = 0
        self.queue: list = []
        self._seq = 0
        self._last_s = env.now
        self.queue_area = 0.0  # integral of queue length over time
        self.busy_area = 0.0  # integral of busy workers over time
        self.jobs_done = 0
        self.history_s = 0.0  # how far back in_system_at may look (keep_history)
        self._ht: list[float] | None = None  # times and values of in_system's changes, from index _h on
        self._hv: list[int] = []
        self._h = 0

    @property
    def in_system(self) -> int:
        return self.busy + len(self.queue)

    def keep_history(self, seconds: float) -> None:
        """Keep in_system's past for at least ``seconds`` (a selection rule reads it late)."""
        self.history_s = max(self.history_s, seconds)
        if self._ht is None and seconds > 0:
            self._ht = []

    def in_system_at(self, t: float) -> int:
        """Jobs in system at time ``t`` (now, or up to ``history_s`` before)."""
        ht = self._ht
        if ht is None or t >= self.env.now:
            return self.busy + len(self.queue)
        k = bisect_right(ht, t, self._h) - 1
        return self._hv[k] if k >= 0 else 0  # before the first change: empty

    def _note(self) -> None:
        """Record a change of in_system; forget what is older than history_s (one record kept)."""
        ht, hv, now = self._ht, self._hv, self.env.now
        if ht and ht[-1] == now:
            hv[-1] = self.busy + len(self.queue)
        else:
            ht.append(now)
            hv.append(self.busy + len(self.queue))
        cut, h = now - self.history_s, self._h
        while h + 1 < len(ht) and ht[h + 1] <= cut:
            h += 1
        if h > 4096 and 2 * h > len(ht):
            del ht[:h], hv[:h]
            h = 0
        self._h = h

    def submit(self, service_s: float) -> simpy.Event:
        """Queue a job needing ``service_s`` seconds of one worker; the event succeeds when it is done."""
        done = simpy.Event(self.env)
        self.submit_then(service_s, done.succeed)
        return done

    def submit_then(self, service_s: float, then) -> None:
        """Like :meth:`submit`, but ``then()`` is called when the job is done (no event of its own)."""
        if service_s < 0:
            raise ValueError("service time must be >= 0")
        self._accumulate()
        self._seq += 1
        if self.busy < self.workers:
            self._begin(service_s, then)
        else:  # the sort key is only needed for jobs that wait
            heapq.heappush(self.queue, (self.priority(self._seq, self.env.now, service_s), self._seq, service_s, then))
        if self._ht is not None:
            self._note()

    def advance(self) -> None:
        self._accumulate()

    def _accumulate(self) -> None:
        now = self.env.now
        dt = now - self._last_s
        if dt > 0:
            if self.queue:
                self.queue_area += len(self.queue) * dt
            self.busy_area += self.busy * dt
        self._last_s = now

    def _begin(self, service_s: float, then) -> None:
        self.busy += 1
        call_in(self.env, service_s, self._finish, then)  # the timer carries the job's then()

    def _finish(self, timer: simpy.Event) -> None:
        then = timer._value
        self._accumulate()
        self.busy -= 1
        self.jobs_done += 1
        if self.queue:
            job = heapq.heappop(self.queue)
            self._begin(job[2], job[3])
        if self._ht is not None:
            self._note()
        then()
