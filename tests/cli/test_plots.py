"""Figures carry the data of the tables; reports render."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from sim import labels, plots
from tests import command

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def sim(*args):
    return command.sim(*args, check=True)


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
    assert [t["name"] for t in traces] == ["devices, device group 0 = 5", "devices, device group 0 = 10"]
    for t in traces:
        count = int(t["name"].rsplit("= ", 1)[1])
        sub = agg[agg["param:device_groups.0.count"] == count].sort_values("param:policies.routing.fraction")
        assert t["x"] == sub["param:policies.routing.fraction"].tolist()
        y, half = sub["mean_accuracy"].to_numpy(), sub["mean_accuracy:ci95"].to_numpy()
        assert t["y"] == pytest.approx(y.tolist(), rel=1e-12)
        # error bars: the 95% half-width, cut where it would leave [0, 1]
        assert t["error_y"]["array"] == pytest.approx((np.minimum(y + half, 1) - y).tolist(), rel=1e-12, abs=1e-15)
        assert t["error_y"]["arrayminus"] == pytest.approx((y - np.maximum(y - half, 0)).tolist(), rel=1e-12,
                                                           abs=1e-15)


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
        assert not list(folder.glob(".*partial")), "a partial file left beside the report"


def tables(page: str) -> list[str]:
    return re.findall(r"<table>.*?</table>", page, flags=re.S)


def test_run_report_is_labelled_with_no_none_cells(run_dir):
    sim("report", run_dir)
    page = (run_dir / "report.html").read_text()
    (table,) = tables(page)
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["mean_map"] is None and summary["exit_fractions"]["main"] is None  # tiny has neither
    assert not [c for c in cells if c in ("None", "nan", "NaN", "null")]
    assert "mean mAP (completed)" in cells and "n/a: no group with model updates" in cells
    assert "p95 latency (s)" in cells and "bytes up (MB)" in cells and "latency_p95_s" not in cells
    # a dict value: a section heading with indented rows (its links), not "k: v, k: v" in one cell
    assert "link utilisation" in cells and "link ap1.up" in cells
    # a section with nothing in it says why once: whole-model groups have no exits
    assert cells[cells.index("exit fractions") + 1] == "n/a: no completed early-exit inference"
    # the bytes are shown in MB, as the label says
    assert cells[cells.index("bytes up (MB)") + 1] == labels.number(summary["bytes_up"] / 1e6)


def test_wide_tables_scroll_inside_their_box(run_dir, sweep_dir):
    for folder in (run_dir, sweep_dir):
        sim("report", folder)
        page = (folder / "report.html").read_text()
        assert ".scroll{overflow-x:auto" in page.replace(" ", "")
        assert page.count("<table>") == page.count("<div class='scroll'><table>") >= 1


def test_sweep_report_table_has_labels_and_no_empty_metrics(sweep_dir):
    sim("report", sweep_dir)
    page = (sweep_dir / "report.html").read_text()
    (table,) = tables(page)
    heads = re.findall(r"<th>([^<]*)</th>", table)
    assert heads[:3] == ["offloaded fraction, routing policy", "devices, device group 0", "replications"]
    assert "mean accuracy (completed)" in heads and "param:" not in table
    assert "mean mAP (completed)" not in heads  # no point has an mAP: the column is left out
    assert not re.search(r">\s*(None|nan|NaN)\s*<", table)
    assert re.search(r"<td>0\.\d+ ± 0\.\d+</td>", table)  # mean ± half-width in one cell


# ---- the plotting API, on frames built here ------------------------------------------------

def aggregate(x, y, half, color=None, x_name="param:policies.routing.fraction", y_name="mean_accuracy"):
    df = pd.DataFrame({x_name: x, y_name: y, f"{y_name}:ci95": half, "replications": 3})
    if color is not None:
        df["param:policies.allocation"] = color
    return df


def test_band_is_clipped_to_the_metric_range():
    fig = plots.sweep_lines(aggregate([0.1, 0.5, 0.9], [0.95, 0.5, 0.02], [0.2, 0.1, 0.05]),
                            "policies.routing.fraction", "mean_accuracy")
    band, line = fig.data
    assert band.fill == "toself" and max(band.y) == 1.0 and min(band.y) == 0.0
    assert list(band.y) == pytest.approx([1.0, 0.6, 0.07, 0.0, 0.4, 0.75])  # hi forwards, lo backwards
    assert list(line.error_y.array) == pytest.approx([0.05, 0.1, 0.05])
    assert list(line.error_y.arrayminus) == pytest.approx([0.2, 0.1, 0.02])
    # a metric without an upper bound keeps its band; only its floor at 0 holds
    fig = plots.sweep_lines(aggregate([1, 2], [0.5, 9.0], [1.0, 1.0], y_name="latency_p95_s"),
                            "policies.routing.fraction", "latency_p95_s")
    assert list(fig.data[0].y) == pytest.approx([1.5, 10.0, 8.0, 0.0])


def test_log_axis_when_x_spans_decades():
    bw = [1e5, 2.5e5, 5e5, 1e6, 4e6, 1.6e7]
    fig = plots.sweep_lines(aggregate(bw, [0.5] * 6, [0.01] * 6, x_name="param:access_points.0.uplink_bps"),
                            "access_points.0.uplink_bps", "mean_accuracy")
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.xaxis.title.text == "uplink bandwidth, access point 0 (Mb/s)"
    assert list(fig.data[-1].x) == pytest.approx([v / 1e6 for v in bw])  # drawn in the label's unit
    for xs in ([0.0, 0.5, 1.0], [1, 2, 4, 8, 16], [-1.0, 100.0]):  # a fraction, a short span, a negative value
        fig = plots.sweep_lines(aggregate(xs, [0.5] * len(xs), [0.0] * len(xs)), "policies.routing.fraction",
                                "mean_accuracy")
        assert fig.layout.xaxis.type in (None, "linear"), xs
    assert plots.sweep_lines(aggregate([1, 2], [0.5, 0.5], [0, 0]), "policies.routing.fraction", "mean_accuracy",
                             log_x=True).layout.xaxis.type == "log"  # asked for


def test_legends_and_axes_use_human_names():
    kinds = ["optimal", "cema", "equal_share"]
    df = aggregate([1e5, 1e6, 1e7] * 3, [0.8] * 9, [0.01] * 9, x_name="param:access_points.0.uplink_bps",
                   y_name="mean_map_all_arrivals",
                   color=[json.dumps({"kind": k}) for k in kinds for _ in range(3)])
    fig = plots.sweep_lines(df, "access_points.0.uplink_bps", "mean_map_all_arrivals", "policies.allocation")
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == [f"allocation policy = {k}" for k in sorted(kinds)]
    assert fig.layout.yaxis.title.text == "mean mAP (all arrivals)"
    text = fig.to_json()
    assert "param:" not in text.replace('"param:access_points', "")  # no raw key shown (columns are not in it)
    assert all("param:" not in t.name for t in fig.data)


def test_many_lines_get_distinct_styles():
    n = 30
    df = aggregate(list(range(1, 3)) * n, [0.5] * 2 * n, [0.0] * 2 * n,
                   color=[json.dumps({"kind": f"p{k:02d}"}) for k in range(n) for _ in range(2)])
    fig = plots.sweep_lines(df, "policies.routing.fraction", "mean_accuracy", "policies.allocation")
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    styles = {(t.line.color, t.line.dash) for t in lines}
    assert len(lines) == n and len(styles) == n
    assert len({t.line.color for t in lines[:24]}) == 24  # more than plotly's 10 colours before any repeats


def test_a_run_can_be_given_as_a_result_or_as_frames(run_dir):
    from types import SimpleNamespace

    summary = json.loads((run_dir / "summary.json").read_text())
    tl = pd.read_parquet(run_dir / "timeline.parquet")
    result = SimpleNamespace(summary=summary, timeline=tl)  # what sim.run returns has these two
    for make in (plots.timeline, plots.link_utilisation):
        a, b = make(result), make(summary, tl)
        assert isinstance(a, go.Figure) and a.to_json() == b.to_json() and len(a.data) >= 1
    cdf = plots.latency_cdf(result)
    assert list(cdf.data[0].x) == summary["latency_quantiles_s"]
    assert plots.exit_fractions(result).layout.annotations[0].text == "n/a: no completed early-exit inference"
    ee = dict(summary, exit_fractions={"main": 0.5, "extension": 0.3, "cloud": 0.2})
    bars = plots.exit_fractions([ee, summary])  # the run without exits is left out
    assert [list(b.y) for b in bars.data] == [[0.5], [0.3], [0.2]]
    assert [b.name for b in bars.data] == ["main exit", "extension exit", "cloud exit"]
    with pytest.raises(TypeError):
        plots.timeline(summary)  # a summary alone has no timeline


def test_labels_cover_every_key_a_run_and_a_sweep_write(run_dir, sweep_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    tl = pd.read_parquet(run_dir / "timeline.parquet")
    agg = pd.read_parquet(sweep_dir / "aggregate.parquet")

    def flat(d, path=()):
        for k, v in d.items():
            yield (*path, k)
            if isinstance(v, dict):
                yield from flat(v, (*path, k))

    keys = [*((path, None) for path in flat(summary)), *((c, "timeline") for c in tl.columns),
            *((c, None) for c in agg.columns)]
    assert len(keys) > 150
    for key, frame in keys:
        text = labels.label(key, frame)
        assert text and "_" not in text and "param:" not in text and ":ci95" not in text, (key, text)
    assert labels.label("latency_p95_s") == "p95 latency (s)"
    assert labels.label("param:policies.allocation.kind") == labels.label("param:policies.allocation") \
        == "allocation policy"
    assert labels.label("groups.cams.accuracy:ci95") == "accuracy (completed), device group cams, 95% CI half-width"
    assert labels.label("link:ap1.up:utilisation", "timeline") == "utilisation, link ap1.up"
    assert labels.of("exit_fractions.cloud").hi == 1.0 and labels.of("latency_p95_s").hi is None


def test_unknown_keys_get_a_readable_fallback():
    assert labels.label("some_new_metric_s") == "some new metric (s)"
    assert labels.label("a.b_c:d") == "a b c d"
    assert labels.of("new_metric_fraction").hi == 1.0
    for odd in ("", ":", "...", "param:", None, 3, ("groups",), ("no_such_section", "x")):
        assert isinstance(labels.label(odd), str) and labels.label(odd)
    assert labels.show("mean_map", None) == "n/a: no group with model updates"
    assert labels.show("mean_accuracy", float("nan")) == "n/a: no completed inference"
    assert labels.value('{"kind": "confidence", "threshold": 0.9}', full=True) == "confidence, confidence threshold 0.9"
    assert labels.value('{"kind": "meanet", "threshold_nats": 0.8}') == "meanet"  # one line per kind


def test_html_is_written_atomically(tmp_path):
    out = tmp_path / "f.html"
    out.write_text("old")
    plots.write_html([go.Figure()], out, "t <&>")
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>t &lt;&amp;&gt;</title>" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.html"]


def test_bad_plot_requests(run_dir, tmp_path):
    for args, fragment in (([tmp_path], "not a run folder"), ([run_dir, "--kind", "pareto"], "not a figure of a run")):
        r = subprocess.run([sys.executable, "-m", "cli", "plot", *map(str, args)], cwd=ROOT, capture_output=True,
                           text=True)
        assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr
