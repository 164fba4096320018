"""What a user would write instead: a straightforward SimPy model of the main job.

    python benchmarks/naive_simpy.py --devices 1000 --horizon-s 3600

One process per device and one per inference, a ``simpy.Resource`` per device (its
processor) and per server (its workers), and a per-flow fair-share link per access
point direction (every flow start or end re-shares the link among its flows, O(flows)),
written as a competent SimPy user would.  It replays the same traces as the simulator
(timing distributions, exit records, accuracies) through the project's loaders.

Its scope, stated so the comparison is fair: it has no model-update loop, so both it
and the simulator (``--compare``) run the main job with the cameras' update loop
removed (their accuracy taken as the accuracy trace's ``mobilenet_v2``, since the
trace has no entry for their model); backhaul links are latency only (1 Gb/s, never the
bottleneck here); its links are ideal fair shares, so both run ``transport: {model: fluid}``
(the simulator's default ``tcp`` adds headers, handshakes, slow start and ACKs).  It prints one JSON line: wall seconds, peak RSS and its answers; with
``--compare`` the simulator's wall and answers on the same scenario too.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.build import load_traces  # noqa: E402
from sim.policies.routing import EXTENSION, OFFLOAD  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from scale import scaled  # noqa: E402


def without_updates(sc):
    groups = [g.model_copy(update={"updates": None, "model": "mobilenet_v2"}) if g.updates else g
              for g in sc.device_groups]
    # the naive link is an ideal fair share: both sides run the fluid transport (no headers, handshake, ACKs)
    return sc.model_copy(update={"device_groups": groups, "transport": sc.transport.model_copy(update={"model": "fluid"})})


class FairShareLink:
    """Processor sharing: ``capacity_bps`` split equally among the flows in progress."""

    def __init__(self, env, capacity_bps):
        self.env, self.capacity = env, capacity_bps
        self.flows = {}  # completion event -> bits left
        self.last = 0.0
        self.changed = env.event()
        env.process(self._serve())

    def _advance(self):
        now = self.env.now
        if self.flows:
            served = self.capacity / len(self.flows) * (now - self.last)
            for f in self.flows:
                self.flows[f] -= served
        self.last = now

    def transfer(self, bits):
        self._advance()
        done = self.env.event()
        self.flows[done] = bits
        if not self.changed.triggered:
            self.changed.succeed()
        return done

    def _serve(self):
        while True:
            if not self.flows:
                yield self.changed
                self.changed = self.env.event()
                continue
            rate = self.capacity / len(self.flows)
            wait = max(min(self.flows.values()) / rate, 0.0)
            yield self.env.timeout(wait) | self.changed
            if self.changed.triggered:
                self.changed = self.env.event()
            self._advance()
            rate = self.capacity / len(self.flows)
            for f in [f for f, left in self.flows.items() if left <= rate * 1e-9]:  # within 1 ns of done
                del self.flows[f]
                f.succeed()


def simulate(sc, traces, seed=1):
    rnd = random.Random(seed)
    env = simpy.Environment()
    horizon = sc.horizon_s
    aps, servers = {}, {}
    for ap in sc.access_points:
        up = FairShareLink(env, ap.uplink_bps)
        aps[ap.name] = (up, up if ap.duplex == "half" else FairShareLink(env, ap.downlink_bps or ap.uplink_bps), ap)
    for s in sc.servers:
        servers[s.name] = (simpy.Resource(env, s.workers), traces.timing(s.compute), s)
    latency = {}  # (access point, server) -> one-way backhaul latency
    for link in sc.links:
        latency[tuple(link.between)] = latency[tuple(reversed(link.between))] = link.latency_s
    out = []  # (latency_s, correct, offloaded): one per finished inference

    def path_latency(ap, server):
        if (ap, server) in latency:
            return latency[(ap, server)]
        via = next(s for s in servers if (ap, s) in latency and (s, server) in latency)
        return latency[(ap, via)] + latency[(via, server)]

    def inference(g, cpu, kind, t0):
        up, down, ap = aps[g.access_point]
        if kind["compute_s"] > 0:
            with cpu.request() as req:
                yield req
                yield env.timeout(kind["compute_s"])
        target = kind["target"]
        if target is not None:
            res, timing, s = servers[target]
            yield up.transfer(8 * g.input_bytes)
            yield env.timeout(ap.latency_s + path_latency(g.access_point, target))
            with res.request() as req:
                yield req
                yield env.timeout(timing.sample(rnd.random()) / s.compute.speed_factor)
            yield down.transfer(8 * g.result_bytes)
            yield env.timeout(ap.latency_s + path_latency(g.access_point, target))
        out.append((env.now - t0, kind["correct"], target is not None))

    def outcome(g, policy, table):
        if g.early_exit is not None:
            i = rnd.randrange(len(table["exit"]))
            e = table["exit"][i]
            main, adaptive, extension = table["blocks"]
            u = rnd.random()
            sec = (main.sample(u) + ((adaptive.sample(u) + extension.sample(u)) if e == EXTENSION else 0.0)) \
                / g.early_exit.speed_factor if policy.runs_main else 0.0
            return {"compute_s": sec, "target": policy.target if e == OFFLOAD else None, "correct": table["ok"][e][i]}
        if rnd.random() < policy.offload_probability():
            acc = traces.accuracy.accuracy(servers[policy.target][2].model)
            return {"compute_s": 0.0, "target": policy.target, "correct": rnd.random() < acc}
        sec = traces.timing(g.compute).sample(rnd.random()) / g.compute.speed_factor
        return {"compute_s": sec, "target": None, "correct": rnd.random() < traces.accuracy.accuracy(g.model)}

    def device(g, policy, table):
        cpu = simpy.Resource(env, 1)
        rate = g.arrivals.rate_hz
        periodic = g.arrivals.process == "periodic"
        yield env.timeout(rnd.random() / rate if periodic else rnd.expovariate(rate))
        while True:
            env.process(inference(g, cpu, outcome(g, policy, table), env.now))
            yield env.timeout(1 / rate if periodic else rnd.expovariate(rate))

    for g in sc.device_groups:
        policy = sc.routing_of(g)
        table = None
        if g.early_exit is not None:
            ee = g.early_exit
            rec = traces.exits[ee.records].condition(ee.condition.corruption, ee.condition.severity).columns
            exits = [policy.decide(h, c, bool(p), x) for h, c, p, x in zip(
                rec["main_entropy_nats"], rec["main_confidence"], rec["main_pred_hard"], rec["ext_confidence"])]
            table = {"exit": exits, "blocks": traces.blocks(ee),
                     "ok": [list(map(bool, rec[c])) for c in ("main_correct", "ext_correct", "cloud_correct")]}
        for _ in range(g.count):
            env.process(device(g, policy, table))
    env.run(until=horizon)
    lat = sorted(x[0] for x in out)
    n = len(out)
    return {"inferences": n, "mean_accuracy": sum(x[1] for x in out) / n,
            "offloaded_fraction": sum(x[2] for x in out) / n, "latency_mean_s": statistics.fmean(lat),
            "latency_p95_s": lat[int(0.95 * (n - 1))]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=1_000)
    p.add_argument("--horizon-s", type=float, default=3600.0)
    p.add_argument("--compare", action="store_true", help="also run the simulator on the same scenario")
    a = p.parse_args()
    sc = without_updates(scaled(a.devices, a.horizon_s, "scale")[0])
    traces = load_traces(sc.model_copy(update={"device_groups": sc.device_groups}), ROOT / "scenarios")
    t0 = time.perf_counter()
    naive = simulate(sc, traces)
    out = {"devices": sc.devices, "horizon_s": a.horizon_s, "naive_wall_s": round(time.perf_counter() - t0, 2),
           "naive_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "naive": naive}
    if a.compare:
        from sim import metrics
        from sim.runner import run

        t0 = time.perf_counter()
        s = metrics.frames(run(sc, traces))[0]
        out["sim_wall_s"] = round(time.perf_counter() - t0, 2)
        out["sim"] = {k: s[k] for k in naive}
        out["speedup"] = round(out["naive_wall_s"] / out["sim_wall_s"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
