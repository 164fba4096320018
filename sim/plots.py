"""The plotting API (``sim.plot``): plotly figures from a run's or a sweep's frames, and
self-contained HTML pages.

Each figure function takes frames, never folders, so the same call draws a run just made
in Python and one read back from ``results/``:

* a run is its ``summary`` dict and ``timeline`` frame, or any object with ``.summary``
  and ``.timeline`` (the API's :class:`sim.api.Result`);
* a sweep is its aggregate frame (``aggregate.parquet``: ``param:<path>`` columns, metric
  means and their ``:ci95`` half-widths).

Axis titles, legends and table rows use :mod:`sim.labels` (human names with units;
values scaled to the label's unit), confidence bands stop at a metric's valid range,
a positive numeric x axis spanning more than :data:`LOG_SPAN` goes on a log scale, and
lines beyond the palette's 24 colours change dash style.  Values are handed to plotly
as Python lists (not numpy arrays) so the HTML carries them as readable numbers that
tests compare with the tables.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from sim import labels
from sim.atomic import write_text

EXIT_NAMES = ("main", "extension", "cloud")
#: plotly's Dark24: 24 distinct qualitative colours (its default sequence has 10)
PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
           "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
           "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
#: a numeric axis whose positive values span more than this factor is drawn on a log scale
LOG_SPAN = 30.0
TEMPLATE = "plotly_white"


def line_style(k: int) -> dict:
    """The ``k``-th line's colour and dash: every colour once, then again with the next dash
    (24 x 6 distinct lines before any repeats)."""
    return {"color": PALETTE[k % len(PALETTE)], "dash": DASHES[(k // len(PALETTE)) % len(DASHES)]}


def wants_log(values) -> bool:
    """Whether an axis of ``values`` reads better on a log scale: all numeric and positive,
    spanning more than :data:`LOG_SPAN` (a bandwidth sweep from 0.1 to 16 Mb/s does;
    a fraction from 0 to 1 does not)."""
    try:
        xs = [float(v) for v in values if not labels.missing(v)]
    except (TypeError, ValueError):
        return False
    return bool(xs) and min(xs) > 0 and math.isfinite(max(xs)) and max(xs) / min(xs) > LOG_SPAN


def run_frames(run, timeline: pd.DataFrame | None = None) -> tuple[dict, pd.DataFrame | None]:
    """(summary, timeline) of a run given as a Result (anything with ``.summary`` and
    ``.timeline``), a summary dict (with ``timeline`` beside it) or a timeline frame alone."""
    if hasattr(run, "summary") and hasattr(run, "timeline"):
        return run.summary, run.timeline if timeline is None else timeline
    if isinstance(run, pd.DataFrame):
        return {}, run
    if isinstance(run, dict):
        return run, timeline
    raise TypeError(f"expected a run (a Result, or a summary dict and a timeline frame), got {type(run).__name__}")


def _scaled(values, key, frame: str | None = None) -> list:
    """``values`` in the unit of ``key``'s label (bytes -> MB, b/s -> Mb/s), as floats (NaN kept)."""
    scale = labels.of(key, frame).scale
    try:
        return [float(v) * scale if not labels.missing(v) else math.nan for v in values]
    except (TypeError, ValueError):  # a damaged frame: one line from the report, not a traceback
        raise TypeError(f"{key}: not numbers ({list(values)[:3]!r} ...)") from None


def _layout(fig: go.Figure, title: str, xtitle: str, ytitle: str, log_x: bool = False) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, legend={"title": {"text": ""}})
    fig.update_xaxes(title_text=xtitle, type="log" if log_x else None)
    fig.update_yaxes(title_text=ytitle)
    return fig


def _empty(fig: go.Figure, why: str) -> go.Figure:
    """Say on the figure why it has nothing to draw (rather than an empty pair of axes)."""
    fig.add_annotation(text=why, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16})
    return fig


