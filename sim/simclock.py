"""SimPy's private internals used for scheduling and counting (SimPy 4, pinned below 5).

(The per-event paths of the entities also read the clock as ``env._now`` and a timer's
value as ``ev._value`` inline: the public ``now`` is a property, a function call per read,
3.5% of an event's instructions under cachegrind; each such module says so.)

* :func:`call_at` schedules a callback at an *absolute* time.  ``env.timeout(t - now)``
  lands on ``now + (t - now)``, which rounds to a different float than ``t`` when ``now``
  is small against ``t``; a driver that plans ahead must land exactly where a driver that
  steps one arrival at a time does (``t_k = t_{k-1} + gap_k``).
* :func:`call_in` is ``env.timeout(delay)`` with one callback, lighter: no
  :class:`simpy.Event` is made, only a slotted record with the three attributes SimPy's
  ``step`` reads (``callbacks``, ``_ok``, ``_value``); it lands on the same float time
  with the same priority and takes the next event id, so the order of events is the
  one ``env.timeout`` gives (the per-event paths of links, servers and offloads use it).
* :func:`event_ids` gives the event-id counter and queue, from which :mod:`sim.runner`
  counts events exactly.
"""

from __future__ import annotations

from heapq import heappush
from typing import Callable

import simpy
from simpy.core import NORMAL


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
