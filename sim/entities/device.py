"""Device groups: one device model, two time drivers.

A group of ``count`` identical devices behind one access point is one
:class:`DeviceGroup`.  Its arrivals come in blocks (:mod:`sim.entities.arrivals`);
its outcome sampler (:mod:`sim.entities.outcomes`) draws each block's routing or
exit, correctness, compute time and energy at once; every offloaded input is one
:class:`~sim.entities.offload.Offload`.  Each device is a single FIFO
processor, so its on-device work follows Lindley's recursion (start = max(arrival,
device free)), computed with no events at all: arrival by arrival in
:meth:`DeviceGroup._pass`, or, for a group passed ahead whose routing is known from its
draws, a block at a time in :meth:`DeviceGroup._queue_block` (the same values, bit for
bit).

The pass over an arrival reads the state of the simulation at that arrival, and the
two drivers differ only in *when* the pass runs:

* ``request``: at each arrival's own time (one event per arrival): the reference.
* ``scale``: as late or as early as the state allows.  What happens on a device
  depends only on that device's own state, so a group whose outcomes and routing
  are pure functions of its draws and its devices' queues (no update loop) passes a
  whole block as soon as it is drawn, and wakes only to start each offloaded input
  at its arrival time and to draw the next block.  A group whose state changes from
  outside (the update loop: installs, drift, the distributed baseline's switch to
  offloading) is told *before* every change (:meth:`before_change`) and passes the
  arrivals up to that instant with the state they saw; it wakes for each arrival
  only while its arrivals are offloaded.

Both drivers therefore see the same draws, make the same decisions, start the same
offload chains at the same float times, and hand the recorder the same on-device
rows block by block: same seed, same results (``tests/validation/test_cross_mode.py``).
Arrivals at or after the horizon are not processed; an on-device inference that ends
after it is unfinished.
"""

from __future__ import annotations

from bisect import bisect_right, bisect_left
from dataclasses import dataclass

import numpy as np
import simpy

from sim.entities.arrivals import arrival_blocks, arrival_times
from sim.entities.link import Network
from sim.entities.offload import NAN, Offload, OffloadTarget
from sim.policies.routing import MAIN, OFFLOAD
from sim.recorder import GroupRecord
from sim.rng import Stream
from sim.simclock import call_at

DRIVERS = ("request", "scale")


@dataclass(frozen=True)
class GroupParams:
    """What the entities need of a scenario's device group (built by :mod:`sim.build`)."""

    index: int
    name: str
    count: int
    arrival_process: str  # "poisson" or "periodic"
    rate_hz: float
    input_bytes: int
    result_bytes: int