def _common_title(columns: list[str]) -> str:
    """A y axis title for several timeline columns: their names and shared unit, or the one column's label."""
    labs = [labels.of(c, "timeline") for c in columns]
    if len(labs) == 1:
        return labs[0].text
    units = {lab.unit for lab in labs}
    names = " / ".join(dict.fromkeys(lab.name.split(",")[0] for lab in labs))
    return f"{names} ({units.pop()})" if len(units) == 1 and "" not in units else names


def timeline_lines(tl: pd.DataFrame, columns: list[str], title: str, ytitle: str | None = None,
                   owner_only: bool = False) -> go.Figure:
    """Figure: one line per timeline column against the window's mid time, named by its label
    (with ``owner_only``, by its link, server or group alone: "link ap1.up")."""
    fig = go.Figure()
    x = ((tl["window_start_s"] + tl["window_end_s"]) / 2).tolist()
    for k, c in enumerate(columns):
        name = labels.of(c, "timeline").name
        fig.add_trace(go.Scatter(x=x, y=_scaled(tl[c], c, "timeline"), mode="lines", line=line_style(k),
                                 name=name.rsplit(", ", 1)[-1] if owner_only else name))
    if not columns:
        _empty(fig, "nothing to show in this run's timeline")
    return _layout(fig, title, "simulated time (s)", ytitle or _common_title(columns))


def timeline(run, timeline: pd.DataFrame | None = None, columns: list[str] | None = None,
             title: str = "Accuracy over time") -> go.Figure:
    """Figure: accuracy and mAP (or the given timeline ``columns``) per window of a run."""
    _, tl = run_frames(run, timeline)
    if tl is None:
        raise TypeError("timeline: a summary dict needs the run's timeline frame beside it")
    cols = columns or [c for c in ("accuracy", "map") if c in tl and tl[c].notna().any()]
    return timeline_lines(tl, cols, title)


def link_utilisation(run, timeline: pd.DataFrame | None = None) -> go.Figure:
    """Figure: utilisation of every link that carried traffic, per window of a run."""
    _, tl = run_frames(run, timeline)
    if tl is None:
        raise TypeError("link_utilisation: a summary dict needs the run's timeline frame beside it")
    cols = [c for c in tl.columns if c.startswith("link:") and c.endswith(":utilisation") and tl[c].max() > 0]
    return timeline_lines(tl, cols, "Link utilisation over time", "utilisation (fraction of capacity)", owner_only=True)


def latency_cdf(run) -> go.Figure:
    """Figure: the distribution of completed inferences' latency (percentiles 0-100 from the
    run's sketch), on a log axis when it spans decades."""
    summary, _ = run_frames(run)
    q = [v for v in summary.get("latency_quantiles_s") or [] if not labels.missing(v)]
    p = [i / (len(q) - 1) for i in range(len(q))] if len(q) > 1 else []
    fig = go.Figure(go.Scatter(x=q, y=p, mode="lines", name="latency", line=line_style(0)))
    if not q:
        _empty(fig, labels.of("latency_quantiles_s").na)
    return _layout(fig, "Latency CDF", labels.label("latency_mean_s").replace("mean ", ""),
                   "fraction of inferences at most this latency", log_x=wants_log(q))


def _point_name(row: pd.Series, params: list[str]) -> str:
    return "; ".join(labels.legend(p, row[p], full=True) for p in params) or f"point {row.get('point', '')}"


