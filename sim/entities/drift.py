"""The data condition a device group sees over time: fixed segments or random switching.

One :class:`ConditionSchedule` per group that drifts (a group with ``updates``, or an
early-exit group with ``early_exit.drift``).  Before each change it calls ``before()``
(the group passes the arrivals that saw the old condition), then sets ``condition`` and
calls ``after()``.  The time of the next change is known as soon as the previous one
happens (``next_change_s``: a segment's start, or the previous change plus an
exponential holding time), so a group can pass its arrivals up to it in bulk.
"""

from __future__ import annotations

import math
from typing import Callable


def schedule_of(drift) -> tuple[tuple[tuple[float, str], ...], tuple[float, tuple[str, ...]] | None]:
    """The (segments, switching) arguments of :class:`ConditionSchedule` from a scenario's
    ``drift`` block (config.Drift), or from a fixed condition (config.Condition: one segment)."""
    if not hasattr(drift, "segments"):
        return ((0.0, drift.key),), None
    segments = tuple((x.start_s, x.key) for x in drift.segments)
    switching = drift.switching
    return segments, (switching.mean_holding_s, tuple(c.key for c in switching.conditions)) if switching else None


class ConditionSchedule:
    def __init__(self, env, segments: tuple[tuple[float, str], ...], switching, rng,
                 before: Callable[[], None], after: Callable[[], None]):
        """``segments``: ((start_s, condition key), ...) from 0, or empty and ``switching`` =
        (mean holding seconds, (condition key, ...)) starting in the first condition."""
        self.env, self.segments, self.switching, self.rng = env, segments, switching, rng
        self.before, self.after = before, after
        self.observers: list[Callable] = []  # observer(schedule) after each change (a timeline trace)
        self.condition = segments[0][1] if segments else switching[1][0]
        # known from the start, so a group may pass its first arrivals in bulk up to it
        if segments:
            self.next_change_s = segments[1][0] if len(segments) > 1 else math.inf
        else:
            self._hold = rng.exponential(switching[0])
            self.next_change_s = env.now + self._hold
        env.process(self._run())

    def _run(self):
        env = self.env
        if self.segments:
            for k, (start_s, condition) in enumerate(self.segments[1:], start=1):
                yield env.timeout(start_s - env.now)
                self.before()
                self.condition = condition
                self.next_change_s = self.segments[k + 1][0] if k + 1 < len(self.segments) else math.inf
                self.after()
                for observe in self.observers:
                    observe(self)
            return
        mean_holding_s, keys = self.switching
        hold = self._hold
        while True:
            yield env.timeout(hold)
            others = [k for k in keys if k != self.condition]
            nxt = others[self.rng.integer(len(others))]
            hold = self.rng.exponential(mean_holding_s)  # drawn first, so after() knows the next change
            self.before()
            self.condition = nxt
            self.next_change_s = env.now + hold
            self.after()
            for observe in self.observers:
                observe(self)
