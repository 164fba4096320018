"""Figure builders (plotly) from result frames only, and self-contained HTML output.

Values are handed to plotly as Python lists (not numpy arrays) so the HTML carries
them as readable numbers that tests can compare with the tables.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

EXIT_NAMES = ("main", "extension", "cloud")
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


def label(value, full: bool = False) -> str:
    """A legend label for a parameter value: a policy mapping shows its kind (and, with
    ``full``, its other fields)."""
    try:
        v = json.loads(value) if isinstance(value, str) and value.startswith("{") else value
    except json.JSONDecodeError:
        v = value
    if not isinstance(v, dict):
        return str(v)
    rest = " ".join(f"{k}={x}" for k, x in v.items() if k != "kind")
    return f"{v.get('kind', '')} {rest}".strip() if full else str(v.get("kind", v))


def _col(agg: pd.DataFrame, name: str | None) -> str | None:
    return None if name is None else (name if name in agg else f"param:{name}")


def sweep_lines(agg: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "",
                markers_only: bool = False, facet: str | None = None, log_x: bool = False) -> go.Figure:
    """``y`` against ``x`` with 95% confidence bands, one line per value (or policy kind) of
    ``color``, one panel per value of ``facet``."""
    from plotly.subplots import make_subplots

    xcol, ccol, fcol = _col(agg, x), _col(agg, color), _col(agg, facet)
    panels = [(None, agg)] if fcol is None else list(agg.groupby(fcol, sort=True))
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True,
                        subplot_titles=[f"{facet.rsplit('.', 1)[-1]} = {label(v)}" for v, _ in panels] if fcol else None)
    names = sorted(agg[ccol].map(label).unique()) if ccol else ["all"]
    for col, (_, panel) in enumerate(panels, start=1):
        groups = [("all", panel)] if ccol is None else list(panel.groupby(panel[ccol].map(label), sort=True))
        for name, g in groups:
            g = g.sort_values(xcol)
            xs, ys = g[xcol].tolist(), g[y].tolist()
            half = g[f"{y}:ci95"].fillna(0).tolist() if f"{y}:ci95" in g else [0.0] * len(ys)
            c = PALETTE[names.index(name) % len(PALETTE)]
            if not markers_only and len(xs) > 1:
                lo = [a - b for a, b in zip(ys, half)]
                hi = [a + b for a, b in zip(ys, half)]
                fig.add_trace(go.Scatter(x=xs + xs[::-1], y=hi + lo[::-1], fill="toself", fillcolor=c, opacity=0.18,
                                         line={"width": 0}, hoverinfo="skip", showlegend=False,
                                         name=f"{name} 95% CI"), row=1, col=col)
            fig.add_trace(go.Scatter(x=xs, y=ys, name=name, legendgroup=name, showlegend=col == 1,
                                     mode="markers" if markers_only else "lines+markers", line={"color": c},
                                     error_y={"type": "data", "array": half, "visible": True}), row=1, col=col)
        fig.update_xaxes(title_text=x, type="log" if log_x else None, row=1, col=col)
    fig.update_yaxes(title_text=y, row=1, col=1)
    fig.update_layout(title=title or f"{y} vs {x}", template="plotly_white", legend_title=color or "")
    return fig


def pareto(agg: pd.DataFrame, x: str, y: str, color: str, title: str = "", **kw) -> go.Figure:
    """Accuracy against energy (or any cost) per policy; points joined in order of cost."""
    fig = sweep_lines(agg, x, y, color, title or f"{y} vs {x} (Pareto)", **kw)
    fig.update_traces(mode="lines+markers")
    return fig


def exit_fractions_bars(labels: list[str], fractions: list[dict], title: str = "Exit fractions") -> go.Figure:
    fig = go.Figure()
    for k, name in enumerate(EXIT_NAMES):
        fig.add_trace(go.Bar(x=labels, y=[f.get(name) or 0.0 for f in fractions], name=name,
                             marker_color=PALETTE[k]))
    fig.update_layout(barmode="stack", title=title, yaxis_title="fraction of inferences", template="plotly_white")
    return fig


def timeline_figure(tl: pd.DataFrame, columns: list[str], title: str, yaxis: str) -> go.Figure:
    fig = go.Figure()
    x = ((tl["window_start_s"] + tl["window_end_s"]) / 2).tolist()
    for k, c in enumerate(columns):
        fig.add_trace(go.Scatter(x=x, y=tl[c].astype(float).tolist(), name=c, mode="lines",
                                 line={"color": PALETTE[k % len(PALETTE)]}))
    fig.update_layout(title=title, xaxis_title="simulated time (s)", yaxis_title=yaxis, template="plotly_white")
    return fig


def accuracy_timeline(tl: pd.DataFrame) -> go.Figure:
    cols = [c for c in ("accuracy", "map") if c in tl and tl[c].notna().any()]
    return timeline_figure(tl, cols, "Accuracy over time", "accuracy / mAP")


def link_utilisation(tl: pd.DataFrame) -> go.Figure:
    cols = [c for c in tl.columns if c.startswith("link:") and c.endswith(":utilisation") and tl[c].max() > 0]
    return timeline_figure(tl, cols, "Link utilisation over time", "utilisation")


def latency_cdf(summary: dict) -> go.Figure:
    q = summary.get("latency_quantiles_s") or []
    p = [i / (len(q) - 1) for i in range(len(q))] if len(q) > 1 else []
    fig = go.Figure(go.Scatter(x=q, y=p, mode="lines", name="latency"))
    fig.update_layout(title="Latency CDF", xaxis_title="latency (s)", yaxis_title="P(latency <= x)",
                      xaxis_type="log", template="plotly_white")
    return fig


def write_html(figures: list[go.Figure], path: Path, title: str, intro_html: str = "", outro_html: str = "") -> Path:
    """One self-contained HTML page (plotly.js inline, once): intro, figures, outro."""
    parts = [pio.to_html(f, full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{intro_html}{''.join(parts)}{outro_html}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.p{os.getpid()}.partial")
    try:
        tmp.write_text(page)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def table_html(rows: dict) -> str:
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                    for k, v in rows.items())
    return f"<table>{cells}</table>"


def frame_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.6g}", border=0)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)
