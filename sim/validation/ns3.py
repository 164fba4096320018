"""``sim validate-model ns3``: the network model against ns-3's packet-level TCP (docs/fidelity.md).

A case is a scenario whose only flows are its ``traffic`` (device groups must make none:
local inference without updates) and a congestion control (NewReno or Cubic).  Its nodes,
links and traffic are mirrored in ns-3 (:func:`mirror`, :func:`ns3_spec`; built and run by
:mod:`sim.validation.ns3_worker` in a process of its own), the simulator runs it under both
transport models (``fluid`` and ``tcp``), flows are matched by name (the k-th flow of a
Poisson ``traffic`` entry is ``name#k``; both sides take the start times and sizes of the
simulator's run) and each flow's completion time is compared (:func:`compare`).

Mapping (what a mirrored scenario may hold):

* a ``node`` or a ``server`` is an ns-3 node (a server serves nothing here);
* a ``link`` is a point-to-point link with the link's rate in each direction and its latency;
  ``queue: fair`` is per-flow fair queueing (``FqCoDelQueueDisc`` with CoDel off: flows hashed
  to their own queues served by deficit round robin, the fattest queue dropped from when the
  shared limit of ``FAIR_BUFFER_PACKETS`` is reached); ``queue: droptail`` is one FIFO of a
  bandwidth-delay product (the link's rate x the longest round trip of the flows crossing it,
  in 1500-byte packets, at least ``sim.entities.link.MIN_BUFFER_PACKETS``);
* an access point ``ap`` is a node ``ap`` and a host ``ap.devices`` behind it, joined by a link
  of the access point's ``uplink_bps`` (host to ``ap``), ``downlink_bps`` (back) and
  ``latency_s``: traffic from or to ``ap`` starts or ends at that host, as a device's flow
  crosses ``ap.up`` or ``ap.down``.  Only full duplex, without outages, goodput factor or
  per-flow set-up delay (ns-3 has them from its own TCP), capacity trace or radio;
* links' ``goodput_factor`` must be 1 (ns-3 carries the headers itself), and no capacity trace;
* a ``tcp`` transport with ``setup_rtts`` 1 and ``header_bytes`` 52 (ns-3's handshake and headers).

Replays (:func:`replay_scenario`): every flow of a scenario's own run, as traffic on its network.

Reruns (``reruns``, ``jitter_s``): ns-3 runs each case again with every flow's start later by a
draw of U[0, ``jitter_s``) (:func:`rerun_specs`), and each rerun's completion times are compared
with the first run's as the model's are: how far ns-3 is from itself under a perturbation no
flow-level description carries, the floor under any model's error on that case.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.config import Scenario
from sim.entities.link import PACKET_BITS, droptail_buffer_packets
from sim.errors import InputError, ScenarioError

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "scenarios" / "validation" / "suite.yaml"
CONGESTION_CONTROLS = ("newreno", "cubic")
MODELS = ("fluid", "tcp")
HEADER_BYTES = 52  # ns-3's IPv4 (20) + TCP (20) + timestamp option (12) headers: what the mirror's TCP sends
FAIR_BUFFER_PACKETS = 10_240  # FqCoDel's default limit (ns-3 and Linux), shared by its flow queues
EXTRA = "validate"
MAX_RERUNS = 100
DEFAULT_JITTER_S = 1e-3  # under one full-size packet's transmission at 10 Mb/s (1.2 ms)


RERUN = "ns3_rerun"  # ns-3's k-th rerun is the model ``ns3_rerun{k}`` of a report


def rerun_model(k: int) -> str:
    """The ``model`` name of ns-3's ``k``-th rerun (from 1) in a report's ``cases``."""
    return f"{RERUN}{k}"


class Ns3Unavailable(RuntimeError):
    """ns-3 cannot run here: its Python bindings are not installed, or its process failed (an
    environment problem, not bad input: the command line exits 1)."""


def available() -> bool:
    """Whether ``from ns import ns`` can work (the ``ns3`` wheel and its ``cppyy``)."""
    import importlib.util

    return importlib.util.find_spec("ns") is not None and importlib.util.find_spec("cppyy") is not None


def require() -> None:
    if not available():
        raise Ns3Unavailable(f"ns-3 is not installed: pip install -e '.[{EXTRA}]' (the ns3 wheel; it builds its "
                             "bindings on install, about 3 minutes)")


# ------------------------------------------------------------------------------------------ cases
@dataclass
class Case:
    """One comparison: a scenario, a congestion control, and optionally one queue discipline for
    every link and access point (``None``: as the scenario says)."""

    name: str
    scenario: Path
    cc: str = "newreno"
    queue: str | None = None
    overrides: dict = field(default_factory=dict)
    replay: bool = False  # the flows of the scenario's run as its traffic (:func:`replay_scenario`)

    def load(self) -> Scenario:
        from sim.pipeline import load

        sc = load(self.scenario, dict(self.overrides))  # its problems name the file
        if self.replay:
            try:
                sc = replay_scenario(sc)
            except ScenarioError as e:
                raise ScenarioError(self.lines_of(e)) from None
        if self.queue is not None:
            changes = {f"links.{i}.queue": self.queue for i in range(len(sc.links))}
            changes.update({f"access_points.{i}.queue": self.queue for i in range(len(sc.access_points))})
            sc = sc.with_(changes)
        return sc

    def lines_of(self, e: ScenarioError) -> list[str]:
        """``e``'s problems, each naming this case's scenario file."""
        return [f"{self.scenario}: {line}" for line in e.lines()]


def load_suite(path: str | Path = SUITE) -> list[Case]:
    """The cases of a suite file: ``cases: [{name, scenario, cc, queue, overrides}]``, scenario
    paths relative to the file; bad entries are one line each."""
    from sim.scenario_io import read_yaml

    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise ScenarioError([f"{path}: cases: expected a list of cases"])
    cases, problems, names = [], [], set()
    for i, c in enumerate(data["cases"]):
        where = f"{path}: cases[{i}]"
        if not isinstance(c, dict) or not {"name", "scenario"} <= set(c):
            problems.append(f"{where}: each case needs name and scenario")
            continue
        unknown = set(c) - {"name", "scenario", "cc", "queue", "overrides"}
        if unknown:
            problems.append(f"{where}.{sorted(unknown)[0]}: unknown field (name, scenario, cc, queue, overrides)")
        if c.get("cc", "newreno") not in CONGESTION_CONTROLS:
            problems.append(f"{where}.cc: expected one of {', '.join(CONGESTION_CONTROLS)}, found {c['cc']!r}")
        if c.get("queue") not in (None, "fair", "droptail"):
            problems.append(f"{where}.queue: expected fair or droptail, found {c['queue']!r}")
        if c["name"] in names:
            problems.append(f"{where}.name: duplicate case {c['name']!r}")
        names.add(c["name"])
        scenario = (path.parent / str(c["scenario"])).resolve()
        if not scenario.is_file():
            problems.append(f"{where}.scenario: no such file {c['scenario']!r}")
        cases.append(Case(str(c["name"]), scenario, c.get("cc", "newreno"), c.get("queue"), c.get("overrides") or {}))
    if problems:
        raise ScenarioError(problems)
    return cases


# ------------------------------------------------------------------------------------------ replay
MAX_REPLAY_FLOWS = 20_000
IDLE_TRACES = {"accuracy": ROOT / "traces" / "accuracy_imagenet_published.json",
               "timings": ROOT / "traces" / "timings_cpu.json"}


def replay_scenario(sc: Scenario, max_flows: int = MAX_REPLAY_FLOWS) -> Scenario:
    """``sc``'s network carrying every flow of ``sc``'s own run as explicit traffic: each
    inference input and result, model update and traffic flow becomes a single flow
    ``{purpose}.{id}`` from its source to its destination, started when it started in the run
    and of its size.  Its servers become plain nodes and its device groups one idle group on an
    access point of its own (a scenario needs one), so that what ns-3 is given is the run's
    network and traffic only; run under ``sc``'s transport, the replay gives every flow the
    completion time it had in the run (a scenario with an update loop is refused: the
    allocation policy sets its flows' rates).  More than ``max_flows`` flows, or none, is one line
    (``horizon_s``: a shorter run replays fewer)."""
    from sim.pipeline import simulate, traces
    from sim.scenario_io import mark_source, source_of, validate

    mirror(sc, network_only=True)  # what ns-3 could not be given is said before the run
    f = simulate(sc, traces(sc, None), flows=True).flows.sort_values("id")
    if len(f) == 0:
        raise ScenarioError([f"{sc.name}: the run makes no flows: nothing to replay"])
    if len(f) > max_flows:
        raise ScenarioError([f"horizon_s: the run makes {len(f):,} flows; ns-3 replays at most {max_flows:,} "
                             "(a shorter horizon_s, or fewer devices, makes fewer)"])
    data = sc.model_dump(mode="json", exclude_unset=True)
    taken = {x["name"] for key in ("access_points", "nodes", "servers") for x in data.get(key, [])}
    idle = next(n for n in (f"idle{k}" if k else "idle" for k in range(len(taken) + 1)) if n not in taken)
    data["nodes"] = data.get("nodes", []) + [{"name": v["name"]} for v in data.pop("servers", [])]
    data["access_points"] = data["access_points"] + [{"name": idle, "uplink_bps": 1.0e6}]
    data["traces"] = {"accuracy": str(IDLE_TRACES["accuracy"])}
    data["device_groups"] = [{"name": idle, "count": 1, "access_point": idle, "model": "mobilenet_v2",
                              "compute": {"trace": str(IDLE_TRACES["timings"]), "model": "mobilenet_v2"},
                              "arrivals": {"process": "periodic", "rate_hz": 0.01}, "input_bytes": 1,
                              "result_bytes": 1}]
    data["policies"] = {"routing": {"kind": "local_only"}}
    data["traffic"] = [{"name": f"{p}.{i}", "src": str(a), "dst": str(b), "start_s": float(t),
                        "size_bytes": max(1, int(round(z)))}
                       for i, p, a, b, t, z in zip(f["id"], f["purpose"], f["src"], f["dst"], f["start_s"],
                                                   f["size_bytes"])]
    return mark_source(validate(data, f"{sc.name} (replay)"), source_of(sc))


# ------------------------------------------------------------------------------------------ mirror
@dataclass
class MirrorLink:
    name: str
    a: str
    b: str
    ab_bps: float
    ba_bps: float
    latency_s: float
    queue: str
    directed: tuple[str, str]  # the simulator's names of the directions a>b and b>a


def mirror(sc: Scenario, network_only: bool = False) -> tuple[list[str], list[MirrorLink], dict[str, str]]:
    """(ns-3 nodes, links, where each scenario endpoint is in ns-3) of ``sc``; raises
    :class:`ScenarioError` (one line per problem) for what ns-3 cannot be given.
    ``network_only``: what a replay of ``sc``'s run needs, checked before the run: the network
    and transport, every access point with devices counted as used, and no update loop (its
    flows' rates are the allocation policy's, not the network's)."""
    problems: list[str] = []
    for i, g in enumerate(sc.device_groups):
        if network_only and g.updates is not None:
            problems.append(f"device_groups[{i}].updates: the update loop's flows take the rates its allocation "
                            "policy gives them, which a replay (sizes and start times) cannot carry")
        elif not network_only and (sc.routing_of(g).kind != "local_only" or g.updates is not None):
            problems.append(f"device_groups[{i}]: group {g.name!r} offloads or updates: ns-3 mirrors only nodes, "
                            "links and traffic (replay the run's flows instead: --replay)")
    if not sc.traffic and not network_only:
        problems.append("traffic: nothing to compare (no traffic)")
    t = sc.transport
    if t.model == "tcp" and t.setup_rtts != 1.0:
        problems.append(f"transport.setup_rtts: ns-3 opens every flow's connection with one handshake (found "
                        f"{t.setup_rtts:g}; leave it at 1)")
    if t.model == "tcp" and t.header_bytes != HEADER_BYTES:
        problems.append(f"transport.header_bytes: ns-3's segments carry {HEADER_BYTES} bytes of IPv4, TCP and "
                        f"timestamp headers (found {t.header_bytes}; leave it at {HEADER_BYTES})")
    nodes = [n.name for n in sc.nodes] + [v.name for v in sc.servers]
    links: list[MirrorLink] = []
    endpoint = {n: n for n in nodes}
    used = {x for l in sc.links for x in l.between} | {t.src for t in sc.traffic} | {t.dst for t in sc.traffic}
    if network_only:
        used |= {g.access_point for g in sc.device_groups}
    for i, ap in enumerate(sc.access_points):
        if ap.name not in used:
            continue
        where = f"access_points[{i}]"
        bad = [("duplex", ap.duplex != "full", "a half-duplex medium has no point-to-point equivalent"),
               ("outages", bool(ap.outages), "ns-3 mirrors no outages"),
               ("goodput_factor", ap.goodput_factor != 1.0, "ns-3 carries the headers itself (leave it at 1)"),
               ("flow_setup_s", ap.flow_setup_s != 0.0, "ns-3 has its own handshake (leave it at 0)"),
               ("capacity_trace", ap.capacity_trace is not None, "ns-3 mirrors fixed rates only")]
        bad += [(f, True, "ns-3 mirrors no radio") for f in ("radio",) if getattr(ap, f, None) is not None]
        for f, is_bad, why in bad:
            if is_bad:
                problems.append(f"{where}.{f}: {why}")
        host = f"{ap.name}.devices"
        nodes += [ap.name, host]
        endpoint[ap.name] = host
        links.append(MirrorLink(ap.name, host, ap.name, ap.uplink_bps, ap.downlink_bps or ap.uplink_bps,
                                ap.latency_s, ap.queue, (f"{ap.name}.up", f"{ap.name}.down")))
    for i, x in enumerate(sc.links):
        if x.goodput_factor != 1.0:
            problems.append(f"links[{i}].goodput_factor: ns-3 carries the headers itself (leave it at 1)")
        if x.capacity_trace is not None:
            problems.append(f"links[{i}].capacity_trace: ns-3 mirrors fixed rates only")
        a, b = x.between
        for end in (a, b):
            if end not in endpoint:  # an access point joined by a link is mirrored above
                problems.append(f"links[{i}].between: {end!r} is not mirrored")
        ab, ba = x.capacities_bps
        links.append(MirrorLink(x.name, a, b, ab, ba, x.latency_s, x.queue, (f"{x.name}.{a}>{b}", f"{x.name}.{b}>{a}")))
    if problems:
        raise ScenarioError(problems)
    return nodes, links, endpoint


# ------------------------------------------------------------------------------------------ our side
def flow_keys(rows: pd.DataFrame, sc: Scenario) -> list[str]:
    """The names flows are matched by: a single flow's ``traffic`` name; ``name#k`` for the k-th
    flow (from 0, in start order) of a Poisson entry."""
    poisson = {t.name for t in sc.traffic if t.process == "poisson"}
    seen: dict[str, int] = {}
    keys = []
    for name in rows["name"]:
        name = str(name)
        if name in poisson:
            k = seen.get(name, 0)
            seen[name] = k + 1
            keys.append(f"{name}#{k}")
        else:
            keys.append(name)
    return keys


def with_transport(sc: Scenario, model: str) -> Scenario:
    """``sc`` under transport ``model``: ``tcp`` keeps the scenario's tcp settings if it has them."""
    if model == sc.transport.model:
        return sc
    return sc.with_({"transport": {"model": model}})


def our_flows(sc: Scenario, model: str) -> pd.DataFrame:
    """The traffic flows of ``sc`` run under transport ``model``: key, src, dst, start_s,
    size_bytes, fct_s (NaN unless finished), path."""
    from sim.pipeline import simulate, traces

    sc = with_transport(sc, model)
    r = simulate(sc, traces(sc, None), flows=True)
    f = r.flows
    f = f[f.purpose == "traffic"].sort_values("id").reset_index(drop=True)
    out = pd.DataFrame({"key": flow_keys(f, sc), "src": f["src"].astype(str), "dst": f["dst"].astype(str),
                        "start_s": f["start_s"], "size_bytes": f["size_bytes"],
                        "fct_s": f["fct_s"].where(f["status"] == "finished"), "path": f["path"].astype(str)})
    return out


def buffers(links: list[MirrorLink], flows: pd.DataFrame) -> dict[str, int]:
    """Drop-tail buffer of each directed link, in packets: its rate x the longest round trip of
    the flows whose data or ACKs cross it (twice the path's latency plus one packet's
    transmission per link, as :func:`sim.entities.link.droptail_rtt_s`), at least
    ``MIN_BUFFER_PACKETS`` (:func:`sim.entities.link.droptail_buffer_packets`: the buffer the
    model's ACK queueing assumes)."""
    rate, latency = {}, {}
    for l in links:
        for name, bps in zip(l.directed, (l.ab_bps, l.ba_bps)):
            rate[name], latency[name] = bps, l.latency_s
    reverse = {l.directed[0]: l.directed[1] for l in links} | {l.directed[1]: l.directed[0] for l in links}
    longest: dict[str, float] = {}
    for path in flows["path"]:
        hops = [h for h in str(path).split(",") if h]
        rtt = sum(2.0 * latency[h] + PACKET_BITS / rate[h] for h in hops)
        for h in hops:
            for d in (h, reverse[h]):
                longest[d] = max(longest.get(d, 0.0), rtt)
    return {d: droptail_buffer_packets(rate[d], longest.get(d, 0.0)) for d in rate}


def ns3_spec(sc: Scenario, cc: str, flows: pd.DataFrame, fair_disc: str = "fair") -> dict:
    """The plain description :mod:`sim.validation.ns3_worker` builds in ns-3."""
    nodes, links, endpoint = mirror(sc)
    index = {n: i for i, n in enumerate(nodes)}
    buf = buffers(links, flows)
    t = sc.transport
    return {"n_nodes": len(nodes), "cc": cc, "horizon_s": sc.horizon_s,
            "mss_bytes": t.mss_bytes, "initial_window_segments": t.initial_window_segments,
            "ack_every_segments": t.ack_every_segments,
            "links": [{"a": index[l.a], "b": index[l.b], "ab_bps": l.ab_bps, "ba_bps": l.ba_bps,
                       "latency_s": l.latency_s, "queue": fair_disc if l.queue == "fair" else "droptail",
                       "buffer_ab": buf[l.directed[0]] if l.queue == "droptail" else FAIR_BUFFER_PACKETS,
                       "buffer_ba": buf[l.directed[1]] if l.queue == "droptail" else FAIR_BUFFER_PACKETS}
                      for l in links],
            "flows": [{"src": index[endpoint[s]], "dst": index[endpoint[d]], "start_s": float(st),
                       "size_bytes": float(z)}
                      for s, d, st, z in zip(flows["src"], flows["dst"], flows["start_s"], flows["size_bytes"])]}


def rerun_specs(spec: dict, reruns: int, jitter_s: float, key: str) -> list[dict]:
    """``reruns`` copies of ``spec`` in which every flow starts later by a draw of U[0,
    ``jitter_s``), from a stream seeded by ``key`` (the case's name): the same shifts every time."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    out = []
    for _ in range(reruns):
        shifts = rng.uniform(0.0, jitter_s, len(spec["flows"]))
        out.append({**spec, "flows": [{**f, "start_s": f["start_s"] + float(d)} for f, d in zip(spec["flows"], shifts)]})
    return out


def run_ns3(specs: list[dict]) -> list[dict]:
    """Run the specs in ns-3, in one worker process; each result: ``finish_s`` per flow (None:
    not complete by the horizon), ``drops``, ``ns3`` (version), ``load_s``, ``run_s``."""
    require()
    with tempfile.TemporaryDirectory(prefix="sim-ns3-") as tmp:
        spec_path, out_path = Path(tmp) / "specs.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(specs))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        r = subprocess.run([sys.executable, "-m", "sim.validation.ns3_worker", str(spec_path), str(out_path)],
                           capture_output=True, text=True, cwd=ROOT, env=env)
        if r.returncode != 0 or not out_path.exists():
            tail = [line for line in r.stderr.splitlines() if "materialize symbols" not in line][-5:]
            raise Ns3Unavailable(f"the ns-3 process failed (exit {r.returncode}): " + " | ".join(tail))
        return json.loads(out_path.read_text())


# ------------------------------------------------------------------------------------------ comparison
def errors(ours: list[float], theirs: list[float]) -> list[float]:
    """Per-flow relative error of our completion time against ns-3's (NaN where either is missing)."""
    out = []
    for a, b in zip(ours, theirs, strict=True):
        ok = a is not None and b is not None and not (math.isnan(a) or math.isnan(b)) and b > 0
        out.append(a / b - 1.0 if ok else math.nan)
    return out


def compare(start_s: list[float], ours: list[float], theirs: list[float]) -> dict:
    """Error statistics of one case (fractions, not percent): ``median`` and ``max`` of the
    per-flow |error|, ``mean_fct`` (the mean completion time's error), ``makespan`` (the error of
    the time from the first start to the last finish), over the flows both sides finished;
    ``flows`` compared and ``missing`` (finished on one side only or on neither)."""
    e = errors(ours, theirs)
    both = [i for i, x in enumerate(e) if not math.isnan(x)]
    if not both:
        return {"flows": 0, "missing": len(e), "median": math.nan, "max": math.nan, "mean_fct": math.nan,
                "makespan": math.nan}
    a = [ours[i] for i in both]
    b = [theirs[i] for i in both]
    first = min(start_s[i] for i in both)
    span_a = max(start_s[i] + ours[i] for i in both) - first
    span_b = max(start_s[i] + theirs[i] for i in both) - first
    return {"flows": len(both), "missing": len(e) - len(both), "median": statistics.median(abs(e[i]) for i in both),
            "max": max(abs(e[i]) for i in both), "mean_fct": statistics.fmean(a) / statistics.fmean(b) - 1.0,
            "makespan": span_a / span_b - 1.0}


def queue_kind(sc: Scenario) -> str:
    """``fair`` or ``droptail`` when every mirrored link has that queue, else ``mixed``."""
    kinds = {l.queue for l in mirror(sc)[1]}
    return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass
class Report:
    """``cases``: one row per case and transport model (the statistics of :func:`compare`), and
    per case one per ns-3 rerun (model ``ns3_rerun{k}``: the rerun against the first run);
    ``flows``: one row per flow and case; ``pooled``: the per-flow median |error| over all the
    cases of each queue discipline and model (``ns3_reruns``: every rerun's flows);
    ``ns3``: the version; ``wall_s``."""

    cases: pd.DataFrame
    flows: pd.DataFrame
    pooled: pd.DataFrame
    ns3: str
    wall_s: float

    def table(self) -> str:
        """The per-case table and the pooled numbers as Markdown (errors in percent)."""
        return markdown_table(self.cases, self.pooled)


def validate_model(cases: list[Case], fair_disc: str = "fair", progress=None, reruns: int = 0,
                   jitter_s: float | None = None) -> Report:
    """Run every case in the simulator (both transport models) and in ns-3; compare.  With
    ``reruns``, ns-3 runs each case that many times more with its flows' starts shifted by up to
    ``jitter_s`` (:func:`rerun_specs`; default ``DEFAULT_JITTER_S``), compared with its first run.
    What ns-3 cannot be given is refused (:class:`ScenarioError`) before ns-3 runs."""
    t0 = time.perf_counter()
    if isinstance(reruns, bool) or not (isinstance(reruns, int) and 0 <= reruns <= MAX_RERUNS):
        raise InputError(f"reruns: expected a whole number from 0 to {MAX_RERUNS}, found {reruns!r}")
    if jitter_s is not None and not reruns:
        raise InputError("jitter_s: shifts the starts of ns-3's reruns; give reruns too")
    jitter_s = DEFAULT_JITTER_S if jitter_s is None else jitter_s
    if isinstance(jitter_s, bool) or not (isinstance(jitter_s, (int, float)) and math.isfinite(jitter_s)
                                          and 0 < jitter_s <= 1.0):
        raise InputError(f"jitter_s: expected seconds in (0, 1], found {jitter_s!r}")
    loaded = []
    for case in cases:
        sc = case.load()
        if case.cc not in CONGESTION_CONTROLS:
            raise InputError(f"cc: expected one of {', '.join(CONGESTION_CONTROLS)}, found {case.cc!r}")
        try:
            mirror(sc)
        except ScenarioError as e:
            raise ScenarioError(case.lines_of(e)) from None
        loaded.append((case, sc))
    require()
    prepared, specs = [], []
    for case, sc in loaded:
        ours = {m: our_flows(sc, m) for m in MODELS}
        spec = ns3_spec(sc, case.cc, ours["fluid"], fair_disc)
        prepared.append((case, sc, ours))
        specs += [spec] + rerun_specs(spec, reruns, jitter_s, case.name)
        if progress:
            progress(f"{case.name}: simulated ({len(ours['fluid'])} flows)")
    if progress:
        progress(f"ns-3: {len(prepared)} cases" + (f", each run {reruns} more times with starts shifted by up to "
                                                   f"{jitter_s * 1e3:g} ms" if reruns else ""))
    results = run_ns3(specs)
    rows, flow_rows = [], []
    for n, (case, sc, ours) in enumerate(prepared):
        runs = results[n * (reruns + 1):(n + 1) * (reruns + 1)]
        run_specs = specs[n * (reruns + 1):(n + 1) * (reruns + 1)]
        base = ours["fluid"]
        fcts = [[math.nan if t is None else t - f["start_s"] for t, f in zip(res["finish_s"], spec["flows"])]
                for res, spec in zip(runs, run_specs)]
        theirs_f = fcts[0]
        q = queue_kind(sc)
        per_model = {}
        for m in MODELS:
            per_model[m] = ours[m].set_index("key").reindex(base["key"])["fct_s"].tolist()
        per_model |= {rerun_model(k): fcts[k] for k in range(1, reruns + 1)}
        for m, mine in per_model.items():
            stats = compare(base["start_s"].tolist(), mine, theirs_f)
            rows.append({"case": case.name, "cc": case.cc, "queue": q, "model": m, **stats,
                         "ns3_drops": runs[0]["drops"], "ns3_run_s": runs[0]["run_s"]})
        for i, key in enumerate(base["key"]):
            flow_rows.append({"case": case.name, "cc": case.cc, "queue": q, "flow": key,
                              "start_s": base["start_s"][i], "size_bytes": base["size_bytes"][i],
                              "ns3_fct_s": theirs_f[i],
                              **{f"{m}_fct_s": per_model[m][i] for m in per_model},
                              **{f"{m}_error": errors([per_model[m][i]], [theirs_f[i]])[0] for m in per_model}})
    cases_df, flows_df = pd.DataFrame(rows), pd.DataFrame(flow_rows)
    return Report(cases_df, flows_df, pooled(flows_df), results[0]["ns3"] if results else "", time.perf_counter() - t0)


RERUNS = "ns3_reruns"  # the pooled row of ns-3's reruns against its first run


def reruns_of(models) -> list[str]:
    """The rerun models (:func:`rerun_model`) among the names ``models``, once each, in order."""
    names = {str(m) for m in models if re.fullmatch(RERUN + r"\d+", str(m))}
    return sorted(names, key=lambda m: int(m[len(RERUN):]))


def pooled(flows: pd.DataFrame) -> pd.DataFrame:
    """Per queue discipline and transport model: the median and the 90th percentile of the
    per-flow |error| over every flow of every case, and the flows counted; with reruns, a row
    ``ns3_reruns`` pools every rerun's flows against ns-3's first run."""
    rows = []
    reruns = reruns_of(c[:-len("_error")] for c in flows.columns if c.endswith("_error"))
    for q, g in flows.groupby("queue", sort=True):
        for m in MODELS + ((RERUNS,) if reruns else ()):
            cols = [f"{r}_error" for r in reruns] if m == RERUNS else [f"{m}_error"]
            e = pd.concat([g[c] for c in cols]).abs().dropna()
            rows.append({"queue": q, "model": m, "flows": len(e), "median": e.median() if len(e) else math.nan,
                         "p90": e.quantile(0.9) if len(e) else math.nan})
    return pd.DataFrame(rows)


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.2f}" if x < 0 else \
        f"{100 * x:.2f}"


def markdown_table(cases: pd.DataFrame, pooled_df: pd.DataFrame) -> str:
    """Per case: flows, then for each model the median and max per-flow |error|, the mean
    FCT error and the makespan error, in percent; with reruns, the median over them of ns-3's
    per-flow median |error| against its first run and the range of their makespan errors; then
    the pooled medians."""
    head = ["case", "cc", "queue", "flows"]
    for m in MODELS:
        head += [f"{m} median", f"{m} max", f"{m} mean FCT", f"{m} makespan"]
    reruns = reruns_of(cases["model"])
    if reruns:
        head += [f"ns-3 x{len(reruns)} median", f"ns-3 x{len(reruns)} makespan"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, cc, q), g in cases.groupby(["case", "cc", "queue"], sort=False):
        g = g.set_index("model")
        cells = [name, cc, q, str(int(g.loc["fluid", "flows"]))]
        for m in MODELS:
            cells += [_pct(g.loc[m, k]) for k in ("median", "max", "mean_fct", "makespan")]
        if reruns:
            r = g.loc[reruns]
            cells += [_pct(r["median"].median()), f"{_pct(r['makespan'].min())} to {_pct(r['makespan'].max())}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| queue | model | flows | pooled median | p90 |", "|---|---|---|---|---|"]
    for _, r in pooled_df.iterrows():
        lines.append(f"| {r['queue']} | {r['model']} | {r['flows']} | {_pct(r['median'])} | {_pct(r['p90'])} |")
    return "\n".join(lines) + "\n"


def write(report: Report, out: Path) -> list[Path]:
    """``cases.csv``, ``flows.csv`` and ``report.md`` (the table, the ns-3 version, the date) in ``out``."""
    import datetime as dt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "cases.csv", out / "flows.csv", out / "report.md"]
    report.cases.to_csv(paths[0], index=False)
    report.flows.to_csv(paths[1], index=False)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    paths[2].write_text(f"# ns-3 cross-check\n\nns-3 {report.ns3} (PyPI `ns3`), {stamp}; per-flow completion-time "
                        f"error of the simulator against ns-3, percent (positive: the simulator is slower).\n\n"
                        + report.table())
    return paths
