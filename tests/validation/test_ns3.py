"""The network model against ns-3 (``sim validate-model ns3``, docs/fidelity.md).

Skipped where ns-3's bindings are not installed (``pip install -e '.[validate]'``; ``make validate``
installs them).  Two small cases run with the default tests; the whole suite, and the targets of
issue 14 against it, run under the ``validate`` marker (``make validate``).  Targets the model
does not meet yet are strict expected failures, with the measured numbers in docs/fidelity.md:
when the model improves enough to meet one, its test fails until the mark is removed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.validation import ns3 as ns3v

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = ROOT / "scenarios" / "validation"

pytestmark = pytest.mark.skipif(not ns3v.available(), reason="ns-3 is not installed (pip install -e '.[validate]')")


@pytest.fixture(scope="module")
def small() -> ns3v.Report:
    """A lone flow (NewReno) and the parking lot, fair queueing: one ns-3 process (its bindings take
    20-30 s to load)."""
    cases = [ns3v.Case("lone", VALIDATION / "dumbbell_1.yaml", "newreno", "fair"),
             ns3v.Case("parking", VALIDATION / "parking_lot.yaml", "newreno", "fair"),
             ns3v.Case("replay", ROOT / "scenarios" / "early_exit.yaml", overrides={"horizon_s": 20}, replay=True)]
    return ns3v.validate_model(cases)


def stats(report: ns3v.Report, case: str, model: str) -> dict:
    return report.cases.set_index(["case", "model"]).loc[(case, model)].to_dict()


def test_a_lone_flow_matches_ns3_under_tcp_and_not_under_fluid(small):
    tcp, fluid = stats(small, "lone", "tcp"), stats(small, "lone", "fluid")
    assert tcp["flows"] == 1 and tcp["missing"] == 0
    assert tcp["median"] <= 0.015  # issue 14: a lone NewReno flow within 1.5%
    assert fluid["median"] > 0.04 and fluid["mean_fct"] < 0  # the ideal fluid model is optimistic (no set-up)
    assert small.ns3.startswith("3.")


def test_the_parking_lot_matches_ns3(small):
    tcp = stats(small, "parking", "tcp")
    assert tcp["flows"] == 4 and tcp["missing"] == 0
    assert tcp["median"] <= 0.01 and abs(tcp["makespan"]) <= 0.01
    # every flow of both cases has a row, ns-3's and both models' completion times
    flows = small.flows[small.flows.case != "replay"]
    assert len(flows) == 5 and flows[["ns3_fct_s", "fluid_fct_s", "tcp_fct_s"]].notna().all().all()


def test_a_replay_of_a_runs_offloads_matches_ns3_under_tcp(small):
    """The MEANet scenario's own flows (inputs up to the cloud, results back: 20 s of its run):
    each a short flow whose time is mostly its handshake and round trips, which the ideal fluid
    model leaves out (docs/fidelity.md: 0.43% against 66% over 60 s)."""
    tcp, fluid = stats(small, "replay", "tcp"), stats(small, "replay", "fluid")
    replayed = small.flows[small.flows.case == "replay"]
    assert tcp["flows"] > 100 and tcp["flows"] + tcp["missing"] == len(replayed)
    assert {f.split(".")[0] for f in replayed["flow"]} == {"inference_input", "inference_result"}
    assert tcp["median"] <= 0.01 and fluid["median"] > 0.3


def test_the_command_writes_its_table(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "validate-model", "ns3", str(VALIDATION / "dumbbell_1.yaml"),
                        "--cc", "cubic", "--out", str(tmp_path), "--reruns", "1"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| dumbbell_1 | cubic | fair | 1 |" in r.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"cases.csv", "flows.csv", "report.md"}
    # a lone flow under fair queueing: its start shifted by under 1 ms, ns-3 gives the same completion time
    assert "ns-3 x1 median" in r.stdout and "| fair | ns3_reruns | 1 | 0.00 |" in r.stdout
    rerun = pd.read_csv(tmp_path / "flows.csv").iloc[0]
    assert rerun["ns3_rerun1_fct_s"] == pytest.approx(rerun["ns3_fct_s"], rel=1e-3)


# ------------------------------------------------------------------------------------------ the whole suite
@pytest.fixture(scope="module")
def suite() -> ns3v.Report:
    """The shipped suite; ns-3 runs each case 3 more times, every flow's start shifted by up to 1 ms."""
    return sim.api.validate_model(suite=True, reruns=N_RERUNS)


def pooled(report: ns3v.Report, queue: str, model: str = "tcp") -> float:
    return report.pooled.set_index(["queue", "model"]).loc[(queue, model), "median"]


def case_stat(report: ns3v.Report, case: str, key: str, model: str = "tcp") -> float:
    return abs(stats(report, case, model)[key])


