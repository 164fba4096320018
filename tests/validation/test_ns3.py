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
             ns3v.Case("parking", VALIDATION / "parking_lot.yaml", "newreno", "fair")]
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
    assert len(small.flows) == 5 and small.flows[["ns3_fct_s", "fluid_fct_s", "tcp_fct_s"]].notna().all().all()


def test_the_command_writes_its_table(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "validate-model", "ns3", str(VALIDATION / "dumbbell_1.yaml"),
                        "--cc", "cubic", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| dumbbell_1 | cubic | fair | 1 |" in r.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"cases.csv", "flows.csv", "report.md"}


# ------------------------------------------------------------------------------------------ the whole suite
@pytest.fixture(scope="module")
def suite() -> ns3v.Report:
    return sim.api.validate_model(suite=True)


def pooled(report: ns3v.Report, queue: str, model: str = "tcp") -> float:
    return report.pooled.set_index(["queue", "model"]).loc[(queue, model), "median"]


def case_stat(report: ns3v.Report, case: str, key: str, model: str = "tcp") -> float:
    return abs(stats(report, case, model)[key])


NOT_MET = "not met yet: measured numbers and the reason in docs/fidelity.md"
TARGETS = [  # issue 14's targets against ns-3 (per-flow |error| of the defaults, tcp)
    pytest.param(lambda r: pooled(r, "fair"), 0.005, id="fair-pooled-median"),
    pytest.param(lambda r: case_stat(r, "dumbbell_1_newreno_fair", "median"), 0.015, id="lone-newreno"),
    pytest.param(lambda r: case_stat(r, "dumbbell_1_cubic_fair", "median"), 0.05, id="lone-cubic"),
    pytest.param(lambda r: case_stat(r, "asymmetric_fair", "median"), 0.03, id="asymmetric"),
    pytest.param(lambda r: case_stat(r, "images_100_fair", "median"), 0.015, id="images-100"),
    # out of reach of a model that gives like flows like times (docs/fidelity.md: the bound)
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
