"""SimPy's private internals used for scheduling and counting (SimPy 4, pinned below 5).

(The per-event paths of the entities also read the clock as ``env._now`` and a timer's
value as ``ev._value`` inline: the public ``now`` is a property, a function call per read,
3.5% of an event's instructions under cachegrind; each such module says so.)

* :func:`call_at` schedules a callback at an *absolute* time.  ``env.timeout(t - now)``
  lands on ``now + (t - now)``, which rounds to a different float than ``t`` when ``now``
  is small against ``t``; a driver that plans ahead must land exactly where a driver that
  steps one arrival at a time does (``t_k = t_{k-1} + gap_k``).
* :func:`event_ids` gives the event-id counter and queue, from which :mod:`sim.run`
  counts events exactly.
"""

from __future__ import annotations

from heapq import heappush
from typing import Callable

import simpy
from simpy.core import NORMAL


def call_at(env: simpy.Environment, t: float, callback: Callable[[simpy.Event], None], value=None) -> simpy.Event:
    """An event processed at time ``t`` (>= now), exactly, whose callback is ``callback``."""
    if t < env._now:
        raise ValueError(f"call_at: {t!r} is in the past (now {env._now!r})")
    ev = simpy.Event(env)
    ev._ok = True
    ev._value = value
    ev.callbacks.append(callback)
    heappush(env._queue, (t, NORMAL, next(env._eid), ev))
    return ev


def event_ids(env: simpy.Environment):
    """(the event-id counter, the event queue): SimPy 4 internals, for exact event counts."""
    return env._eid, env._queue