class DeviceGroup:
    """The devices of one group and the driver that feeds their arrivals through the pass."""

    def __init__(self, env: simpy.Environment, params: GroupParams, sampler, *, network: Network,
                 record: GroupRecord, policy, target, arrival_rng: Stream,
                 horizon_s: float, driver: str, accuracy: float | None = None, updates=None,
                 edge_target: OffloadTarget | None = None, drift=None, tracer=None, radio=None, air_energy=None):
        if driver not in DRIVERS:
            raise ValueError(f"unknown driver {driver!r}")
        # a timeline trace (sim.tracing) sees this group's blocks and its chosen devices' offloads;
        # without one (or with none of its devices chosen) offloads are plain Offload chains
        self.tracer, self.job = (None, Offload) if tracer is None else tracer.hooks(params.index)
        self.env, self.p, self.sampler, self.net, self.record = env, params, sampler, network, record
        self.policy, self.horizon_s, self.accuracy = policy, horizon_s, accuracy
        self.updates, self.edge_target = updates, edge_target
        self.radio = radio  # on a radio access point: its devices' channels (sim.entities.wireless.DeviceRadio)
        # the air-time radio energy when the rates vary (sim.entities.energy.LinkEnergy): each offload's at its rates
        self.air_energy = air_energy
        self.drift = drift  # an early-exit group's ConditionSchedule: exits follow its current condition
        # where offloaded inputs go: an OffloadTarget, a selector picking one per input
        # (sim.entities.selection), or None (the policy never offloads)
        self.target = target
        self.fixed_accuracy = target.accuracy if isinstance(target, OffloadTarget) else None
        self.family = sampler.family
        self.exact = driver == "request"
        self.ahead = not self.exact and updates is None  # pure: pass each block as soon as it is drawn
        # groups passed ahead whose routing does not depend on the queue queue a block at once
        # (:meth:`_queue_block`); the others one arrival at a time (:meth:`_pass`)
        self.vector = self.ahead and (self.family == "early_exit" or policy.offload_mask(np.zeros(1)) is not None)
        self.busy = np.zeros(params.count) if self.vector else [0.0] * params.count
        self._blocks = arrival_blocks(params.arrival_process, params.rate_hz, params.count, arrival_rng)
        self._last_s = 0.0  # the previous block's last arrival
        self.gen = 0  # bumped when the pending wake is superseded
        self.i = self.n = self.n_valid = 0
        self.times: list[float] = []
        if updates is not None:
            updates.listeners.append(self)
        self._draw()
        self._step()

    # ------------------------------------------------------------------ blocks
    def _draw(self) -> None:
        gaps, devices = next(self._blocks)
        times = arrival_times(self._last_s, gaps)
        self._last_s = float(times[-1])
        self.times_a, self.dev_a = times, devices
        self.times, self.dev = times.tolist(), devices.tolist()
        self.n = len(times)
        self.n_valid = bisect_left(self.times, self.horizon_s)  # arrivals before the horizon
        self.i = 0
        d = self.draws = self.sampler.draw(self.n)
        if self.drift is not None:  # realized by the pass, under the condition (and version) each arrival sees
            self.seconds, self.energy = [0.0] * self.n, [0.0] * self.n
            self.exits, self.correct = [0] * self.n, [False] * self.n
            self.done: list[float] = []
            if self.updates is not None:
                self.rec = d.record.tolist()  # the record each arrival draws (for :meth:`_next_wake`)
            return
        self.seconds, self.energy = d.seconds.tolist(), d.energy_j.tolist()
        self.done: list[float] = []  # per processed arrival: when its on-device part ends (0.0 if none)
        if self.family == "early_exit":
            self.exits, self.correct = d.exits.tolist(), d.correct.tolist()
            return
        self.u_correct = d.u_correct.tolist()
        self.off: list[bool] = []
        mask = self.policy.offload_mask(d.u_route)  # None: the decision depends on the device's backlog
        self.u_route = d.u_route.tolist()
        if self.updates is not None:
            self.held: list[tuple] = []  # per processed arrival: (accuracy, mAP, version, installed_s) it saw
            self.route = None if mask is None else mask.tolist()  # the policy's decisions (``off``: what was done)
            self.mask = None
            return
        self.mask_a = mask
        self.mask = None if mask is None else mask.tolist()

    def _emit(self) -> None:
        """Hand the block's processed on-device inferences to the recorder."""
        i = self.i
        if i == 0:
            return
        self.record.arrivals += i
        t, dev, d = self.times_a[:i], self.dev_a[:i], self.draws
        done = np.asarray(self.done)
        if self.tracer is not None:
            self.tracer.on_device(self.p.index, t, dev, done,
                                  d.exits[:i] == OFFLOAD if self.family == "early_exit" else None)
        if self.family == "early_exit":
            loc = d.exits[:i] != OFFLOAD
            self.record.local(t[loc], done[loc], dev[loc], d.exits[:i][loc], d.correct[:i][loc],
                              d.energy_j[:i][loc])
            return
        loc = ~np.asarray(self.off if self.mask is None else self.mask[:i], dtype=bool)
        if self.updates is not None:
            held = np.asarray(self.held, dtype=float).reshape(-1, 4)[loc]
            self.record.local(t[loc], done[loc], dev[loc], MAIN, d.u_correct[:i][loc] < held[:, 0],
                              d.energy_j[:i][loc], map_=held[:, 1], version=held[:, 2].astype(np.int64),
                              staleness_s=t[loc] - held[:, 3])
            return
        self.record.local(t[loc], done[loc], dev[loc], MAIN, d.u_correct[:i][loc] < self.accuracy,
                          d.energy_j[:i][loc])

    # ------------------------------------------------------------------ the driver
    def _wake(self, ev: simpy.Event) -> None:
        if ev._value == self.gen:
            self._step()

    def _step(self) -> None:
        now = self.env.now
        while True:
            if not self.ahead:
                j = bisect_right(self.times, now, self.i, self.n_valid)
            elif self.drift is not None:  # ahead up to the next change of condition
                j = bisect_right(self.times, self.drift.next_change_s, self.i, self.n_valid)
            else:
                j = self.n_valid
            if j > self.i:
                self._pass(j)
            if self.i == self.n == self.n_valid and now >= self.times[-1]:
                self._emit()  # the block is done: the next one
                self._draw()
                continue
            break
        self._schedule()

    def _next_wake(self) -> float:
        """When the pass must next run (some arrival ``i`` .. ``n_valid - 1`` is due): at the next
        arrival when each may leave the device at its own time, else at the block's last one."""
        i = self.i
        if self.exact:
            return self.times[i]
        st = self.updates
        if st is not None and self.family == "early_exit":
            if self.target is not None:  # the next input whose exit, under the state now, leaves the device
                exits, rec, sets, dev = self.sampler.exit_rows, self.rec, st.records, self.dev
                for k in range(i, self.n_valid):
                    if exits[sets[dev[k]]][rec[k]] == OFFLOAD:
                        return self.times[k]
        elif st is not None and (st.offload or self.target is not None):
            if st.offload or self.route is None:
                return self.times[i]  # every input leaves, or the policy reads the queue: each arrival
            route = self.route
            for k in range(i, self.n_valid):  # the next input the policy offloads
                if route[k]:
                    return self.times[k]
        return self.times[self.n_valid - 1]

    def _schedule(self) -> None:
        if self.i < self.n_valid:
            t = self._next_wake()
        elif self.n_valid == self.n:
            t = self.times[-1]  # draw the next block when its predecessor's last arrival is due
        else:
            return  # the horizon is inside this block: nothing more to do
        self.gen += 1
        call_at(self.env, max(t, self.env.now), self._wake, self.gen)

    def before_change(self) -> None:
        """The update loop is about to change this group's state: pass the arrivals up to now."""
        j = bisect_right(self.times, self.env.now, self.i, self.n_valid)
        if j > self.i:
            self._pass(j)

    def after_drift(self) -> None:
        """An early-exit group's condition has changed: pass ahead again, up to the next change."""
        self._step()

    def after_routing_change(self) -> None:
        """Whether arrivals are offloaded has changed: plan the next wake anew."""
        self._schedule()

    def after_change(self) -> None:
        """The update loop has changed this group's state (drift, an install).  An early-exit
        group's exits follow it, so which arrival leaves the device next may have changed: the
        scale driver plans its next wake anew (a whole-model group's routing does not change)."""
        if self.family == "early_exit" and not self.exact:
            self._schedule()

    def finish(self) -> None:
        """At the horizon: pass what is left before it and hand over the last block."""
        if self.i < self.n_valid:
            self._pass(self.n_valid)
        self._emit()
        self.i = 0

    # ------------------------------------------------------------------ the pass
    def _launch(self, t_s: float, d: int, target, correct, ready_s: float, compute_j: float,
                map_: float = NAN, k: int = 0) -> None:
        """Offload arrival ``k`` (at ``t_s``) of device ``d``: its input leaves at ``ready_s`` (>= now).
        ``correct`` None: decided by the server a selector picks (see :class:`Offload`)."""
        self.record.offload_decided += 1
        if target.__class__ is OffloadTarget:
            job = self.job(self, d, t_s, target, correct, compute_j, map_)
        else:
            us = self.draws.u_select
            job = self.job(self, d, t_s, target, correct, compute_j, map_,
                           (self.u_correct[k] if correct is None else 0.0,
                            *((float(us[k, 0]), float(us[k, 1])) if us is not None else (0.0, 0.0))))
        if ready_s == self.env.now:
            job.start()
        else:  # planned ahead, or after the main block: starts at that float time exactly
            call_at(self.env, ready_s, job.start)

    def _queue_block(self, j: int) -> None:
        """:meth:`_pass` for a whole block of a group passed ahead whose routing is known from
        its draws: Lindley's recursion (``end = max(device free, arrival) + seconds``, device by
        device in arrival order) for all its on-device work at once, by a fixed-point iteration
        over each device's chain of arrivals in the block.  It starts from a lower bound and each
        round makes one more link of every chain exact with the same ``max`` and ``+`` as one at
        a time, so when a round changes nothing the values are the sequential ones, bit for bit."""
        i, d = self.i, self.draws
        k = np.arange(i, j)
        if self.family == "early_exit":
            off = d.exits[i:j] == OFFLOAD
            run = k
        else:
            off = self.mask_a[i:j]
            run = k[~off]
        done = np.zeros(j - i)
        if len(run):
            order = np.argsort(self.dev_a[run], kind="stable")
            pos = run[order]
            t, dv, sec = self.times_a[pos], self.dev_a[pos], d.seconds[pos]
            first = np.ones(len(dv), dtype=bool)
            first[1:] = dv[1:] != dv[:-1]
            free = self.busy[dv]
            end = t + sec
            while True:
                prev = np.where(first, free, np.concatenate(([0.0], end[:-1])))
                new = np.maximum(prev, t) + sec
                if np.array_equal(new, end):
                    break
                end = new
            last = np.ones(len(dv), dtype=bool)
            last[:-1] = dv[1:] != dv[:-1]
            self.busy[dv[last]] = end[last]
            done[pos - i] = end
        self.done = done if i == 0 else np.concatenate((np.asarray(self.done), done))  # passed in parts: a drift
        times, dev = self.times, self.dev
        if self.family == "early_exit":
            correct, energy = self.correct, self.energy
            for kk in k[off].tolist():
                self._launch(times[kk], dev[kk], self.target, correct[kk], float(done[kk - i]), energy[kk], k=kk)
        else:
            u_correct, target, acc = self.u_correct, self.target, self.fixed_accuracy
            for kk in k[off].tolist():
                t_k = times[kk]
                self._launch(t_k, dev[kk], target, None if acc is None else u_correct[kk] < acc, t_k, 0.0, k=kk)
        self.i = j

    def _realize(self, j: int) -> None:
        """Arrivals ``i .. j-1`` of a drifting or updating early-exit group under the current
        condition: with updates, each with the record set its device's version selects."""
        i, d = self.i, self.draws
        st = self.updates
        if st is None:
            self.sampler.realize(d, i, j, self.sampler.sets[self.drift.condition])
        else:
            sets = st.records
            self.sampler.realize(d, i, j, np.array([sets[x] for x in self.dev[i:j]], dtype=np.int64))
        self.exits[i:j], self.correct[i:j] = d.exits[i:j].tolist(), d.correct[i:j].tolist()
        self.seconds[i:j], self.energy[i:j] = d.seconds[i:j].tolist(), d.energy_j[i:j].tolist()

    def _pass(self, j: int) -> None:
        """Arrivals ``i .. j-1``, in order: route, queue on the device, start offloads."""
        if self.drift is not None:
            self._realize(j)
        if self.vector:
            return self._queue_block(j)
        times, dev, busy, seconds, done = self.times, self.dev, self.busy, self.seconds, self.done
        i = self.i
        if self.family == "early_exit":
            exits, correct, energy = self.exits, self.correct, self.energy
            for k in range(i, j):
                t, d = times[k], dev[k]
                b = busy[d]
                end = (b if b > t else t) + seconds[k]
                busy[d] = end
                done.append(end)
                if exits[k] == OFFLOAD:  # leaves when its main block is done (at once for cloud_only)
                    self._launch(t, d, self.target, correct[k], end, energy[k], k=k)
        elif self.updates is not None:
            st, u_correct, off, held = self.updates, self.u_correct, self.off, self.held
            acc, map_, version, installed = st.acc, st.map, st.version, st.installed_s
            route, policy, target = self.route, self.policy, self.target
            for k in range(i, j):
                t, d = times[k], dev[k]
                b = busy[d]
                # the distributed baseline sends every input to the edge (where it adapts its model);
                # otherwise the routing policy decides, and an offloaded input is served by the large model
                to = self.edge_target if st.offload else (
                    target if (route[k] if route is not None
                               else policy.offloads(self.u_route[k], b - t if b > t else 0.0)) else None)
                if to is not None:
                    a, m = st.edge_model(d)
                    if st.offload:  # pooled: the edge adapts on every device's inputs of this condition
                        c = st.cond_of[d]
                        st.edge_seen[c] = st.edge_seen.get(c, 0) + 1
                    self._launch(t, d, to, u_correct[k] < a, t, 0.0, m, k=k)
                    off.append(True)
                    done.append(0.0)
                    held.append((0.0, 0.0, 0.0, 0.0))
                    continue
                end = (b if b > t else t) + seconds[k]
                busy[d] = end
                off.append(False)
                done.append(end)
                held.append((acc[d], map_[d], version[d], installed[d]))
        else:
            mask, u_correct, policy, target = self.mask, self.u_correct, self.policy, self.target
            acc = self.fixed_accuracy
            for k in range(i, j):
                t, d = times[k], dev[k]
                b = busy[d]
                if mask is None:
                    o = policy.offloads(self.u_route[k], b - t if b > t else 0.0)
                    self.off.append(o)
                else:
                    o = mask[k]
                if o:
                    self._launch(t, d, target, None if acc is None else u_correct[k] < acc, t, 0.0, k=k)
                    done.append(0.0)
                    continue
                end = (b if b > t else t) + seconds[k]
                busy[d] = end
                done.append(end)
        self.i = j
