"""Window mode: a device group accounts its inferences per window with vectorised draws.

At the start of each window the group draws how many inferences each device makes
(Poisson, or the exact count of a periodic schedule), and for every one of them, from
the same traces as request mode: the routing outcome (a uniform draw against the
policy's offload probability, or the exit of a drawn exit record), correctness
(Bernoulli with the model's accuracy, or the record's correctness at that exit) and
compute time (inverse-CDF draws from the timing distribution).  Means, fractions,
bytes and energy therefore have the same expectations as in request mode.

Offloaded inputs stay discrete events, in a few sub-batches per window: one uplink
flow per sub-batch, server jobs (one per worker, each the sum of its inputs' drawn
service times), one downlink flow.  Model updates are unchanged.  What is
approximate: on-device queueing is ignored (latency = compute time) and offloaded
inputs wait for their sub-batch, so latency percentiles belong to request mode.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.policies.routing import EXTENSION, MAIN, OFFLOAD, exit_table
from sim.recorder import DEVICE_TOTALS

SUB_BATCHES = 4
LATENCY_SAMPLES = 32  # per window and group, for weighted latency percentiles


class WindowGroup:
    def __init__(self, env: simpy.Environment, index: int, spec, *, network, recorder, policy, targets, streams,
                 horizon_s: float, window_s: float, timing=None, accuracy=None, updates=None, edge_target=None,
                 blocks=None, records=None):
        self.env, self.index, self.spec = env, index, spec
        self.network, self.recorder, self.policy, self.targets = network, recorder, policy, targets
        self.horizon_s, self.window_s = horizon_s, window_s
        self.timing, self.accuracy, self.updates, self.edge_target = timing, accuracy, updates, edge_target
        self.gen = streams[f"group/{spec.name}/window"].gen
        self.service_rng = streams[f"group/{spec.name}/window-service"].gen
        n = spec.count
        self.totals = {k: np.zeros(n) for k in DEVICE_TOTALS}
        recorder.device_totals[index] = self.totals
        e = spec.energy
        self.radio_j = 8 * spec.input_bytes * e.radio_up_j_per_bit + 8 * spec.result_bytes * e.radio_down_j_per_bit
        if spec.arrivals.process == "periodic":
            self.phases = self.gen.random(n) / spec.arrivals.rate_hz
        self.rec = records
        self.pending = None
        if records is not None:
            self.blocks = blocks
            self.rec = records
            f = records.columns
            self.exit_of = exit_table(policy, f).astype(np.int8)
            self.correct_at = np.stack([f["main_correct"], f["ext_correct"], f["cloud_correct"]]).astype(bool)
        env.process(self._windows())

    # ---------------------------------------------------------------- arrivals
    def _counts(self, t0: float, t1: float) -> np.ndarray:
        a, n = self.spec.arrivals, self.spec.count
        if a.process == "poisson":
            total = self.gen.poisson(n * a.rate_hz * (t1 - t0))
            return np.bincount(self.gen.integers(0, n, size=total), minlength=n)
        period = 1.0 / a.rate_hz
        return (np.floor((t1 - self.phases) / period) - np.floor((t0 - self.phases) / period)).astype(np.int64)

    def _windows(self):
        t0 = 0.0
        while t0 < self.horizon_s:
            t1 = min(t0 + self.window_s, self.horizon_s)
            self.finish()
            self._account(t0, t1)
            t0 = t1
            if t0 < self.horizon_s:
                yield self.env.timeout(t0 - self.env.now)

    def finish(self) -> None:
        """Record the on-device inferences of the window that just ended (models installed
        during it count from their install time).  Called at the horizon for the last one."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending()

    # ---------------------------------------------------------------- accounting
    def _account(self, t0: float, t1: float) -> None:
        counts = self._counts(t0, t1)
        dev = np.repeat(np.arange(self.spec.count), counts)
        if len(dev) == 0:
            return
        if self.rec is not None:
            self._account_early_exit(t0, t1, dev)
        else:
            self._account_whole(t0, t1, dev)

    def _add(self, dev: np.ndarray, **cols) -> None:
        n = self.spec.count
        for k, v in cols.items():
            self.totals[k] += np.bincount(dev, weights=np.broadcast_to(np.asarray(v, float), dev.shape), minlength=n)

    def _local(self, t0, t1, dev, exit_, correct, seconds, energy, map_=None, staleness=None) -> None:
        if len(dev) == 0:
            return
        mid = (t0 + t1) / 2
        m_sum, m_n = (float(map_.sum()), float(len(dev))) if map_ is not None else (0.0, 0.0)
        s_sum, s_n = (float(staleness.sum()), float(len(dev))) if staleness is not None else (0.0, 0.0)
        self.recorder.window_row(mid, self.index, -1, exit_, float(len(dev)), float(correct.sum()), m_sum, m_n,
                                 s_sum, s_n, float(seconds.sum()), 0.0, 0.0, float(energy.sum()), 0.0, 0.0)
        self._add(dev, n=1.0, correct=correct, latency_sum=seconds, compute_energy_j=energy)
        self._latency_samples(seconds)

    def _latency_samples(self, lat: np.ndarray) -> None:
        k = min(LATENCY_SAMPLES, len(lat))
        pick = self.gen.choice(len(lat), size=k, replace=False) if len(lat) > k else np.arange(len(lat))
        w = len(lat) / k
        self.recorder.latency_samples.extend((float(x), w) for x in lat[pick])

    def _energy(self, seconds: np.ndarray, macs: np.ndarray | float) -> np.ndarray:
        e = self.spec.energy
        if e.compute_model == "macs":
            return np.broadcast_to(np.asarray(macs, float) * e.energy_per_mac_j, seconds.shape).copy()
        return seconds * e.active_power_w

    def _account_whole(self, t0, t1, dev) -> None:
        g, st = self.gen, self.updates
        n = len(dev)
        u_correct = g.random(n)
        if st is not None and st.offload:
            acc, map_ = st.edge_model()
            st.edge_seen[st.condition] = st.edge_seen.get(st.condition, 0) + n
            self._offload(t0, t1, dev, u_correct < acc, np.zeros(n), self.edge_target, np.full(n, map_))
            return
        off = g.random(n) < (0.0 if st is not None else self.policy.offload_probability())
        local = ~off
        seconds = self.timing.sample_many(self.service_rng.random(int(local.sum()))) / self.spec.compute.speed_factor
        dl = dev[local]
        if st is not None:
            arrival = t0 + g.random(len(dl)) * (t1 - t0)
            u_l = u_correct[local]
            energy = self._energy(seconds, self.timing.macs or 0.0)
            start = (np.asarray(st.acc), np.asarray(st.map), np.asarray(st.installed_s))
            st.change_log = []

            def record():  # at the end of the window, when its installs and drift changes are known
                acc, maps, inst = (a[dl] for a in start)
                if st.change_log:
                    ch = np.asarray(st.change_log, dtype=float)
                    span = self.horizon_s + 1.0
                    keys = ch[:, 0] * span + ch[:, 1]
                    order = np.argsort(keys, kind="stable")
                    keys, ch = keys[order], ch[order]
                    j = np.searchsorted(keys, dl * span + arrival, side="right") - 1
                    hit = (j >= 0) & (ch[np.maximum(j, 0), 0] == dl)
                    jj = j[hit]
                    acc[hit], maps[hit], inst[hit] = ch[jj, 2], ch[jj, 3], ch[jj, 4]
                self._local(t0, t1, dl, MAIN, u_l < acc, seconds, energy, maps, arrival - inst)

            self.pending = record
        else:
            self._local(t0, t1, dl, MAIN, u_correct[local] < self.accuracy, seconds,
                        self._energy(seconds, self.timing.macs or 0.0))
        if off.any():
            t = self.targets[self.policy.target]
            self._offload(t0, t1, dev[off], u_correct[off] < t.accuracy, np.zeros(int(off.sum())), t)

    def _account_early_exit(self, t0, t1, dev) -> None:
        idx = self.gen.integers(0, len(self.exit_of), size=len(dev))
        exits = self.exit_of[idx]
        correct = self.correct_at[exits, idx]
        main, adaptive, extension = self.blocks
        speed = self.spec.early_exit.speed_factor
        u = self.service_rng.random(len(dev))
        runs = self.policy.runs_main
        seconds = main.sample_many(u) / speed if runs else np.zeros(len(dev))
        macs = np.full(len(dev), float(main.macs or 0.0)) if runs else np.zeros(len(dev))
        ext = exits == EXTENSION
        seconds[ext] += (adaptive.sample_many(u[ext]) + extension.sample_many(u[ext])) / speed
        macs[ext] += (adaptive.macs or 0.0) + (extension.macs or 0.0)
        energy = self._energy(seconds, macs) if runs else np.zeros(len(dev))
        for k in (MAIN, EXTENSION):
            m = exits == k
            self._local(t0, t1, dev[m], k, correct[m], seconds[m], energy[m])
        off = exits == OFFLOAD
        if off.any():
            self._offload(t0, t1, dev[off], correct[off], energy[off], self.targets[self.policy.target],
                          ready=seconds[off])

    # ---------------------------------------------------------------- offloading
    def _offload(self, t0, t1, dev, correct, compute_j, target, map_=None, ready=None) -> None:
        k = len(dev)
        parts = np.array_split(np.arange(k), min(SUB_BATCHES, k))
        span = (t1 - t0) / len(parts)
        for j, part in enumerate(parts):
            release = t0 + (j + 0.5) * span + (float(ready[part].mean()) if ready is not None else 0.0)
            self.env.process(self._batch(release, dev[part], correct[part], compute_j[part], target,
                                         None if map_ is None else map_[part]))

    def _batch(self, release_s, dev, correct, compute_j, t, map_):
        env, spec = self.env, self.spec
        if release_s > env.now:
            yield env.timeout(release_s - env.now)
        m = len(dev)
        start = env.now
        aborted = yield self.network.transfer(t.up, m * spec.input_bytes)
        if aborted:
            self.recorder.failed += m
            return
        self.recorder.flow_row((start, env.now, "inference_input", m * spec.input_bytes, t.up_name))
        if t.up_latency_s:
            yield env.timeout(t.up_latency_s)
        draws = t.timing.sample_many(self.service_rng.random(m)) / t.speed_factor
        jobs = [t.server.submit(float(chunk.sum())) for chunk in np.array_split(draws, min(t.server.workers, m))]
        yield simpy.AllOf(env, jobs)
        start = env.now
        aborted = yield self.network.transfer(t.down, m * spec.result_bytes)
        if aborted:
            self.recorder.failed += m
            return
        self.recorder.flow_row((start, env.now, "inference_result", m * spec.result_bytes, t.down_name))
        if t.down_latency_s:
            yield env.timeout(t.down_latency_s)
        if env.now > self.horizon_s:
            return
        latency = env.now - release_s
        e = t.energy
        server_j = (m * (t.timing.macs or 0.0) * e.energy_per_mac_j if e.compute_model == "macs"
                    else float(draws.sum()) * e.active_power_w)
        m_sum, m_n = (float(map_.sum()), float(m)) if map_ is not None else (0.0, 0.0)
        self.recorder.window_row(env.now, self.index, t.index, OFFLOAD, float(m), float(correct.sum()), m_sum, m_n,
                                 0.0, 0.0, latency * m, float(m * spec.input_bytes), float(m * spec.result_bytes),
                                 float(compute_j.sum()), m * self.radio_j, server_j)
        self._add(dev, n=1.0, correct=correct, offloaded=1.0, latency_sum=latency, bytes_up=spec.input_bytes,
                  bytes_down=spec.result_bytes, compute_energy_j=compute_j, radio_energy_j=self.radio_j)
        self.recorder.latency_samples.append((latency, float(m)))
