"""Figures carry the data of the tables; reports render."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def sim(*args):
    r = subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sw")
    sim("sweep", DATA / "sweep_tiny.yaml", "--out", out, "-q")
    return out / "tiny_sweep"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    sim("run", DATA / "tiny.yaml", "--out", out, "-q")
    return next((out / "tiny").iterdir())


def figure_data(html: str) -> list[dict]:
    """The traces of every Plotly.newPlot call in a page."""
    traces = []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', html, flags=re.S):
        traces += json.loads(m.group(1))
    return traces


def test_sweep_lines_carry_the_aggregate(sweep_dir):
    sim("plot", sweep_dir, "--out", sweep_dir / "f.html")
    traces = [t for t in figure_data((sweep_dir / "f.html").read_text()) if t.get("mode") == "lines+markers"]
    agg = pd.read_parquet(sweep_dir / "aggregate.parquet")
    assert len(traces) == 2  # one line per device count
    for t in traces:
        sub = agg[agg["param:device_groups.0.count"] == int(t["name"])].sort_values("param:policies.routing.fraction")
        assert t["x"] == sub["param:policies.routing.fraction"].tolist()
        assert t["y"] == pytest.approx(sub["mean_accuracy"].tolist(), rel=1e-12)
        assert t["error_y"]["array"] == pytest.approx(sub["mean_accuracy:ci95"].tolist(), rel=1e-12)


def test_run_timeline_carries_the_timeline(run_dir):
    sim("plot", run_dir, "--kind", "timeline", "--out", run_dir / "t.html")
    (trace,) = figure_data((run_dir / "t.html").read_text())
    tl = pd.read_parquet(run_dir / "timeline.parquet")
    assert trace["y"] == pytest.approx(tl["accuracy"].tolist())
    sim("plot", run_dir, "--kind", "latency_cdf", "--out", run_dir / "c.html")
    (cdf,) = figure_data((run_dir / "c.html").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert cdf["x"][50] == pytest.approx(summary["latency_p50_s"]) and cdf["x"][95] == pytest.approx(summary["latency_p95_s"])


def test_reports_are_single_self_contained_pages(run_dir, sweep_dir):
    for folder in (run_dir, sweep_dir):
        sim("report", folder)
        page = (folder / "report.html").read_text()
        assert page.count("<script") >= 2 and "<script src=" not in page and len(figure_data(page)) >= 1


def test_bad_plot_requests(run_dir, tmp_path):
    for args, fragment in (([tmp_path], "not a run folder"), ([run_dir, "--kind", "pareto"], "not a figure of a run")):
        r = subprocess.run([sys.executable, "-m", "cli", "plot", *map(str, args)], cwd=ROOT, capture_output=True,
                           text=True)
        assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium to run this test)")
def test_report_renders_in_headless_chromium(sweep_dir, tmp_path):
    sim("report", sweep_dir)
    png = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600", "--virtual-time-budget=5000",
                    f"--screenshot={png}", (sweep_dir / "report.html").as_uri()], capture_output=True, timeout=120)
    assert png.exists() and png.stat().st_size > 20_000  # a blank page is a few kB