def exit_fractions(data, names: list[str] | None = None, title: str = "Exit fractions") -> go.Figure:
    """Figure: stacked bars of the share of early-exit inferences leaving at each exit.

    ``data``: a run (Result or summary dict; one bar), a list of runs (one bar each), or a
    sweep's aggregate frame (one bar per point, named by its parameters).  A bar with no
    early-exit inference is left out (and said so if none is left)."""
    if isinstance(data, pd.DataFrame):
        params = [c for c in data.columns if c.startswith("param:")]
        bars = [(_point_name(r, params), {n: r.get(f"exit_fractions.{n}") for n in EXIT_NAMES})
                for _, r in data.iterrows()]
    else:
        runs = data if isinstance(data, (list, tuple)) else [data]
        summaries = [run_frames(r)[0] for r in runs]
        bars = [(str(s.get("scenario", f"run {i}")), s.get("exit_fractions") or {}) for i, s in enumerate(summaries)]
    bars = [(n, f if isinstance(f, dict) else {}) for n, f in bars]
    if names is not None:
        bars = [(n, f) for n, (_, f) in zip(names, bars)]
    bars = [(n, f) for n, f in bars if any(not labels.missing(f.get(e)) for e in EXIT_NAMES)]
    if len({n for n, _ in bars}) < len(bars):  # runs of one scenario: each its own bar, not one stack
        bars = [(f"{n} #{i + 1}", f) for i, (n, f) in enumerate(bars)]
    fig = go.Figure()
    for k, e in enumerate(EXIT_NAMES):
        fig.add_trace(go.Bar(x=[n for n, _ in bars], y=[0.0 if labels.missing(f.get(e)) else f[e] for _, f in bars],
                             name=labels.EXITS[e], marker_color=PALETTE[k]))
    if not bars:
        _empty(fig, labels.of("exit_fractions").na)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, title, "", "fraction of early-exit inferences")


def _column(agg: pd.DataFrame, name: str | None) -> str | None:
    """The aggregate's column for ``name``: a metric as is, a swept setting with ``param:``."""
    if name is None:
        return None
    if name in agg or name.startswith("param:"):
        return name
    return f"param:{name}"


def _ordered(values) -> list:
    """Distinct values in a stable, natural order: numbers by size, the rest by their label."""
    distinct = list(dict.fromkeys(v for v in values if not labels.missing(v)))
    if all(labels.is_number(v) for v in distinct):
        return sorted(distinct)
    return sorted(distinct, key=lambda v: labels.value(v, full=True))


def _line_keys(agg: pd.DataFrame, ccol: str, xcol: str) -> pd.Series:
    """Which line each point belongs to: its ``ccol`` value, a policy by its kind alone (one
    line per policy through its settings, as a threshold sweep wants) unless two settings
    of one kind meet at one x, when each setting is its own line."""
    raw = agg[ccol]
    if not raw.map(lambda v: isinstance(v, str) and v[:1] == "{").any():
        return raw
    short = raw.map(labels.value)
    seen = pd.DataFrame({"x": agg[xcol].astype(str), "k": short, "v": raw})
    clash = bool((seen.groupby(["x", "k"])["v"].nunique() > 1).any())
    return raw.map(lambda v: labels.value(v, full=True)) if clash else short


