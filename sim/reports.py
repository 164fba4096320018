"""Figures and reports for a run folder or a sweep folder (``sim plot``, ``sim report``)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from sim import labels, plots
from sim.errors import ResultsError  # noqa: F401  (defined with the other errors; importable from here too)

RUN_KINDS = ("timeline", "link_utilisation", "exit_fractions", "latency_cdf")
SWEEP_KINDS = ("lines", "pareto", "exit_fractions")


def kind_of(folder: Path) -> str:
    if (folder / "aggregate.parquet").exists() and (folder / "sweep.json").exists():
        return "sweep"
    if (folder / "summary.json").exists() and (folder / "timeline.parquet").exists():
        return "run"
    raise ResultsError(f"{folder}: not a run folder (summary.json, timeline.parquet) "
                       "or a sweep folder (aggregate.parquet, sweep.json)")


def read_json(path: Path, keys: tuple[str, ...] = ()) -> dict:
    """A results JSON file holding ``keys``, or ResultsError naming it (truncated, half-written, not JSON)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ResultsError(f"{path}: unreadable results file ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ResultsError(f"{path}: no {missing[0]!r} (not written by this simulator, or damaged)")
    return data


def read_frame(path: Path, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A results Parquet file with ``columns``, or ResultsError naming it."""
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise ResultsError(f"{path}: unreadable results file ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: no column {missing[0]!r} (not written by this simulator, or damaged)")
    return df


def _sweep(folder: Path) -> tuple[dict, pd.DataFrame]:
    return (read_json(folder / "sweep.json", ("sweep", "points", "replications")),
            read_frame(folder / "aggregate.parquet", ("point", "replications")))


def _damaged_is_one_line(fn):
    """A results folder whose files parse but lack what they should hold: ResultsError, not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(folder, *args, **kwargs):
        try:
            return fn(folder, *args, **kwargs)
        except (KeyError, TypeError, IndexError) as e:
            raise ResultsError(f"{folder}: damaged results: missing or malformed {e}") from None
    return wrapper


@_damaged_is_one_line
def figure(folder: Path, kind: str | None = None, x: str | None = None, y: str | None = None,
           color: str | None = None, facet: str | None = None):
    what = kind_of(folder)
    if what == "run":
        kind = kind or "timeline"
        if kind not in RUN_KINDS:
            raise ResultsError(f"--kind: {kind!r} is not a figure of a run (choose from {', '.join(RUN_KINDS)})")
        summary = read_json(folder / "summary.json", ("scenario", "seed", "exit_fractions"))
        tl = read_frame(folder / "timeline.parquet", ("window_start_s", "window_end_s"))
        if kind == "timeline":
            return plots.timeline(summary, tl)
        if kind == "link_utilisation":
            return plots.link_utilisation(summary, tl)
        if kind == "exit_fractions":
            return plots.exit_fractions(summary)
        return plots.latency_cdf(summary)
    meta, agg = _sweep(folder)
    spec_plot = meta["sweep"].get("plot", {})
    kind = kind or spec_plot.get("kind", "lines")
    if kind not in SWEEP_KINDS:
        raise ResultsError(f"--kind: {kind!r} is not a figure of a sweep (choose from {', '.join(SWEEP_KINDS)})")
    params = [c[len("param:"):] for c in agg.columns if c.startswith("param:")]
    if kind == "exit_fractions":
        return plots.exit_fractions(agg, title=f"Exit fractions: {meta['sweep']['name']}")
    x = x or spec_plot.get("x") or (params[0] if params else None)
    y = y or spec_plot.get("y", "mean_accuracy")
    color = color or spec_plot.get("color") or (params[1] if len(params) > 1 else None)
    for name, col in (("--x", x), ("--y", y)):
        if col is None or (col not in agg and f"param:{col}" not in agg):
            raise ResultsError(f"{name}: no column {col!r} in {folder / 'aggregate.parquet'}")
    if kind == spec_plot.get("kind", "lines") and facet is None:
        facet = spec_plot.get("facet")
    title = f"{meta['sweep']['name']}: {_name(agg, y)} vs {_name(agg, x)}"
    log_x = spec_plot.get("log_x")  # None: a log axis when x spans decades (plots.wants_log)
    return (plots.pareto if kind == "pareto" else plots.sweep_lines)(agg, x, y, color, title, facet=facet, log_x=log_x)


def _name(agg: pd.DataFrame, column: str) -> str:
    """The label of a metric column, or of a swept setting named without ``param:``."""
    return labels.of(column if column in agg else f"param:{column}").name


@_damaged_is_one_line
def report(folder: Path, out: Path) -> Path:
    what = kind_of(folder)
    if what == "run":
        summary = read_json(folder / "summary.json", ("scenario", "seed", "exit_fractions"))
        figs = [figure(folder, k) for k in RUN_KINDS
                if k != "exit_fractions" or (summary.get("exit_fractions") or {}).get("extension")]
        return plots.write_html(figs, out, f"Run {summary['scenario']} (seed {summary['seed']})",
                                plots.summary_table(summary))
    meta, agg = _sweep(folder)
    spec = meta["sweep"]
    kinds = [spec.get("plot", {}).get("kind", "lines")]
    if any(c.startswith("exit_fractions.") for c in agg.columns) and agg.get("exit_fractions.extension", pd.Series([0])).fillna(0).max() > 0:
        kinds.append("exit_fractions")
    figs = [figure(folder, k) for k in kinds]
    for extra in spec.get("plot", {}).get("also", []):
        figs.append(figure(folder, extra.get("kind", "lines"), extra.get("x"), extra.get("y"), extra.get("color"),
                           extra.get("facet")))
    plotted = [spec.get("plot", {}).get("y")] + [extra.get("y") for extra in spec.get("plot", {}).get("also", [])]
    metrics = [m for m in plotted if m] + ["mean_accuracy", "mean_map", "energy_j_per_inference", "latency_p95_s"]
    intro = (f"<p>{html.escape(str(spec.get('description', '')))}</p><p>{meta['points']} points x "
             f"{meta['replications']} replications; base scenario {html.escape(str(spec['base']))}. "
             "Bands and error bars: 95% confidence intervals, held inside each metric's valid range.</p>")
    table = ("<details open><summary>Per-point means and 95% half-widths (aggregate.parquet)</summary>"
             + plots.sweep_table(agg, metrics) + "</details>")
    return plots.write_html(figs, out, f"Sweep {spec['name']}", intro, table)
