"""The only place that wires entities together from a :class:`~sim.config.Scenario`.

Topology is a networkx graph: access points and servers are nodes, backhaul links
are edges weighted by latency.  Each access point has its own directed uplink and
downlink shared by every device attached to it.  Routes from every access point
to every server are computed once here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import simpy

from sim import simclock
from sim.config import EarlyExit, Scenario, TimingRef
from sim.entities.device import DeviceGroup, GroupParams
from sim.entities.drift import ConditionSchedule, schedule_of
from sim.entities.energy import DeviceEnergy, JobEnergy, LinkEnergy
from sim.entities.flowlog import FlowLog
from sim.entities.link import DirectedLink, Network
from sim.entities.offload import OffloadTarget, service_times
from sim.entities.outcomes import EarlyExitSampler, WholeModelSampler
from sim.entities.selection import Selector
from sim.entities.updates import RecordSurface, UpdateController, UpdateParams, UpdateState
from sim.entities.server import Server
from sim.entities.traffic import TrafficSource
from sim.entities.transport import Transport
from sim.entities.wireless import (CapacitySeries, DeviceRadio, load_capacity_trace, start_capacity, start_fading,
                                   start_offset, unit_rate)
from sim import radio as radio_model
from sim.recorder import Recorder
from sim.rng import Streams
from sim.traces import (AccuracyTrace, AdaptationSurface, ExitRecords, Payloads, TimingDistribution, TimingTrace,
                        TraceError, load_accuracy, load_adaptation, load_exits, load_payloads, load_timings)
from sim.errors import BuildError  # noqa: F401  (defined with the other errors; importable from here too)


@dataclass(frozen=True)
class LoadedTraces:
    accuracy: AccuracyTrace | None
    timings: dict[str, TimingTrace]  # by path as written in the scenario
    exits: dict[str, ExitRecords]
    surfaces: dict[str, AdaptationSurface] = None
    payloads: dict[str, Payloads] = None  # payload traces (updates.architecture), by path
    capacity: dict[str, CapacitySeries] = None  # capacity traces (access points' and links' capacity_trace), by path
    base_dir: Path | None = None  # where the scenario's paths are relative to (radio placement files)

    def timing(self, ref: TimingRef) -> TimingDistribution:
        return self.timings[ref.trace].get(ref.model, ref.segment, ref.batch_size)

    def blocks(self, ee: EarlyExit) -> tuple[TimingDistribution, TimingDistribution, TimingDistribution]:
        """The main, adaptive and extension blocks' times: measured at ``ee.precision`` where the
        timing trace has entries at it (int8), else the fp32 entries."""
        t = self.timings[ee.timing]
        return tuple(t.measured_at(ee.model, seg, ee.batch_size, ee.precision)
                     for seg in ("main", "adaptive", "extension"))

    def model_accuracy(self, model: str) -> float | None:
        return None if self.accuracy is None or model not in self.accuracy.top1 else self.accuracy.accuracy(model)


def load_traces(scenario: Scenario, base_dir: Path) -> LoadedTraces:
    """Load every trace the scenario references (paths relative to ``base_dir``) and check
    that each referenced model, segment and condition exists.  Raises :class:`BuildError`."""
    timings: dict[str, TimingTrace] = {}
    exits: dict[str, ExitRecords] = {}
    surfaces: dict[str, AdaptationSurface] = {}
    payloads: dict[str, Payloads] = {}

    def load(field: str, rel: str, loader, cache=None):
        if cache is not None and rel in cache:
            return cache[rel]
        try:
            value = loader(base_dir / rel)
        except TraceError as e:
            raise BuildError(field, str(e)) from None
        if cache is not None:
            cache[rel] = value
        return value

    def check(field: str, fn) -> None:
        try:
            fn()
        except TraceError as e:
            raise BuildError(field, e.message) from None

    accuracy = None
    if scenario.traces.accuracy is not None:
        accuracy = load("traces.accuracy", scenario.traces.accuracy, load_accuracy)
    for i, g in enumerate(scenario.device_groups):
        f = f"device_groups[{i}]"
        if g.compute is not None:
            t = load(f"{f}.compute.trace", g.compute.trace, load_timings, timings)
            check(f"{f}.compute", lambda: t.get(g.compute.model, g.compute.segment, g.compute.batch_size))
            if g.updates is None:
                check(f"{f}.model", lambda: accuracy.accuracy(g.model))
        else:
            ee = g.early_exit
            t = load(f"{f}.early_exit.timing", ee.timing, load_timings, timings)
            for seg in ("main", "adaptive", "extension"):
                check(f"{f}.early_exit.model", lambda: t.measured_at(ee.model, seg, ee.batch_size, ee.precision))
            rec = load(f"{f}.early_exit.records", ee.records, load_exits, exits)
            if ee.drift is None:
                check(f"{f}.early_exit.condition", lambda: rec.condition(ee.condition.corruption, ee.condition.severity))
            else:
                for key in _drift_keys(ee.drift):
                    check(f"{f}.early_exit.drift", lambda: rec.condition(*_split(key)))
                sizes = {key: len(rec.condition(*_split(key))) for key in _drift_keys(ee.drift)}
                if len(set(sizes.values())) > 1:
                    raise BuildError(f"{f}.early_exit.drift", f"{ee.records} has different numbers of records "
                                                              f"per condition ({sizes}); a drifting group needs equal")
            check(f"{f}.early_exit.precision", lambda: [rec.condition(*_split(k), ee.precision) for k in _ee_keys(ee)])
            if g.updates is not None:  # a version adapted to each condition the group sees: adapted records
                where = f"{f}.early_exit.condition" if ee.drift is None else f"{f}.early_exit.drift"
                for key in _ee_keys(ee):
                    check(where, lambda: rec.adapted_grid(key))
                check(f"{f}.updates.job.batch_size", lambda: [t.get(ee.model, seg, g.updates.job.batch_size)
                                                              for seg in ("main", "adaptive", "extension")])
        if g.updates is not None and g.early_exit is None:
            u = g.updates
            surf = load(f"{f}.updates.surface", u.surface, load_adaptation, surfaces)
            if u.architecture is not None:
                pt = load(f"{f}.updates.architecture.trace", u.architecture.trace, load_payloads, payloads)
                check(f"{f}.updates.architecture.model", lambda: pt.get(u.architecture.model))
            d = u.drift
            keys = ([(f"{f}.updates.drift.segments[{k}]", x.key) for k, x in enumerate(d.segments)]
                    + [(f"{f}.updates.drift.switching.conditions[{k}]", c.key)
                       for k, c in enumerate(d.switching.conditions if d.switching else [])]
                    + [(f"{f}.updates.drift.shares[{k}]", x.key) for k, x in enumerate(d.shares)])
            for where, key in keys:
                if key not in surf.accuracy:
                    raise BuildError(where, f"no adaptation surface for {key} in {u.surface} "
                                            f"(has: {', '.join(surf.conditions())})")
            offloads = scenario.routing_of(g).targets()
            if scenario.policies.allocation.kind == "distributed" or offloads:
                missing = [k for _, k in keys if k not in surf.teacher]
                if missing:
                    why = "the distributed baseline" if not offloads else "offloaded inputs, served by the large model"
                    raise BuildError(f"{f}.updates.surface", f"{u.surface} has no edge-model accuracy for {missing[0]} "
                                                             f"(needed by {why}; regenerate it)")
            jt = load(f"{f}.updates.job.trace", u.job.trace, load_timings, timings)  # a whole model's job
            check(f"{f}.updates.job.teacher", lambda: jt.get(u.job.teacher, u.job.teacher_segment, u.job.batch_size))
            check(f"{f}.updates.job.student", lambda: jt.get(u.job.student, u.job.student_segment, u.job.batch_size))
    # servers that whole-model devices without updates offload to: their model's accuracy is needed
    # (a group with updates is served by its adaptation surface's large model)
    simple_targets = {t for g in scenario.device_groups if g.compute is not None and g.updates is None
                      for _, t in scenario.routing_of(g).targets()}
    # the model a server runs must be the one whose measurements score the inputs it serves
    served_by: dict[str, list[tuple[str, str, str]]] = {}  # server -> (needed model, by whom, measured where)
    distributed = scenario.policies.allocation.kind == "distributed"
    for g in scenario.device_groups:
        names = {t for _, t in scenario.routing_of(g).targets()}
        if g.early_exit is not None:
            cloud = exits[g.early_exit.records].network.get("cloud_model")
            for n in names:
                served_by.setdefault(n, []).append((cloud, f"early-exit group {g.name!r}", g.early_exit.records))
        elif g.updates is not None:  # a whole model's updates: offloaded inputs meet the surface's teacher
            teacher = surfaces[g.updates.surface].setup["teacher"]
            for n in names | ({g.updates.edge} if distributed else set()):
                served_by.setdefault(n, []).append((teacher, f"group {g.name!r} (with updates)", g.updates.surface))
    for i, s in enumerate(scenario.servers):
        for need, who, where in served_by.get(s.name, []):
            if need is not None and s.model != need:
                raise BuildError(f"servers[{i}].model", f"{s.model!r}, but it serves {who}, whose accuracy "
                                                        f"{where} measured on {need!r}")
    for i, g in enumerate(scenario.device_groups):
        if g.early_exit is not None:
            main = exits[g.early_exit.records].network.get("main_model")
            if main is not None and g.early_exit.model != main:
                raise BuildError(f"device_groups[{i}].early_exit.model", f"{g.early_exit.model!r}, but the exit "
                                 f"records {g.early_exit.records} were measured on {main!r}")
        if g.updates is not None and "model" in g.model_fields_set:
            student = surfaces[g.updates.surface].setup["student"]
            if g.model != student:
                raise BuildError(f"device_groups[{i}].model", f"{g.model!r}, but {g.updates.surface} measured the "
                                                              f"updated model on {student!r}")
    for i, s in enumerate(scenario.servers):
        t = load(f"servers[{i}].compute.trace", s.compute.trace, load_timings, timings)
        check(f"servers[{i}].compute", lambda: t.get(s.compute.model, s.compute.segment, s.compute.batch_size))
        if s.name in simple_targets:
            if accuracy is None:
                raise BuildError("traces.accuracy", f"required: whole-model devices offload to server {s.name!r}")
            check(f"servers[{i}].model", lambda: accuracy.accuracy(s.model))
    for i, g in enumerate(scenario.device_groups):  # a placement file: read now, to name its field
        if g.placement is not None and g.placement.kind == "file":
            load(f"device_groups[{i}].placement.path", g.placement.path, radio_model.load_positions)
    capacity: dict[str, CapacitySeries] = {}
    owners = [(f"access_points[{i}]", a, a.radio is not None) for i, a in enumerate(scenario.access_points)]
    owners += [(f"links[{i}]", x, False) for i, x in enumerate(scenario.links)]
    for where, owner, radio in owners:
        if owner.capacity_trace is None:
            continue
        series = load(f"{where}.capacity_trace.path", owner.capacity_trace.path, load_capacity_trace, capacity)
        want = "snr_offset_db" if radio else "capacity_bps"
        if series.kind != want:
            raise BuildError(f"{where}.capacity_trace.path",
                             f"{owner.capacity_trace.path} gives {series.kind}, but "
                             + ("a radio access point's rates follow its devices' SNR: give snr_offset_db" if radio
                                else "a fixed-rate access point or link needs capacity_bps"))
    return LoadedTraces(accuracy, timings, exits, surfaces, payloads, capacity, base_dir)


@dataclass
class Model:
    env: simpy.Environment
    network: Network
    servers: list[Server]
    groups: list[DeviceGroup]
    recorder: Recorder
    updates: list = None


def topology(scenario: Scenario) -> nx.Graph:
    g = nx.Graph()
    for ap in scenario.access_points:
        g.add_node(ap.name, kind="access_point")
    for s in scenario.servers:
        g.add_node(s.name, kind=s.tier)
    for n in scenario.nodes:
        g.add_node(n.name, kind="node")
    for link in scenario.links:
        g.add_edge(*link.between, name=link.name, latency_s=link.latency_s)
    return g


def build(scenario: Scenario, traces: LoadedTraces, streams: Streams, sink=None, tracer=None,
          flow_sink=None) -> Model:
    """The model of one run.  ``sink`` (optional) receives per-request rows (:class:`Recorder`);
    ``flow_sink`` (optional) one row per flow (:class:`sim.entities.flowlog.FlowLog`);
    ``tracer`` (optional, :class:`sim.tracing.Tracer`) records a timeline: the network and the
    servers are then its observed subclasses, and the groups report to it."""
    env = simclock.Environment()
    links: list[DirectedLink] = []
    ap_links = {}
    aps = {ap.name: ap for ap in scenario.access_points}
    rates = {}  # group index -> its devices' radio rates (sim.radio.RadioRates), on radio access points
    for i, g in enumerate(scenario.device_groups):
        ap = aps[g.access_point]
        if ap.radio is not None:
            rates[i] = radio_model.device_rates(ap, g, streams[f"group/{g.name}/radio"], traces.base_dir)
    for ap in scenario.access_points:
        droptail = ap.queue == "droptail"
        if ap.radio is not None:  # a medium shared in air time: its unit rate is its fastest device's
            mine = [r for i, r in rates.items() if scenario.device_groups[i].access_point == ap.name]
            fallback = ap.radio.rate.cap_bps or ap.radio.bandwidth_hz
            up_unit = unit_rate([r.up_bps for r in mine], fallback)
            down_unit = unit_rate([r.down_bps for r in mine], fallback)
            if ap.duplex == "half":
                air = DirectedLink(f"{ap.name}.air", max(up_unit, down_unit), ap.latency_s, ap.goodput_factor,
                                   ap.flow_setup_s, droptail, airtime=ap.sharing)
                air.reverse = air
                ap_links[ap.name] = (air, air)
                links.append(air)
                continue
            up = DirectedLink(f"{ap.name}.up", up_unit, ap.latency_s, ap.goodput_factor, ap.flow_setup_s, droptail,
                              airtime=ap.sharing)
            down = DirectedLink(f"{ap.name}.down", down_unit, ap.latency_s, ap.goodput_factor, ap.flow_setup_s,
                                droptail, airtime=ap.sharing)
            up.reverse, down.reverse = down, up
            ap_links[ap.name] = (up, down)
            links += [up, down]
            continue
        if ap.duplex == "half":
            air = DirectedLink(f"{ap.name}.air", ap.uplink_bps, ap.latency_s, ap.goodput_factor, ap.flow_setup_s,
                               droptail)
            air.reverse = air  # one medium both ways
            ap_links[ap.name] = (air, air)
            links.append(air)
            continue
        up = DirectedLink(f"{ap.name}.up", ap.uplink_bps, ap.latency_s, ap.goodput_factor, ap.flow_setup_s, droptail)
        down = DirectedLink(f"{ap.name}.down", ap.downlink_bps or ap.uplink_bps, ap.latency_s, ap.goodput_factor,
                            ap.flow_setup_s, droptail)
        up.reverse, down.reverse = down, up
        ap_links[ap.name] = (up, down)
        links += [up, down]
    hop = {}
    for link in scenario.links:
        a, b = link.between
        ab_bps, ba_bps = link.capacities_bps
        droptail = link.queue == "droptail"
        hop[(a, b)] = DirectedLink(f"{link.name}.{a}>{b}", ab_bps, link.latency_s, link.goodput_factor,
                                   droptail=droptail)
        hop[(b, a)] = DirectedLink(f"{link.name}.{b}>{a}", ba_bps, link.latency_s, link.goodput_factor,
                                   droptail=droptail)
        hop[(a, b)].reverse, hop[(b, a)].reverse = hop[(b, a)], hop[(a, b)]
        links += [hop[(a, b)], hop[(b, a)]]
    network = Network(env, links) if tracer is None else tracer.network(env, links)
    if flow_sink is not None:
        network.flow_log = FlowLog(env, scenario.horizon_s, flow_sink)
    if scenario.transport.model == "tcp":
        network.transport = Transport.of(scenario.transport)
    radios = _radios(env, scenario, rates, ap_links, network, streams)
    _capacity_traces(env, scenario, traces, ap_links, hop, radios, network)
    server = Server if tracer is None else tracer.server
    servers = [server(env, s.name, s.workers, s.scheduling.priority) for s in scenario.servers]
    recorder = Recorder([l.name for l in links], [s.name for s in scenario.servers], scenario.horizon_s,
                        scenario.metrics.window_s, sink)

    graph = topology(scenario)
    targets_by_ap: dict[str, dict[str, OffloadTarget]] = {ap.name: {} for ap in scenario.access_points}
    wanted = {(g.access_point, t) for g in scenario.device_groups for _, t in scenario.routing_of(g).targets()}
    for si, s in enumerate(scenario.servers):
        timing = traces.timing(s.compute)
        services = service_times(timing, s.compute.speed_factor, streams[f"server/{s.name}/service"])
        for ap in scenario.access_points:
            try:
                nodes = nx.shortest_path(graph, ap.name, s.name, weight="latency_s")
            except nx.NetworkXNoPath:
                if (ap.name, s.name) in wanted:
                    raise BuildError("links", f"no route from access point {ap.name!r} to server {s.name!r}") from None
                continue
            up_links, down_links = ap_links[ap.name]
            up = (up_links, *[hop[(a, b)] for a, b in zip(nodes, nodes[1:])])
            down = (*[hop[(b, a)] for a, b in reversed(list(zip(nodes, nodes[1:])))], down_links)
            targets_by_ap[ap.name][s.name] = OffloadTarget(
                si, servers[si], up, down, Network.path_latency_s(up), Network.path_latency_s(down),
                timing, s.compute.speed_factor, services, traces.model_accuracy(s.model),
                JobEnergy.of(s.energy, timing.macs), ap=ap.name)

    groups, states = [], {}
    for i, g in enumerate(scenario.device_groups):
        groups.append(_group(env, i, g, scenario, traces, targets_by_ap, streams, states, network, recorder, tracer,
                             radios.get(i), _link_energy(g, aps[g.access_point], rates.get(i), radios.get(i))))
    controllers = []
    # the controllers plan payload bits: the access point's rate (its unit rate on a radio medium) times its
    # goodput factor and, under the tcp transport, the payload's share of the wire (with the ACKs on one medium)
    for (ap, edge, _), sts in states.items():
        first, last = ap_links[ap]
        share = 1.0 if network.transport is None else network.transport.payload_share(first is last)
        controllers.append(UpdateController(
            env, sts, scenario.policies.allocation, network, targets_by_ap[ap][edge],
            (aps[ap].uplink_bps if aps[ap].radio is None else first.nominal_bps) * first.goodput * share,
            streams[f"edge/{edge}/{ap}/jobs"], recorder))
    for ap in scenario.access_points:
        for start, end in ap.outages:
            env.process(_outage(env, network, set(ap_links[ap.name]), start, end))
    for i, t in enumerate(scenario.traffic):
        path = traffic_path(graph, ap_links, hop, t.src, t.dst, f"traffic[{i}]")
        TrafficSource(env, network, recorder, t, path, scenario.horizon_s, streams[f"traffic/{t.name}/arrivals"],
                      streams[f"traffic/{t.name}/size"])
    env.process(_sampler(env, scenario.metrics.window_s, network, servers, recorder))
    model = Model(env, network, servers, groups, recorder, [s for sts in states.values() for s in sts])
    if tracer is not None:
        tracer.attach(model, scenario)
    return model


def traffic_path(graph: nx.Graph, ap_links: dict, hop: dict, src: str, dst: str, where: str) -> tuple:
    """The links of the lowest-latency route from node ``src`` to node ``dst``: a flow from an
    access point starts on its uplink, a flow to one ends on its downlink (as a device's would)."""
    try:
        nodes = nx.shortest_path(graph, src, dst, weight="latency_s")
    except nx.NetworkXNoPath:
        raise BuildError(f"{where}.dst", f"no route from {src!r} to {dst!r}") from None
    path = [hop[(a, b)] for a, b in zip(nodes, nodes[1:])]
    if src in ap_links:
        path.insert(0, ap_links[src][0])
    if dst in ap_links:
        path.append(ap_links[dst][1])
    return tuple(path)


def finish(model: "Model") -> None:
    """At the horizon: the groups pass what is left before it; the recorder sums what it holds."""
    for g in model.groups:
        g.finish()
    model.recorder.finish()


def _radios(env, scenario: Scenario, rates: dict, ap_links: dict, network: Network, streams) -> dict:
    """Per group on a radio access point: its devices' channels, with their fading started."""
    radios = {}
    for i, r in rates.items():
        g = scenario.device_groups[i]
        ap = next(a for a in scenario.access_points if a.name == g.access_point)
        up, down = ap_links[ap.name]
        radio = ap.radio
        radios[i] = DeviceRadio(up, down, r.up_bps, r.down_bps, r.snr_up_db, r.snr_down_db,
                                lambda snr, _up, radio=radio: radio_model.rate_bps(snr, radio))
        if g.fading is not None:
            f, stream = g.fading, streams[f"group/{g.name}/fading"]
            start_fading(env, network, radios[i], lambda n, f=f, stream=stream: radio_model.fading_gains(
                f.model, f.k_factor or 0.0, n, stream), f.coherence_s, scenario.horizon_s)
    return radios


def _capacity_traces(env, scenario: Scenario, traces: LoadedTraces, ap_links: dict, hop: dict, radios: dict,
                     network: Network) -> None:
    """Start each access point's and link's capacity trace (its first value at once)."""
    for ap in scenario.access_points:
        tr = ap.capacity_trace
        if tr is None:
            continue
        series = traces.capacity[tr.path]
        if ap.radio is not None:
            mine = [radios[i] for i, g in enumerate(scenario.device_groups) if g.access_point == ap.name]
            start_offset(env, network, mine, series, tr.at_end, scenario.horizon_s)
            continue
        up, down = ap_links[ap.name]
        pairs = [(up, 1.0)] if up is down else [(up, 1.0), (down, down.nominal_bps / up.nominal_bps)]
        start_capacity(env, network, pairs, series, tr.at_end, scenario.horizon_s)
    for link in scenario.links:
        tr = link.capacity_trace
        if tr is not None:
            a, b = link.between
            ab, ba = hop[(a, b)], hop[(b, a)]
            start_capacity(env, network, [(ab, 1.0), (ba, ba.nominal_bps / ab.nominal_bps)],
                           traces.capacity[tr.path], tr.at_end, scenario.horizon_s)


def _link_energy(g, ap, rates, radio=None) -> LinkEnergy | None:
    """The air-time radio energy of group ``g`` (None: the per-bit model): each device's payload
    rates, its own on a radio access point (at each transfer's start when they vary: fading or
    an SNR trace), the access point's declared one on a fixed-rate one."""
    energy = DeviceEnergy.of(g.energy)
    if not energy.airtime:
        return None
    if rates is not None:
        varies = g.fading is not None or ap.capacity_trace is not None
        return LinkEnergy(energy, ap.goodput_factor * rates.up_bps, ap.goodput_factor * rates.down_bps,
                          (radio.up, radio.down) if varies else None, ap.goodput_factor)
    down = ap.uplink_bps if ap.duplex == "half" else (ap.downlink_bps or ap.uplink_bps)
    return LinkEnergy(energy, ap.goodput_factor * ap.uplink_bps, ap.goodput_factor * down)


def _group(env, i, g, scenario, traces, targets_by_ap, streams, states, network, recorder, tracer=None,
           radio=None, link_energy=None) -> DeviceGroup:
    """Device group ``i``: its typed parameters, outcome sampler and driver; ``radio``: its
    devices' channels on a radio access point; ``link_energy``: its air-time radio energy."""
    energy = DeviceEnergy.of(g.energy, "fp32" if g.early_exit is None else g.early_exit.precision)
    params = GroupParams(i, g.name, g.count, g.arrivals.process, g.arrivals.rate_hz, g.input_bytes, g.result_bytes)
    prefix = f"group/{g.name}/"
    policy = scenario.routing_of(g)
    if g.early_exit is not None and hasattr(policy, "for_classes"):  # an entropy threshold as a fraction of ln C
        policy = policy.for_classes(traces.exits[g.early_exit.records].classes)
    reach = targets_by_ap[g.access_point]
    names = {t for _, t in policy.targets()} | ({g.updates.edge} if g.updates is not None else set())
    varies = link_energy is not None and link_energy.channels is not None  # each offload at its rates
    radio_j = (energy.radio_j(g.input_bytes, g.result_bytes) if link_energy is None
               else None if varies else link_energy.per_offload(g.input_bytes, g.result_bytes))
    record = recorder.group(g.count, g.input_bytes, g.result_bytes, radio_j,
                            [reach[n].index for n in names if n in reach], g.deadline_s)
    rule = getattr(policy, "target", None)
    if rule is None:
        target = None
    elif isinstance(rule, str):
        target = reach[rule]
    else:
        target = Selector(rule, [reach[n] for n in rule.among], g.input_bytes, g.result_bytes, radio)
    select_rng = streams[prefix + "select"] if rule is not None and not isinstance(rule, str) and rule.uniforms else None
    common = dict(network=network, record=record, policy=policy, target=target,
                  arrival_rng=streams[prefix + "arrivals"], horizon_s=scenario.horizon_s,
                  driver=scenario.fidelity.mode, tracer=tracer, radio=radio,
                  air_energy=link_energy if varies else None)
    if g.early_exit is not None:
        ee = g.early_exit
        exits = traces.exits[ee.records]
        keys = _ee_keys(ee)
        fixed = keys[0] if ee.drift is None and g.updates is None else None
        sets = {k: exits.condition(*_split(k), ee.precision) for k in keys}
        if g.updates is not None:  # and the records of the blocks adapted to each condition
            sets |= {f"{k}@{n}": exits.adapted[k][n] for k in keys for n in exits.adapted_grid(k)}
        sampler = EarlyExitSampler(traces.blocks(ee), ee.speed_factor, sets, policy, energy,
                                   streams[prefix + "correct"], streams[prefix + "service"], select_rng, fixed,
                                   # per input in the trace; the block entries' MACs are of a batch
                                   tuple(ee.batch_size * m for m in exits.float_macs.get(ee.precision, (0.0,) * 3)))
        if g.updates is not None:  # the update loop owns the one drift process; the group follows it
            st, edge = _update_state(env, i, g, traces, targets_by_ap, streams, states,
                                     RecordSurface(exits, sampler, keys), radio, link_energy)
            return DeviceGroup(env, params, sampler, updates=st, edge_target=edge, drift=st.schedule, **common)
        if ee.drift is None:
            return DeviceGroup(env, params, sampler, **common)
        schedule = ConditionSchedule(env, *schedule_of(ee.drift), streams[prefix + "drift"],
                                     before=lambda: None, after=lambda: None)
        group = DeviceGroup(env, params, sampler, drift=schedule, **common)
        schedule.before, schedule.after = group.before_change, group.after_drift
        return group
    sampler = WholeModelSampler(traces.timing(g.compute), g.compute.speed_factor, energy, streams[prefix + "routing"],
                                streams[prefix + "correct"], streams[prefix + "service"], select_rng)
    if g.updates is not None:
        st, edge = _update_state(env, i, g, traces, targets_by_ap, streams, states, None, radio, link_energy)
        return DeviceGroup(env, params, sampler, updates=st, edge_target=edge, **common)
    return DeviceGroup(env, params, sampler, accuracy=traces.accuracy.accuracy(g.model), **common)


def _drift_keys(drift) -> list[str]:
    """The condition keys a drift schedule visits, in order of first appearance."""
    keys = [x.key for x in drift.segments] + [c.key for c in (drift.switching.conditions if drift.switching else [])]
    return list(dict.fromkeys(keys))


def _ee_keys(ee: EarlyExit) -> list[str]:
    """The condition keys an early-exit group sees: its fixed condition, or its drift's."""
    return [ee.condition.key] if ee.drift is None else _drift_keys(ee.drift)


def _split(key: str) -> tuple[str, int]:
    corruption, severity = key.split("/")
    return corruption, int(severity)


def _update_state(env, i, g, traces, targets_by_ap, streams, states, records=None, radio=None, link_energy=None):
    """The update-loop state of group ``g``, registered with its access point's controller;
    ``records``: an early-exit group's RecordSurface (its drift is ``early_exit``'s, its edge
    job the statistics pass over its own blocks: main, then main + adaptive + extension)."""
    if g.updates.edge not in targets_by_ap[g.access_point]:
        raise BuildError(f"device_groups[{i}].updates.edge",
                         f"no route from access point {g.access_point!r} to server {g.updates.edge!r}")
    job = g.updates.job
    if records is None:
        jt = traces.timings[job.trace]
        params = UpdateParams.of(g.count, g.updates, g.energy)
        if g.updates.architecture is not None:  # unit payloads from the architecture's tensors
            arch = g.updates.architecture
            params = dataclasses.replace(params, architecture=traces.payloads[arch.trace].get(arch.model))
        surface, parts = traces.surfaces[g.updates.surface], (
            jt.get(job.teacher, job.teacher_segment, job.batch_size), jt.get(job.student, job.student_segment,
                                                                              job.batch_size))
    else:
        ee = g.early_exit
        t = traces.timings[ee.timing]
        main, adaptive, extension = (t.get(ee.model, seg, job.batch_size) for seg in ("main", "adaptive", "extension"))
        params = UpdateParams.of(g.count, g.updates, g.energy, ee.drift if ee.drift is not None else ee.condition)
        surface, parts = records, (main, main, adaptive, extension)
    st = UpdateState(env, i, params, surface, streams[f"group/{g.name}/drift"], parts)
    st.name = g.name
    st.radio, st.link_energy = radio, link_energy
    states.setdefault((g.access_point, g.updates.edge, g.updates.period_s), []).append(st)
    return st, targets_by_ap[g.access_point][g.updates.edge]


def _outage(env, network: Network, links: set, start_s: float, end_s: float):
    yield env.timeout(start_s)
    for link in links:
        network.set_up(link, False)
    yield env.timeout(end_s - start_s)
    for link in links:
        network.set_up(link, True)


def _sampler(env, window_s: float, network: Network, servers: list[Server], recorder: Recorder):
    """Record cumulative link and server counters at every window boundary."""
    k = 0
    while True:
        network.advance()
        for s in servers:
            s.advance()
        recorder.sample(env.now, [l.delivered_bits for l in network.links], [s.queue_area for s in servers],
                        [s.busy_area for s in servers], [s.in_system for s in servers])
        k += 1
        yield env.timeout(k * window_s - env.now)