def sweep_lines(aggregate: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "",
                markers_only: bool = False, facet: str | None = None, log_x: bool | None = None) -> go.Figure:
    """Figure: metric ``y`` against ``x`` (a swept setting or a metric) from a sweep's aggregate
    frame, with 95% confidence bands and error bars held inside ``y``'s valid range (an
    accuracy's band stops at 1), one line per value of ``color`` ("allocation policy =
    optimal"), one panel per value of ``facet``.  ``log_x``: None decides from the values
    (:func:`wants_log`).  Points whose ``y`` is missing are left out of their line."""
    from plotly.subplots import make_subplots

    xcol, ccol, fcol = _column(aggregate, x), _column(aggregate, color), _column(aggregate, facet)
    for c in (xcol, y, ccol, fcol):
        if c is not None and c not in aggregate:
            raise KeyError(f"no column {c!r} in the aggregate frame")
    agg = aggregate.assign(_line=_line_keys(aggregate, ccol, xcol)) if ccol else aggregate
    ylab = labels.of(y)
    facets = _ordered(agg[fcol]) if fcol else [None]
    fig = make_subplots(rows=1, cols=len(facets), shared_yaxes=True,
                        subplot_titles=[labels.legend(fcol, v, short=True) for v in facets] if fcol else None)
    lines = _ordered(agg["_line"]) if ccol else [None]
    numeric_x = all(labels.is_number(v) for v in agg[xcol] if not labels.missing(v))
    for col, fv in enumerate(facets, start=1):
        panel = agg if fcol is None else agg[agg[fcol] == fv]
        for k, cv in enumerate(lines):
            g = panel if ccol is None else panel[panel["_line"] == cv]
            g = g[g[y].notna() & g[xcol].notna()].sort_values(xcol)
            if g.empty:
                continue
            name = labels.legend(ccol, cv) if ccol else ylab.name
            style = line_style(k)
            xs = _scaled(g[xcol], xcol) if numeric_x else [labels.value(v, full=True) for v in g[xcol]]
            ys = _scaled(g[y], y)
            half = _scaled(g[f"{y}:ci95"].fillna(0), y) if f"{y}:ci95" in g else [0.0] * len(ys)
            lo = [_clip(ylab, a - b) for a, b in zip(ys, half)]
            hi = [_clip(ylab, a + b) for a, b in zip(ys, half)]
            if not markers_only and len(xs) > 1:
                fig.add_trace(go.Scatter(x=xs + xs[::-1], y=hi + lo[::-1], fill="toself", fillcolor=style["color"],
                                         opacity=0.18, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                         legendgroup=name, name=f"{name} 95% CI"), row=1, col=col)
            error_x = None
            if f"{xcol}:ci95" in g:  # a metric on x (a Pareto plot's cost) has its own interval
                error_x = {"type": "data", "array": _scaled(g[f"{xcol}:ci95"].fillna(0), xcol), "visible": True}
            fig.add_trace(go.Scatter(x=xs, y=ys, name=name, legendgroup=name, showlegend=col == 1 and ccol is not None,
                                     mode="markers" if markers_only else "lines+markers", line=style,
                                     error_y={"type": "data", "symmetric": False, "visible": True,
                                              "array": [b - a for a, b in zip(ys, hi)],
                                              "arrayminus": [a - b for a, b in zip(ys, lo)]},
                                     error_x=error_x), row=1, col=col)
    log = (numeric_x and wants_log(agg[xcol].tolist())) if log_x is None else log_x
    fig.update_xaxes(title_text=labels.label(xcol), type="log" if log else None)
    fig.update_yaxes(title_text=ylab.text, row=1, col=1)
    fig.update_layout(title=title or f"{ylab.name} vs {labels.of(xcol).name}", template=TEMPLATE,
                      legend={"title": {"text": ""}})
    if fcol:  # the panels' titles name the facet's values; the figure's title says which setting
        fig.update_annotations(font_size=13)
        fig.update_layout(title_text=f"{fig.layout.title.text}; panels by {labels.label(fcol)}")
    return fig


def _clip(lab: labels.Label, v: float) -> float:
    """A band edge ``v`` (in shown units) inside the label's valid range."""
    if lab.lo is not None:
        v = max(v, lab.lo * lab.scale)
    if lab.hi is not None:
        v = min(v, lab.hi * lab.scale)
    return v


def pareto(aggregate: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "", **kw) -> go.Figure:
    """Figure: accuracy (``y``) against a cost (``x``: energy, latency) per policy, the points of
    each line joined in order of cost, with intervals on both axes."""
    fig = sweep_lines(aggregate, x, y, color, title or f"{labels.of(y).name} vs {labels.of(x).name} (Pareto)", **kw)
    fig.update_traces(mode="lines+markers", selector={"mode": "markers"})
    return fig


# ---- HTML -------------------------------------------------------------------------------

STYLE = ("body{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}"
         ".scroll{overflow-x:auto;max-width:100%;margin:1em 0}"
         "table{border-collapse:collapse;font-size:14px}"
         "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}"
         "th{background:#f4f4f4}th.row{text-align:left;font-weight:normal;background:none}"
         "tr.section th{font-weight:bold;background:#f4f4f4}td.na{color:#777;font-style:italic}"
         "td.text{text-align:left;white-space:normal}")


