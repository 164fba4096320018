"""Every setting counts: each field of the scenario schema, changed, changes the results
(summary or timeline), or is listed in EXEMPT with the reason it cannot.  A field added to
the schema without an entry here fails ``test_every_field_is_audited``.  Fields that
cannot change a given scenario are rejected (tests/cli/test_bad_input.py,
``sim.config.unused_settings``)."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from sim import metrics
from sim.build import load_traces
from sim.config import Scenario
from sim.runner import run
from sim.scenario_io import apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
UPD = ROOT / "scenarios" / "bandwidth_allocation.yaml"
EE = ROOT / "scenarios" / "early_exit.yaml"
SEL = ROOT / "scenarios" / "server_selection.yaml"
RADIO = ROOT / "tests" / "data" / "cross_mode" / "radio_cell.yaml"  # a radio access point (docs/wireless.md)
BASE = {TINY: {"horizon_s": 40}, UPD: {"horizon_s": 120, "device_groups.0.count": 6},
        EE: {"horizon_s": 40, "device_groups.0.count": 40}, SEL: {"horizon_s": 10, "device_groups.0.count": 100},
        RADIO: {"horizon_s": 30}}
T = "../traces/timings_cpu.json"
SEG = [{"start_s": 0, "corruption": "gaussian_noise", "severity": 3},
       {"start_s": 60, "corruption": "impulse_noise", "severity": 4}]
SW = {"mean_holding_s": 30, "conditions": [{"corruption": "gaussian_noise", "severity": 3},
                                           {"corruption": "pixelate", "severity": 4}]}
SH = {"device_groups.0.updates.drift": {"shares": [{"corruption": "gaussian_noise", "severity": 3, "share": 0.25},
                                                   {"corruption": "pixelate", "severity": 4, "share": 0.75}]}}
OFF = {"policies.routing": {"kind": "offload_fraction", "fraction": 0.5, "target": "edge"}}
TIME = {"servers.0.energy": {"compute_model": "time", "active_power_w": 30.0}}
BUSY = {"access_points.0.uplink_bps": 1e8, "device_groups.0.arrivals.rate_hz": 10}
ARCH = {"device_groups.0.updates.architecture": {"trace": "../traces/payloads.json", "model": "resnet18"}}
LOADED = {"policies.routing.target": {"select": "least_loaded", "among": ["edge_a", "edge_b"]}}
# explicit topology and traffic (docs/network.md): hosts h1 -- h2 -- edge beside tiny's ap1 -- edge
NET = {"nodes": [{"name": "h1"}, {"name": "h2"}],
       "links.1": {"name": "x", "between": ["h1", "h2"], "bandwidth_bps": 1e6, "latency_s": 0.001},
       "links.2": {"name": "y", "between": ["h2", "edge"], "bandwidth_bps": 1e8, "latency_s": 0.001}}
ONE = {**NET, "traffic": [{"name": "f", "src": "h1", "dst": "h2", "start_s": 1, "size_bytes": 500_000}]}
BG_FLOW = {"name": "bg", "src": "h1", "dst": "h2", "process": "poisson", "rate_hz": 2, "size_bytes": 20_000}
BG = {**NET, "traffic": [BG_FLOW]}
BG_SIZED = {**NET, "traffic": [{**{k: v for k, v in BG_FLOW.items() if k != "size_bytes"},
                                "size": {"distribution": "exponential", "mean_bytes": 20_000}}]}
ASYM = {"links.1": {"name": "x", "between": ["h1", "h2"], "bandwidth_ab_bps": 1e6, "bandwidth_ba_bps": 1e6}}
TCP = {"transport": {"model": "tcp"}}
# a long flow from ap1 beside the devices' inputs, its round trip 200 ms longer than theirs
CROSS = {**NET, "links.2.latency_s": 0.1, "traffic": [{"name": "f", "src": "ap1", "dst": "h2", "start_s": 1,
                                                       "size_bytes": 2_000_000}]}

# the fields that need no test, and why
EXEMPT = {
    "Scenario.description": "documentation; copied to the results' metadata",
    "Fidelity.mode": "both drivers give the same answers by design (tests/validation/test_cross_mode.py); "
                     "the summary records which ran",
    # blocks: every field inside them is audited
    **{f"{c}.{f}": "a block: its fields are audited" for c, fs in {
        "Scenario": ("traces", "access_points", "links", "servers", "device_groups", "policies", "metrics",
                     "fidelity", "nodes", "traffic", "transport"),
        "DeviceGroup": ("compute", "early_exit", "arrivals", "energy", "updates"),
        "Updates": ("job", "drift"), "Server": ("compute", "energy"), "EarlyExit": ("condition",),
        "Drift": ("segments", "switching", "shares"), "DriftSwitching": ("conditions",)}.items() for f in fs},
}

# (field, scenario, overrides applied to both runs, overrides of the changed run)
CASES = [
    ("Scenario.name", TINY, {}, {"name": "tiny2"}),
    ("Scenario.horizon_s", TINY, {}, {"horizon_s": 30}),
    ("Scenario.seed", TINY, {}, {"seed": 4}),
    ("Traces.accuracy", TINY, {}, {"traces.accuracy": "@accuracy"}),
    ("Metrics.window_s", TINY, {}, {"metrics.window_s": 4}),
    ("Policies.routing", TINY, {}, {"policies.routing": {"kind": "local_only"}}),
    ("Policies.allocation", UPD, {}, {"policies.allocation": {"kind": "equal_share"}}),
    ("AccessPoint.name", TINY, {}, {"access_points.0.name": "apx", "device_groups.0.access_point": "apx",
                                    "links.0.between": ["apx", "edge"]}),
    ("AccessPoint.uplink_bps", TINY, {}, {"access_points.0.uplink_bps": 1e5}),
    ("AccessPoint.downlink_bps", TINY, {}, {"access_points.0.downlink_bps": 2e4}),
    ("AccessPoint.duplex", TINY, {}, {"access_points.0": {"name": "ap1", "uplink_bps": 2e6, "duplex": "half",
                                                          "latency_s": 0.002}}),
    ("AccessPoint.latency_s", TINY, {}, {"access_points.0.latency_s": 0.05}),
    ("AccessPoint.goodput_factor", TINY, {}, {"access_points.0.goodput_factor": 0.5}),
    ("AccessPoint.flow_setup_s", TINY, {}, {"access_points.0.flow_setup_s": 0.05}),
    ("AccessPoint.outages", TINY, {}, {"access_points.0.outages": [[10, 20]]}),
    ("Link.name", TINY, {}, {"links.0.name": "bh2"}),
    ("Link.between", SEL, {}, {"links.1.between": ["edge_a", "edge_b"]}),
    ("Link.bandwidth_bps", TINY, {}, {"links.0.bandwidth_bps": 1e4}),
    ("Link.latency_s", TINY, {}, {"links.0.latency_s": 0.1}),
    ("Link.goodput_factor", TINY, {"links.0.bandwidth_bps": 3e4}, {"links.0.goodput_factor": 0.5}),
    ("Link.bandwidth_ab_bps", TINY, {**ONE, **ASYM}, {"links.1.bandwidth_ab_bps": 2e5}),
    ("Link.bandwidth_ba_bps", TINY, {**ONE, **ASYM, "traffic.0.src": "h2", "traffic.0.dst": "h1"},
     {"links.1.bandwidth_ba_bps": 2e5}),
    ("Transport.model", TINY, {}, {"transport": {"model": "fluid"}}),
    ("Transport.mss_bytes", TINY, TCP, {"transport.mss_bytes": 500}),
    ("Transport.header_bytes", TINY, TCP, {"transport.header_bytes": 100}),
    ("Transport.setup_rtts", TINY, TCP, {"transport.setup_rtts": 0}),
    ("Transport.initial_window_segments", TINY, TCP, {"transport.initial_window_segments": 1}),
    ("Transport.ack_every_segments", TINY, TCP, {"transport.ack_every_segments": 1}),
    # a 2 MB flow with a 200 ms round trip: its slow start stalls, more when the window grows by 1.5 per round trip
    ("Transport.byte_counting", TINY, {**CROSS, **TCP}, {"transport.byte_counting": True}),
    ("AccessPoint.queue", TINY, CROSS, {"access_points.0.queue": "droptail"}),
    ("Link.queue", TINY, {**CROSS, "links.0.bandwidth_bps": 1e6}, {"links.0.queue": "droptail"}),
    ("Node.name", TINY, ONE, {"nodes.0.name": "h0", "links.1.between": ["h0", "h2"], "traffic.0.src": "h0"}),
    ("Traffic.name", TINY, BG, {"traffic.0.name": "bg2"}),
    ("Traffic.src", TINY, ONE, {"traffic.0.src": "ap1"}),
    ("Traffic.dst", TINY, ONE, {"traffic.0.dst": "edge"}),
    ("Traffic.process", TINY, ONE, {"traffic.0.process": "poisson", "traffic.0.rate_hz": 0.5}),
    ("Traffic.start_s", TINY, ONE, {"traffic.0.start_s": 20}),
    ("Traffic.size_bytes", TINY, ONE, {"traffic.0.size_bytes": 100_000}),
    ("Traffic.size", TINY, BG, {"traffic.0": BG_SIZED["traffic"][0]}),
    ("Traffic.rate_hz", TINY, BG, {"traffic.0.rate_hz": 4}),
    ("Traffic.stop_s", TINY, BG, {"traffic.0.stop_s": 20}),
    ("FlowSize.distribution", TINY, BG_SIZED, {"traffic.0.size": {"distribution": "lognormal", "mean_bytes": 20_000,
                                                                  "sigma": 1.0}}),
    ("FlowSize.mean_bytes", TINY, BG_SIZED, {"traffic.0.size.mean_bytes": 40_000}),
    ("FlowSize.sigma", TINY, BG_SIZED, {"traffic.0.size": {"distribution": "lognormal", "mean_bytes": 20_000,
                                                          "sigma": 2.0}}),
    ("FlowSize.min_bytes", TINY, {**NET, "traffic": [{**BG_SIZED["traffic"][0], "size": {
        "distribution": "uniform", "min_bytes": 1000, "max_bytes": 50_000}}]}, {"traffic.0.size.min_bytes": 30_000}),
    ("FlowSize.max_bytes", TINY, {**NET, "traffic": [{**BG_SIZED["traffic"][0], "size": {
        "distribution": "uniform", "min_bytes": 1000, "max_bytes": 50_000}}]}, {"traffic.0.size.max_bytes": 90_000}),
    ("Server.name", TINY, {}, {"servers.0.name": "edge2", "links.0.between": ["ap1", "edge2"],
                               "policies.routing.target": "edge2"}),
    ("Server.tier", TINY, {}, {"servers.0.tier": "cloud"}),
    ("Server.workers", TINY, {"device_groups.0.arrivals.rate_hz": 40}, {"servers.0.workers": 1}),
    ("Server.model", TINY, {}, {"servers.0.model": "constant"}),
    ("Server.scheduling", TINY, {"servers.0.workers": 1, **BUSY},
     {"servers.0.scheduling": {"kind": "lifo"}}),
    ("Fifo.kind", TINY, {"servers.0.workers": 1, **BUSY,
                         "servers.0.scheduling": {"kind": "lifo"}}, {"servers.0.scheduling": {"kind": "fifo"}}),
    ("Lifo.kind", TINY, {"servers.0.workers": 1, **BUSY},
     {"servers.0.scheduling": {"kind": "lifo"}}),
    ("ShortestJobFirst.kind", TINY, {"servers.0.workers": 1, **BUSY},
     {"servers.0.scheduling": {"kind": "sjf"}}),
    ("ServerEnergy.compute_model", TINY, {}, TIME),
    ("ServerEnergy.active_power_w", TINY, TIME, {"servers.0.energy.active_power_w": 60.0}),
    ("ServerEnergy.energy_per_mac_j", TINY, {}, {"servers.0.energy.energy_per_mac_j": 1e-11}),
    ("TimingRef.trace", TINY, {}, {"device_groups.0.compute.trace": "@timings"}),
    ("TimingRef.model", TINY, {}, {"device_groups.0.compute.model": "large"}),
    ("TimingRef.segment", UPD, {}, {"device_groups.0.compute.segment": "extension"}),
    ("TimingRef.batch_size", SEL, {}, {"servers.0.compute.batch_size": 4}),
    ("TimingRef.speed_factor", TINY, {}, {"device_groups.0.compute.speed_factor": 0.01}),
    ("DeviceGroup.name", TINY, {}, {"device_groups.0.name": "cams2"}),
    ("DeviceGroup.count", TINY, {}, {"device_groups.0.count": 10}),
    ("DeviceGroup.access_point", TINY, {"access_points.1": {"name": "ap2", "uplink_bps": 1e5},
                                        "links.1": {"name": "bh2", "between": ["ap2", "edge"], "bandwidth_bps": 1e8}},
     {"device_groups.0.access_point": "ap2"}),
    ("DeviceGroup.model", TINY, {}, {"device_groups.0.model": "constant"}),
    ("DeviceGroup.input_bytes", TINY, {}, {"device_groups.0.input_bytes": 30000}),
    ("DeviceGroup.result_bytes", TINY, {}, {"device_groups.0.result_bytes": 300000}),
    ("DeviceGroup.routing", TINY, {"device_groups.1": "@second_group"},
     {"device_groups.0.routing": {"kind": "offload_all", "target": "edge"}}),
    ("DeviceGroup.deadline_s", TINY, {"access_points.0.uplink_bps": 2e5}, {"device_groups.0.deadline_s": 0.2}),
    ("Arrivals.process", TINY, {}, {"device_groups.0.arrivals.process": "periodic"}),
    ("Arrivals.rate_hz", TINY, {}, {"device_groups.0.arrivals.rate_hz": 2.0}),
    ("Energy.compute_model", EE, {}, {"device_groups.0.energy": {"compute_model": "time"}}),
    ("Energy.energy_per_mac_j", EE, {}, {"device_groups.0.energy.energy_per_mac_j": 1e-11}),
    ("Energy.active_power_w", TINY, {}, {"device_groups.0.energy.active_power_w": 5.0}),
    ("Energy.idle_power_w", TINY, {}, {"device_groups.0.energy.idle_power_w": 0.5}),
    ("Energy.radio_up_j_per_bit", TINY, {}, {"device_groups.0.energy.radio_up_j_per_bit": 1e-6}),
    ("Energy.radio_down_j_per_bit", TINY, {}, {"device_groups.0.energy.radio_down_j_per_bit": 1e-6}),
    ("EarlyExit.records", EE, {}, {"device_groups.0.early_exit.records": "@records"}),
    ("EarlyExit.timing", EE, {}, {"device_groups.0.early_exit.timing": "@timings_cpu"}),
    ("EarlyExit.drift", EE, {}, {"device_groups.0.early_exit": {
        "records": "../traces/exits_mnist.parquet", "timing": T, "speed_factor": 0.1,
        "drift": {"segments": [{"start_s": 0, "corruption": "clean", "severity": 0},
                               {"start_s": 20, "corruption": "pixelate", "severity": 5}]}}}),
    ("EarlyExit.batch_size", EE, {}, {"device_groups.0.early_exit.batch_size": 4}),
    ("EarlyExit.speed_factor", EE, {}, {"device_groups.0.early_exit.speed_factor": 1.0}),
    ("EarlyExit.precision", EE, {}, {"device_groups.0.early_exit.precision": "int8"}),
    ("Condition.corruption", EE, {}, {"device_groups.0.early_exit.condition": {"corruption": "pixelate",
                                                                              "severity": 1}}),
    ("Condition.severity", EE, {"device_groups.0.early_exit.condition": {"corruption": "pixelate", "severity": 1}},
     {"device_groups.0.early_exit.condition.severity": 5}),
    ("Updates.surface", UPD, {}, {"device_groups.0.updates.surface": "@surface"}),
    ("Updates.edge", UPD, {"servers.1": {"name": "edge2", "tier": "edge", "model": "mnist_cloud_resnet14",
                                         "compute": {"trace": T, "model": "mnist_cloud_resnet14"}},
                           "links.1": {"name": "m2", "between": ["ap", "edge2"], "bandwidth_bps": 1e9,
                                       "latency_s": 0.002},
                           "device_groups.1": "@second_camera_group"},
     {"device_groups.0.updates.edge": "edge2", "device_groups.1.updates.edge": "edge"}),
    ("Updates.period_s", UPD, {}, {"device_groups.0.updates.period_s": 20}),
    ("Updates.sample_bytes", UPD, {}, {"device_groups.0.updates.sample_bytes": 4000}),
    ("Updates.samples_per_s", UPD, {}, {"device_groups.0.updates.samples_per_s": 2}),
    ("Updates.model_bytes", UPD, {}, {"device_groups.0.updates.model_bytes": 400000}),
    ("Updates.payload_bits", UPD, {}, {"device_groups.0.updates.payload_bits": 8}),
    ("Updates.payload_bits", UPD, ARCH, {"device_groups.0.updates.payload_bits": 8}),
    ("Updates.architecture", UPD, {}, ARCH),
    ("PayloadRef.trace", UPD, ARCH, {"device_groups.0.updates.architecture.trace": "@payloads"}),
    ("PayloadRef.model", UPD, ARCH, {"device_groups.0.updates.architecture.model": "mobilenet_v2"}),
    ("EdgeJob.trace", UPD, {}, {"device_groups.0.updates.job.trace": "@timings_cpu"}),
    ("EdgeJob.teacher", UPD, {}, {"device_groups.0.updates.job.teacher": "resnet101"}),
    ("EdgeJob.teacher_segment", UPD, {}, {"device_groups.0.updates.job.teacher": "meanet_mnist",
                                          "device_groups.0.updates.job.teacher_segment": "extension"}),
    ("EdgeJob.student", UPD, {}, {"device_groups.0.updates.job.student": "resnet101",
                                  "device_groups.0.updates.job.student_segment": "full"}),
    ("EdgeJob.student_segment", UPD, {}, {"device_groups.0.updates.job.student_segment": "extension"}),
    ("EdgeJob.batch_size", UPD, {}, {"device_groups.0.updates.job.batch_size": 1}),
    ("EdgeJob.train_factor", UPD, {}, {"device_groups.0.updates.job.train_factor": 300.0}),
    ("EdgeJob.epochs", UPD, {}, {"device_groups.0.updates.job.epochs": 50}),
    ("EdgeJob.speed_factor", UPD, {}, {"device_groups.0.updates.job.speed_factor": 0.01}),
    ("DriftSegment.start_s", UPD, {"device_groups.0.updates.drift": {"segments": SEG}},
     {"device_groups.0.updates.drift.segments.1.start_s": 30}),
    ("DriftSegment.corruption", UPD, {"device_groups.0.updates.drift": {"segments": SEG}},
     {"device_groups.0.updates.drift.segments.1.corruption": "pixelate"}),
    ("DriftSegment.severity", UPD, {"device_groups.0.updates.drift": {"segments": SEG}},
     {"device_groups.0.updates.drift.segments.1.severity": 1}),
    ("DriftSwitching.mean_holding_s", UPD, {"device_groups.0.updates.drift": {"switching": SW}},
     {"device_groups.0.updates.drift.switching.mean_holding_s": 5}),
    ("DriftSwitching.per_device", UPD, {"device_groups.0.updates.drift": {"switching": SW}},
     {"device_groups.0.updates.drift.switching.per_device": True}),
    ("DriftShare.share", UPD, SH, {"device_groups.0.updates.drift.shares.0.share": 0.5,
                                   "device_groups.0.updates.drift.shares.1.share": 0.5}),
    ("DriftShare.corruption", UPD, SH, {"device_groups.0.updates.drift.shares.0.corruption": "contrast"}),
    ("DriftShare.severity", UPD, SH, {"device_groups.0.updates.drift.shares.0.severity": 1}),
    ("LocalOnly.kind", TINY, {}, {"policies.routing": {"kind": "local_only"}}),
    ("OffloadAll.kind", TINY, {}, {"policies.routing": {"kind": "offload_all", "target": "edge"}}),
    ("OffloadAll.target", SEL, {"policies.routing.target": "edge_b"}, {"policies.routing.target": "edge_a"}),
    ("OffloadFraction.kind", TINY, {"policies.routing": {"kind": "local_only"}}, OFF),
    ("OffloadFraction.fraction", TINY, {}, {"policies.routing.fraction": 0.2}),
    ("OffloadFraction.target", SEL, {"policies.routing": {"kind": "offload_fraction", "target": "edge_a"}},
     {"policies.routing.target": "edge_b"}),
    ("OffloadWhenBusy.kind", TINY, {}, {"policies.routing": {"kind": "offload_when_busy", "target": "edge"}}),
    ("OffloadWhenBusy.max_backlog_s", TINY, {"device_groups.0.compute.speed_factor": 0.05,
                                             "policies.routing": {"kind": "offload_when_busy", "target": "edge"}},
     {"policies.routing.max_backlog_s": 0.5}),
    ("OffloadWhenBusy.target", SEL, {"device_groups.0.compute.speed_factor": 0.1,
                                     "policies.routing": {"kind": "offload_when_busy", "target": "edge_a"}},
     {"policies.routing.target": "edge_b"}),
    ("Meanet.kind", EE, {"policies.routing": {"kind": "device_only"}}, {"policies.routing": {"kind": "meanet"}}),
    ("Meanet.threshold_nats", EE, {}, {"policies.routing.threshold_nats": 0.3}),
    ("Meanet.threshold_fraction", EE, {}, {"policies.routing": {"kind": "meanet", "threshold_fraction": 0.1}}),
    ("Meanet.target", EE, {}, "@ee_second_cloud"),
    ("Confidence.kind", EE, {}, {"policies.routing": {"kind": "confidence"}}),
    ("Confidence.threshold", EE, {"policies.routing": {"kind": "confidence"}}, {"policies.routing.threshold": 0.5}),
    ("Confidence.target", EE, {"policies.routing": {"kind": "confidence"}}, "@ee_second_cloud"),
    ("DeviceOnly.kind", EE, {}, {"policies.routing": {"kind": "device_only"}}),
    ("MainOnly.kind", EE, {}, {"policies.routing": {"kind": "main_only"}}),
    ("CloudOnly.kind", EE, {}, {"policies.routing": {"kind": "cloud_only"}}),
    ("CloudOnly.target", EE, {"policies.routing": {"kind": "cloud_only"}}, "@ee_second_cloud"),
    ("FixedSplit.kind", UPD, {}, {"policies.allocation": {"kind": "fixed_split"}}),
    ("FixedSplit.alpha", UPD, {"policies.allocation": {"kind": "fixed_split"}, "access_points.0.uplink_bps": 1e5},
     {"policies.allocation.alpha": 0.9}),
    ("EqualShare.kind", UPD, {}, {"policies.allocation": {"kind": "equal_share"}}),
    ("UploadAll.kind", UPD, {}, {"policies.allocation": {"kind": "upload_all"}}),
    ("ModelOnly.kind", UPD, {}, {"policies.allocation": {"kind": "model_only"}}),
    ("ModelOnly.samples", UPD, {"policies.allocation": {"kind": "model_only"}}, {"policies.allocation.samples": 4}),
    ("Optimal.kind", UPD, {"policies.allocation": {"kind": "equal_share"}}, {"policies.allocation": {"kind": "optimal"}}),
    ("Optimal.quanta", UPD, {"access_points.0.uplink_bps": 2.5e5}, {"policies.allocation.quanta": 10}),
    ("Optimal.lookahead", UPD, {"access_points.0.uplink_bps": 2.5e5}, {"policies.allocation.lookahead": 1}),
    ("Cema.kind", UPD, {}, {"policies.allocation": {"kind": "cema"}}),
    ("Cema.chunk_samples", UPD, {"policies.allocation": {"kind": "cema"}}, {"policies.allocation.chunk_samples": 4}),
    ("Cema.redundancy_margin", UPD, {"policies.allocation": {"kind": "cema"}},
     {"policies.allocation.redundancy_margin": 0.05}),
    ("Cema.replay_samples", UPD, {"policies.allocation": {"kind": "cema"}}, {"policies.allocation.replay_samples": 0}),
    ("Distributed.kind", UPD, {}, {"policies.allocation": {"kind": "distributed"}}),
    ("PaperSplit.kind", UPD, {}, {"policies.allocation": {"kind": "paper_split"}}),
    ("PaperSplit.quanta", UPD, {"policies.allocation": {"kind": "paper_split"}, "access_points.0.uplink_bps": 2.5e5},
     {"policies.allocation.quanta": 10}),
    ("PaperSplit.lookahead", UPD, {"policies.allocation": {"kind": "paper_split"},
                                   "access_points.0.uplink_bps": 2.5e5}, {"policies.allocation.lookahead": 1}),
    ("Nearest.select", SEL, {}, {"policies.routing.target": {"select": "nearest", "among": ["edge_a", "edge_b"]}}),
    ("Nearest.among", SEL, {"policies.routing.target": {"select": "nearest", "among": ["edge_a", "edge_b"]}},
     {"policies.routing.target.among": ["edge_b", "edge_a"], "links.0.latency_s": 0.009}),
    ("Random.select", SEL, {}, {"policies.routing.target": {"select": "random", "among": ["edge_a", "edge_b"]}}),
    ("Random.among", SEL, {"policies.routing.target": {"select": "random", "among": ["edge_a", "edge_b"]}},
     {"policies.routing.target.among": ["edge_b", "edge_a"]}),
    ("LeastLoaded.select", SEL, {}, LOADED),
    ("LeastLoaded.among", SEL, LOADED, {"policies.routing.target.among": ["edge_b", "edge_a"]}),
    ("LeastLoaded.information_delay_s", SEL, LOADED, {"policies.routing.target.information_delay_s": 0.5}),
    ("PowerOfTwo.select", SEL, LOADED, {"policies.routing.target.select": "power_of_two"}),
    ("PowerOfTwo.among", SEL, {"policies.routing.target": {"select": "power_of_two", "among": ["edge_a", "edge_b"]}},
     {"policies.routing.target.among": ["edge_b", "edge_a"]}),
    ("PowerOfTwo.information_delay_s", SEL, {"policies.routing.target.select": "power_of_two"},
     {"policies.routing.target.information_delay_s": 0.5}),
    ("Cost.select", SEL, LOADED, {"policies.routing.target.select": "cost"}),
    ("Cost.among", SEL, {"policies.routing.target": {"select": "cost", "among": ["edge_a", "edge_b"]},
                         "servers.1.workers": 2, "links.1.latency_s": 0.001},
     {"policies.routing.target.among": ["edge_b", "edge_a"]}),
    ("Cost.information_delay_s", SEL, {"policies.routing.target.select": "cost"},
     {"policies.routing.target.information_delay_s": 0.5}),
    ("Cost.energy_weight_s_per_j", SEL, {"policies.routing.target": {"select": "cost", "among": ["edge_a", "edge_b"]},
                                         "servers.1.energy": {"compute_model": "time", "active_power_w": 100.0}},
     {"policies.routing.target.energy_weight_s_per_j": 1.0}),
]


# wireless (docs/wireless.md): sharing, capacity traces, fading, the air-time radio energy
BPS_STEP = {"path": "capacity/bps_step.csv"}  # relative to tests/data (tiny.yaml)
SNR_STEP = {"path": "../capacity/snr_step.csv"}  # relative to tests/data/cross_mode (radio_cell.yaml)
FADE = {"device_groups.0.fading": {"model": "rician", "k_factor": 1.0, "coherence_s": 1.0}}
CASES += [
    ("AccessPoint.sharing", RADIO, {}, {"access_points.0.sharing": "airtime_fair"}),
    ("AccessPoint.capacity_trace", TINY, {}, {"access_points.0.capacity_trace": BPS_STEP}),
    ("Link.capacity_trace", TINY, {}, {"links.0.capacity_trace": BPS_STEP}),
    ("CapacityTrace.path", RADIO, {"access_points.0.capacity_trace": SNR_STEP},
     {"access_points.0.capacity_trace.path": "../capacity/snr_deep.csv"}),
    ("CapacityTrace.at_end", RADIO, {"access_points.0.capacity_trace": SNR_STEP},
     {"access_points.0.capacity_trace.at_end": "repeat"}),
    ("DeviceGroup.fading", RADIO, {}, FADE),
    ("Fading.model", RADIO, FADE, {"device_groups.0.fading": {"model": "rayleigh", "coherence_s": 1.0}}),
    ("Fading.k_factor", RADIO, FADE, {"device_groups.0.fading.k_factor": 20.0}),
    ("Fading.coherence_s", RADIO, FADE, {"device_groups.0.fading.coherence_s": 5.0}),
    ("Energy.radio_tx_power_w", RADIO, {}, {"device_groups.0.energy.radio_tx_power_w": 1.0}),
    ("Energy.radio_rx_power_w", RADIO, {}, {"device_groups.0.energy.radio_rx_power_w": 1.0}),
    ("Energy.radio_tail_j", RADIO, {}, {"device_groups.0.energy.radio_tail_j": 0.5}),
]

# radio physics (docs/wireless.md): each device's rate from its placement, path loss and rate mapping
RP = "access_points.0.radio"
PLACE = "device_groups.0.placement"
UMI = {f"{RP}.pathloss": {"model": "umi_street_canyon"}}
CASES += [
    ("AccessPoint.radio", TINY, {}, {"access_points.0": {"name": "ap1", "latency_s": 0.002,
                                                         "radio": {"bandwidth_hz": 1e6}},
                                     PLACE: {"kind": "ring", "radius_m": 100}}),
    ("DeviceGroup.placement", RADIO, {}, {PLACE: {"kind": "ring", "radius_m": 300}}),
    ("DeviceGroup.snr_db", RADIO, {RP: {"bandwidth_hz": 5e6}, PLACE: None, "device_groups.0.snr_db": 20},
     {"device_groups.0.snr_db": 0}),
    ("FixedPlacement.kind", RADIO, {PLACE: {"kind": "ring", "radius_m": 10}},
     {PLACE: {"kind": "fixed", "distances_m": [400]}}),
    ("FixedPlacement.distances_m", RADIO, {}, {f"{PLACE}.distances_m": [300, 400]}),
    ("FixedPlacement.points_m", RADIO, {PLACE: {"kind": "fixed", "points_m": [[10, 0]]}},
     {f"{PLACE}.points_m": [[300, 300]]}),
    ("DiscPlacement.kind", RADIO, {}, {PLACE: {"kind": "uniform_disc", "radius_m": 400}}),
    ("DiscPlacement.radius_m", RADIO, {PLACE: {"kind": "uniform_disc", "radius_m": 100}}, {f"{PLACE}.radius_m": 400}),
    ("DiscPlacement.min_distance_m", RADIO, {PLACE: {"kind": "uniform_disc", "radius_m": 400}},
     {f"{PLACE}.min_distance_m": 300}),
    ("RingPlacement.kind", RADIO, {}, {PLACE: {"kind": "ring", "radius_m": 300}}),
    ("RingPlacement.radius_m", RADIO, {PLACE: {"kind": "ring", "radius_m": 100}}, {f"{PLACE}.radius_m": 400}),
    ("FilePlacement.kind", RADIO, {}, {PLACE: {"kind": "file", "path": "../radio/positions_far.csv"}}),
    ("FilePlacement.path", RADIO, {PLACE: {"kind": "file", "path": "../radio/positions_near.csv"}},
     {f"{PLACE}.path": "../radio/positions_far.csv"}),
    ("Radio.bandwidth_hz", RADIO, {}, {f"{RP}.bandwidth_hz": 2e6}),
    ("Radio.carrier_ghz", RADIO, {}, {f"{RP}.carrier_ghz": 28.0}),
    ("Radio.device_tx_power_dbm", RADIO, {}, {f"{RP}.device_tx_power_dbm": 0.0}),
    ("Radio.ap_tx_power_dbm", RADIO, {}, {f"{RP}.ap_tx_power_dbm": 0.0}),
    ("Radio.noise_figure_db", RADIO, {}, {f"{RP}.noise_figure_db": 20.0}),
    ("Radio.pathloss", RADIO, {}, {f"{RP}.pathloss": {"model": "uma"}}),
    ("Radio.shadowing_sigma_db", RADIO, {}, {f"{RP}.shadowing_sigma_db": 8.0}),
    ("Radio.rate", RADIO, {}, {f"{RP}.rate": {"model": "nr_cqi"}}),
    ("PathLoss.model", RADIO, {}, UMI),
    ("PathLoss.exponent", RADIO, {}, {f"{RP}.pathloss.exponent": 3.0}),
    ("PathLoss.ref_distance_m", RADIO, {}, {f"{RP}.pathloss.ref_distance_m": 5.0}),
    ("PathLoss.ref_loss_db", RADIO, {}, {f"{RP}.pathloss.ref_loss_db": 60.0}),
    ("PathLoss.los", RADIO, UMI, {f"{RP}.pathloss.los": False}),
    ("PathLoss.ap_height_m", RADIO, UMI, {f"{RP}.pathloss.ap_height_m": 30.0}),
    ("PathLoss.device_height_m", RADIO, UMI, {f"{RP}.pathloss.device_height_m": 5.0}),
    ("RateMapping.model", RADIO, {}, {f"{RP}.rate.model": "nr_cqi"}),
    ("RateMapping.efficiency", RADIO, {}, {f"{RP}.rate.efficiency": 0.9}),
    ("RateMapping.cap_bps", RADIO, {}, {f"{RP}.rate.cap_bps": 1e6}),
    ("RateMapping.nr_table", RADIO, {f"{RP}.rate.model": "nr_cqi"}, {f"{RP}.rate.nr_table": "256qam"}),
    ("RateMapping.spatial_streams", RADIO, {f"{RP}.bandwidth_hz": 20e6, f"{RP}.rate.model": "wifi_ax"},
     {f"{RP}.rate.spatial_streams": 2}),
]

# fields whose value is fixed by a trace: any other value is rejected
REJECTED = [
    ("EarlyExit.model", EE, {"device_groups.0.early_exit.model": "meanet_cifar_resnet32"},
     "exit records ../traces/exits_mnist.parquet were measured on 'meanet_mnist'"),
    ("Server.model", EE, {"servers.0.model": "resnet101"}, "measured on 'mnist_cloud_resnet14'"),
    ("DeviceGroup.model", UPD, {"device_groups.0.model": "resnet18"}, "measured the updated model on 'meanet_mnist'"),
    ("Server.model", UPD, {"policies.allocation": {"kind": "distributed"}, "servers.0.model": "resnet101"},
     "measured on 'mnist_cloud_resnet14'"),
    ("PayloadRef.model", UPD, {"device_groups.0.updates.architecture": {"trace": "../traces/payloads.json",
                                                                         "model": "resnet19"}},
     "no architecture 'resnet19'"),
]


@pytest.mark.parametrize("field, path, change, message", REJECTED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REJECTED)])
def test_a_value_the_traces_contradict_is_rejected(field, path, change, message):
    from sim.build import BuildError

    sc = validate(apply_overrides(read_yaml(path), {**BASE[path], **change}, str(path)), str(path))
    with pytest.raises(BuildError) as e:
        load_traces(sc, path.parent)
    assert message in str(e.value)


def fields_of(model: type[BaseModel], seen: set) -> set[str]:
    """Every (Class.field) reachable from ``model`` through fields, lists and unions."""
    out: set[str] = set()
    if model in seen:
        return out
    seen.add(model)
    for name, f in model.model_fields.items():
        out.add(f"{model.__name__}.{name}")
        stack = [f.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                out |= fields_of(t, seen)
            stack += [a for a in typing.get_args(t) if a is not type(None)]
    return out


def test_every_field_is_audited():
    audited = {c[0] for c in CASES} | {r[0] for r in REJECTED} | set(EXEMPT)
    missing = sorted(fields_of(Scenario, set()) - audited)
    assert not missing, f"fields with no test that they change results, and no exemption: {missing}"
    assert not audited - fields_of(Scenario, set()), "entries for fields that do not exist"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Copies of traces with one measured value changed, to show each trace field is read."""
    tmp = tmp_path_factory.mktemp("traces")
    out = {}
    acc = json.loads((ROOT / "tests/data/accuracy.json").read_text())
    acc["models"]["small"]["top1"] = 0.3
    (tmp / "accuracy.json").write_text(json.dumps(acc))
    out["@accuracy"] = str(tmp / "accuracy.json")
    for name, src in (("@timings", ROOT / "tests/data/timings.json"), ("@timings_cpu", ROOT / "traces/timings_cpu.json")):
        t = json.loads(src.read_text())
        for e in t["entries"]:
            e["quantiles_s"] = [2 * q for q in e["quantiles_s"]]
            if "mean_s" in e:
                e["mean_s"] *= 2
        (tmp / f"{name[1:]}.json").write_text(json.dumps(t))
        out[name] = str(tmp / f"{name[1:]}.json")
    s = json.loads((ROOT / "traces/adaptation_mnist.json").read_text())
    for row in s["surface"]:
        row["map"] = row["map"] * 0.9
    (tmp / "surface.json").write_text(json.dumps(s))
    out["@surface"] = str(tmp / "surface.json")
    p = json.loads((ROOT / "traces/payloads.json").read_text())
    for row in p["architectures"]["resnet18"]["delivery"]:
        row[1] *= 2
    (tmp / "payloads.json").write_text(json.dumps(p))
    out["@payloads"] = str(tmp / "payloads.json")
    table = pq.read_table(ROOT / "traces/exits_mnist.parquet")
    ent = table.column("main_entropy_nats").to_numpy() * 0.5
    table = table.set_column(table.schema.get_field_index("main_entropy_nats"), "main_entropy_nats", pa.array(ent))
    pq.write_table(table, tmp / "records.parquet")
    out["@records"] = str(tmp / "records.parquet")
    return out