N_RERUNS = 3
NOT_MET = "not met yet: measured numbers and the reason in docs/fidelity.md"
TARGETS = [  # issue 14's targets against ns-3 (per-flow |error| of the defaults, tcp)
    pytest.param(lambda r: pooled(r, "fair"), 0.005, id="fair-pooled-median"),
    pytest.param(lambda r: case_stat(r, "dumbbell_1_newreno_fair", "median"), 0.015, id="lone-newreno"),
    pytest.param(lambda r: case_stat(r, "dumbbell_1_cubic_fair", "median"), 0.05, id="lone-cubic"),
    pytest.param(lambda r: case_stat(r, "asymmetric_fair", "median"), 0.03, id="asymmetric"),
    pytest.param(lambda r: case_stat(r, "images_100_fair", "median"), 0.015, id="images-100"),
    # below ns-3's own spread under 1 ms start shifts (test_ns3_reproduces_itself_...), and out of reach of a
    # model that gives like flows like times (docs/fidelity.md: the bound)
    pytest.param(lambda r: pooled(r, "droptail"), 0.08, id="droptail-pooled-median",
                 marks=pytest.mark.xfail(strict=True, reason=NOT_MET)),
    pytest.param(lambda r: case_stat(r, "rtt_spread_droptail", "median"), 0.15, id="rtt-spread-droptail"),
]


@pytest.mark.validate
@pytest.mark.parametrize("measure, target", TARGETS)
def test_issue_14_targets(suite, measure, target):
    assert measure(suite) <= target


@pytest.mark.validate
def test_the_suite_compares_every_fair_flow_and_tcp_beats_fluid(suite):
    fair = suite.cases[suite.cases.queue == "fair"]
    assert (fair.missing == 0).all()  # ns-3 and both models finish every flow under fair queueing
    assert pooled(suite, "fair", "tcp") < pooled(suite, "fair", "fluid")
    assert pooled(suite, "droptail", "tcp") < pooled(suite, "droptail", "fluid")


MAKESPAN_NOT_MET = {"dumbbell_1_cubic_droptail", "dumbbell_16_newreno_droptail", "dumbbell_64_newreno_droptail",
                    "dumbbell_64_cubic_droptail"}


@pytest.mark.validate
@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=NOT_MET) if c in MAKESPAN_NOT_MET else ())
    for c in (f"dumbbell_{n}_{cc}_droptail" for n in (1, 4, 16, 64) for cc in ("newreno", "cubic"))])
def test_droptail_dumbbell_makespan_within_3_percent(suite, case):
    assert case_stat(suite, case, "makespan") <= 0.03


# ------------------------------------------------------------------------------------------ ns-3 against itself
@pytest.mark.validate
def test_ns3_reproduces_itself_under_fair_queueing_but_not_under_droptail(suite):
    """The same flows started up to 1 ms later (under one packet's transmission on the 10 Mb/s
    bottleneck): under fair queueing ns-3 gives the same completion times, so the targets there
    are measurable to well under their size; under drop-tail its flows finish in another order
    and at other times, further from its own first run than the issue's 8% pooled target."""
    fair, droptail = pooled(suite, "fair", ns3v.RERUNS), pooled(suite, "droptail", ns3v.RERUNS)
    assert fair <= 0.005 / 5  # a fifth of the 0.5% target or less
    assert droptail > 0.08 and droptail > 100 * fair
    spans = suite.cases[suite.cases.model.isin(ns3v.reruns_of(suite.cases.model))]
    assert len(spans) == N_RERUNS * 28
    fair_spans = spans[spans.queue == "fair"]["makespan"].abs()
    assert fair_spans.max() <= 0.001  # ns-3's makespans under fair queueing move by under 0.1%
    moved = {c for c, g in spans[spans.queue == "droptail"].groupby("case") if g["makespan"].abs().max() > 0.03}
    dumbbells = {f"dumbbell_{n}_{cc}_droptail" for n in (4, 16, 64) for cc in ("newreno", "cubic")}
    assert len(moved & dumbbells) >= 4  # most many-flow drop-tail dumbbells: ns-3 is not within 3% of itself


WITHIN_SPREAD_NOT_MET = {"dumbbell_1_cubic_droptail", "dumbbell_64_newreno_droptail", "dumbbell_64_cubic_droptail"}


@pytest.mark.validate
@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=NOT_MET) if c in WITHIN_SPREAD_NOT_MET else ())
    for c in (f"dumbbell_{n}_{cc}_droptail" for n in (1, 4, 16, 64) for cc in ("newreno", "cubic"))])
def test_droptail_dumbbell_makespan_within_3_percent_of_ns3s_own_spread(suite, case):
    """The makespan target where ns-3 itself moves: the model's makespan within 3% of the range
    of ns-3's makespans over its first run and its reruns."""
    g = suite.cases[suite.cases.case == case].set_index("model")
    ns3 = [0.0] + [g.loc[m, "makespan"] for m in ns3v.reruns_of(g.index)]
    assert min(ns3) - 0.03 <= g.loc["tcp", "makespan"] <= max(ns3) + 0.03