def write_html(figures: list[go.Figure], path: Path, title: str, intro_html: str = "", outro_html: str = "") -> Path:
    """Write one self-contained HTML page (plotly.js inline, once): intro, figures, outro;
    atomically (a reader never sees half a page).  Returns ``path``."""
    parts = [pio.to_html(f, full_html=False, include_plotlyjs=(i == 0), config={"responsive": True})
             for i, f in enumerate(figures)]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{intro_html}"
            f"{''.join(parts)}{outro_html}</body></html>")
    return write_text(Path(path), page)


def _row(text: str, cell: str, depth: int, kind: str = "", section: bool = False) -> str:
    """One table row, indented by ``depth``; ``kind``: "na" (greyed), "text" (left-aligned) or a number."""
    pad = f" style='padding-left:{0.5 + 1.5 * depth:.1f}em'"
    if section:
        return f"<tr class='section'><th class='row' colspan='2'{pad}>{html.escape(text)}</th></tr>"
    cls = f" class='{kind}'" if kind else ""
    return f"<tr><th class='row'{pad}>{html.escape(text)}</th><td{cls}>{html.escape(cell)}</td></tr>"


def _summary_rows(key: tuple[str, ...], v, depth: int) -> list[str]:
    lab = labels.of(key)
    text = lab.text if depth == 0 or not lab.short else lab.short
    if isinstance(v, dict):
        leaves = list(_leaves(v))
        if not leaves:
            return [_row(text, "none", depth, "na")]
        if all(labels.missing(x) for x in leaves):
            return [_row(text, lab.na, depth, "na")]  # one row says why, not a row of n/a per part
        out = [_row(text, "", depth, section=True)]
        for k, x in v.items():
            out += _summary_rows((*key, str(k)), x, depth + 1)
        return out
    if isinstance(v, (list, tuple)):
        return [_row(text, f"{len(v)} values", depth, "text")]
    kind = "na" if labels.missing(v) else "" if labels.is_number(v) else "text"
    return [_row(text, labels.show(key, v), depth, kind)]


def _leaves(d: dict):
    for x in d.values():
        if isinstance(x, dict):
            yield from _leaves(x)
        else:
            yield x


def summary_table(summary: dict, skip: tuple[str, ...] = ("latency_quantiles_s",)) -> str:
    """HTML: a run's summary as labelled rows (units in the labels, dict values as indented
    sections, a missing value as "n/a" and why), inside a box that scrolls sideways."""
    rows = [r for k, v in summary.items() if k not in skip for r in _summary_rows((k,), v, 0)]
    return f"<div class='scroll'><table>{''.join(rows)}</table></div>"


def sweep_table(aggregate: pd.DataFrame, metrics: list[str]) -> str:
    """HTML: one row per sweep point: its parameters, replications and each of ``metrics`` as
    "mean ± 95% half-width" under its label.  A metric missing at every point is left out;
    a missing cell says "n/a"; the table scrolls sideways when wide."""
    params = [c for c in aggregate.columns if c.startswith("param:")]
    shown = [m for m in dict.fromkeys(metrics) if m in aggregate and aggregate[m].notna().any()]
    cols = [*params, *(["replications"] if "replications" in aggregate else []), *shown]
    head = "".join(f"<th>{html.escape(labels.label(c))}</th>" for c in cols)
    body, gaps = [], False
    for _, r in aggregate.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if labels.missing(v):
                gaps = True
                cells.append(f"<td class='na' title='{html.escape(labels.of(c).na)}'>n/a</td>")
                continue
            text = labels.show(c, v)
            half = r.get(f"{c}:ci95") if c in shown else None
            if half is not None and not labels.missing(half):
                text += f" ± {labels.show(f'{c}:ci95', half)}"
            align = "" if labels.is_number(v) else " class='text'"
            cells.append(f"<td{align}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    note = ("<p>± is the 95% confidence half-width over replications (none with one replication)."
            + (" n/a: the metric has no value at that point (hover for why)." if gaps else "") + "</p>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>{note}"