def resolve(path: Path, common: dict, change, files: dict) -> tuple[dict, dict]:
    data = read_yaml(path)
    if change == "@ee_second_cloud":  # a second cloud, farther, that the policy's target now names
        common = {**common, "servers.1": {"name": "cloud2", "tier": "cloud", "workers": 1,
                                          "model": "mnist_cloud_resnet14",
                                          "compute": {"trace": T, "model": "mnist_cloud_resnet14"}},
                  "links.1": {"name": "wan2", "between": ["ap", "cloud2"], "bandwidth_bps": 1e6, "latency_s": 0.2}}
        both = {"device_groups.1": dict(data["device_groups"][0], name="others",
                                        routing={"kind": "cloud_only", "target": "cloud"})}
        return {**common, **both}, {"policies.routing.target": "cloud2"}
    fix = lambda v: files.get(v, v) if isinstance(v, str) else v  # noqa: E731
    second = {"@second_camera_group": dict(data["device_groups"][0], name="second"),
              "@second_group": dict(data["device_groups"][0], name="second")}
    common = {k: second.get(v, v) if isinstance(v, str) else v for k, v in common.items()}
    common = {k: fix(v) for k, v in common.items()}
    return common, {k: fix(v) for k, v in change.items()}


def outputs(path: Path, overrides: dict):
    sc = validate(apply_overrides(read_yaml(path), {**BASE[path], **overrides}, str(path)), str(path))
    summary, timeline, _ = metrics.frames(run(sc, load_traces(sc, path.parent)))
    summary.pop("fidelity")
    return json.dumps(summary, sort_keys=True, default=str), timeline.to_csv()


@pytest.mark.parametrize("field, path, common, change", CASES, ids=[c[0] for c in CASES])
def test_changing_a_field_changes_the_results(field, path, common, change, files):
    common, change = resolve(path, common, change, files)
    before = outputs(path, common)
    after = outputs(path, {**common, **change})
    assert before != after, f"{field}: results unchanged by {change}"
