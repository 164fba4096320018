"""The one adapter to SimPy's private internals (SimPy 4, pinned below 5): the clock,
scheduling at absolute times, and event counting.  Nothing else in the simulator
touches a private attribute of SimPy.

* :class:`Environment` is SimPy's environment with the clock as a plain attribute
  ``now``.  SimPy's ``now`` is a property (a function call per read, 3.5% of an event's
  instructions under cachegrind when the per-event paths read it); here ``step`` sets
  the attribute beside SimPy's own ``_now``, so the entities read ``env.now`` at the
  cost of an attribute.  ``step`` is SimPy 4's, line for line, plus that one store.

* :func:`call_at` schedules a callback at an *absolute* time.  ``env.timeout(t - now)``
  lands on ``now + (t - now)``, which rounds to a different float than ``t`` when ``now``
  is small against ``t``; a driver that plans ahead must land exactly where a driver that
  steps one arrival at a time does (``t_k = t_{k-1} + gap_k``).
* :func:`call_in` is ``env.timeout(delay)`` with one callback, lighter: no
  :class:`simpy.Event` is made, only a slotted record with the three attributes SimPy's
  ``step`` reads (``callbacks``, ``_ok``, ``_value``); it lands on the same float time
  with the same priority and takes the next event id, so the order of events is the
  one ``env.timeout`` gives (the per-event paths of links, servers and offloads use it).
* :func:`run_until` steps SimPy's own loop to a horizon in slices (for progress) and
  counts the events exactly from SimPy's event-id counter and queue (:func:`event_ids`).
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Callable

import simpy
from simpy.core import NORMAL, EmptySchedule, EventPriority, StopSimulation


class Environment(simpy.Environment):
    """SimPy's environment whose clock ``now`` is an attribute, not a property."""

    now = 0.0  # shadows the base class's property: from here on an instance attribute

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.now = self._now

    def step(self) -> None:
        """SimPy 4's ``Environment.step``, with the clock also stored as ``now``."""
        try:
            self._now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        self.now = self._now
        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1:]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


class Call:
    """A scheduled callback: what SimPy's ``step`` needs of an event, nothing more."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, callback: Callable, value) -> None:
        self.callbacks = (callback,)
        self._ok = True
        self._value = value


def call_at(env: simpy.Environment, t: float, callback: Callable, value=None) -> Call:
    """``callback(ev)`` at time ``t`` (>= now), exactly; ``ev._value`` is ``value``."""
    if t < env._now:
        raise ValueError(f"call_at: {t!r} is in the past (now {env._now!r})")
    ev = Call(callback, value)
    heappush(env._queue, (t, NORMAL, next(env._eid), ev))
    return ev


def call_in(env: simpy.Environment, delay: float, callback: Callable, value=None) -> None:
    """``callback(ev)`` after ``delay`` >= 0 seconds, where ``env.timeout(delay)`` would land."""
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), Call(callback, value)))


def event_ids(env: simpy.Environment):
    """(the event-id counter, the event queue): SimPy 4 internals, for exact event counts."""
    return env._eid, env._queue


def run_until(env, horizon_s: float, progress: Callable[[float], None] | None = None,
              slices: int = 100) -> int:
    """Process every event before ``horizon_s``; return how many (SimPy steps).

    SimPy's own ``run`` loop does the stepping, in ``slices`` equal slices of simulated
    time with ``progress(now)`` after each.  The count comes from SimPy's event-id
    counter (ids handed out) and its queue (events still waiting), minus the slices'
    own stop events, so the loop itself counts nothing.
    """
    eid, queue = event_ids(env)  # SimPy 4 internals: the event-id counter and the event heap
    before = len(queue)
    first_id = next(eid)
    stops = 0
    start = env.now
    for k in range(1, slices + 1):
        t = horizon_s if k == slices else start + (horizon_s - start) * k / slices
        if t <= env.now:
            continue
        env.run(until=t)
        stops += 1
        if progress is not None:
            progress(env.now)
    scheduled = next(eid) - first_id - 1
    # a slice's stop event is processed, then rescheduled (SimPy 4) and processed again when
    # the next slice starts; the last one is still queued
    return before + scheduled - len(queue) - (2 * stops - 1 if stops else 0)
