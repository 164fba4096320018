"""Pure pandas transforms: the recorder's aggregates -> timeline, per-device frame and summary.

The recorder keeps, per group, sums per (window, place, exit) (:data:`sim.recorder.COLUMNS`),
per-device totals, a latency sketch and flow bytes; every metric here is a sum or a
ratio of those, or a quantile of the sketch (relative error :data:`sim.sketch.ALPHA`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.entities.energy import DeviceEnergy
from sim.policies.routing import EXIT_NAMES
from sim.recorder import C, EXITS, REQUEST_COLUMNS
from sim.runner import RunResult
from sim.sketch import ALPHA


def cells(result: RunResult) -> np.ndarray:
    """Sums per (window, group, place, exit, column), every group's table side by side, with
    place 0 the device and place 1 all of the group's servers together."""
    return np.stack([np.stack([g.table[:, 0], g.table[:, 1:].sum(axis=1)], axis=1)
                     for g in result.recorder.groups], axis=1)


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def timeline(result: RunResult, x: np.ndarray | None = None) -> pd.DataFrame:
    """One row per window between consecutive samples (the last window ends at the horizon)."""
    r = result.recorder
    x = cells(result) if x is None else x
    t = np.asarray(r.samples_t)
    start, end = t[:-1], t[1:]
    dt = end - start
    out = pd.DataFrame({"window_start_s": start, "window_end_s": end})
    per_window = x.sum(axis=(1, 2, 3))  # (window, column)

    def col(name):
        return per_window[:, C[name]]

    n = col("n")
    out["inferences"] = n.round().astype(np.int64)
    out["accuracy"] = _ratio(col("correct"), n)
    out["map"] = _ratio(col("map_sum"), col("map_n"))
    out["latency_mean_s"] = _ratio(col("latency_sum"), n)
    out["offloaded_fraction"] = _ratio(x[:, :, 1:, :, C["n"]].sum(axis=(1, 2, 3)), n)
    out["extension_fraction"] = _ratio(x[:, :, :, 1, C["n"]].sum(axis=(1, 2)), n)
    out["energy_j_per_inference"] = _ratio(col("compute_energy_j") + col("radio_energy_j"), n)
    cols = {}  # the per-group, link and server columns (hundreds at scale), added at once
    groups = result.scenario.device_groups
    if len(groups) > 1:
        per_group = x.sum(axis=(2, 3))  # (window, group, column)
        for gi, g in enumerate(groups):
            pg = per_group[:, gi]
            cols[f"group:{g.name}:accuracy"] = _ratio(pg[:, C["correct"]], pg[:, C["n"]])
            cols[f"group:{g.name}:map"] = _ratio(pg[:, C["map_sum"]], pg[:, C["map_n"]])
    bits = np.diff(np.asarray(r.samples_link_bits), axis=0)
    for j, name in enumerate(r.link_names):
        thr = bits[:, j] / dt
        cols[f"link:{name}:throughput_bps"] = thr
        cols[f"link:{name}:utilisation"] = thr / result.link_capacity_bps[name]
    qa = np.diff(np.asarray(r.samples_queue_area), axis=0)
    ba = np.diff(np.asarray(r.samples_busy_area), axis=0)
    ins = np.asarray(r.samples_in_system)[1:]
    for j, name in enumerate(r.server_names):
        cols[f"server:{name}:queue_length_mean"] = qa[:, j] / dt
        cols[f"server:{name}:utilisation"] = ba[:, j] / (dt * result.server_workers[name])
        cols[f"server:{name}:in_system_end"] = ins[:, j]
    out = pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
    return out


def devices(result: RunResult) -> pd.DataFrame:
    """Per-device totals (every device, including those that made no inference)."""
    sc = result.scenario
    frames = []
    for g, rec in zip(sc.device_groups, result.recorder.groups):
        t = rec.device_totals()
        idle_j = DeviceEnergy.of(g.energy).idle_j(sc.horizon_s)
        frames.append(pd.DataFrame({
            "group": g.name, "device": np.arange(g.count, dtype=np.int32), "access_point": g.access_point,
            "inferences": t["n"].round().astype(np.int64), "accuracy": _ratio(t["correct"], t["n"]),
            "offloaded": t["offloaded"].round().astype(np.int64), "latency_mean_s": _ratio(t["latency_sum"], t["n"]),
            "bytes_up": t["bytes_up"].round().astype(np.int64), "bytes_down": t["bytes_down"].round().astype(np.int64),
            "compute_energy_j": t["compute_energy_j"], "radio_energy_j": t["radio_energy_j"], "idle_energy_j": idle_j,
            "energy_j": t["compute_energy_j"] + t["radio_energy_j"] + idle_j,
        }))
    return pd.concat(frames, ignore_index=True)


UP_PURPOSES = ("inference_input", "data_upload")  # the devices' uploads
DOWN_PURPOSES = ("inference_result", "model_download")  # their downloads (explicit ``traffic`` is neither)
POOLED = {
    "mean_accuracy": "completed inferences of every group (groups may see different data sets: see groups)",
    "mean_map": "completed inferences of the groups that report mAP (whole-model groups with updates)",
    "mean_accuracy_all_arrivals": "arrivals of every group; a failed, unfinished or missed input counts as wrong",
    "mean_map_all_arrivals": "arrivals of the whole-model groups with updates; a failed, unfinished or missed "
                             "input scores 0",
    "latency": "completed inferences of every group",
    "exit_fractions": "completed inferences of the early-exit groups",
}


def _reports_map(g) -> bool:
    """A whole-model group with updates reports mAP (an early-exit group's records hold top-1 only)."""
    return g.updates is not None and g.early_exit is None


def _div(a: float, b: float):
    return float(a / b) if b else None


def completed_by_tier(result: RunResult) -> dict[str, int]:
    """Completed inferences by where they ran: ``device``, or the ``tier`` of the server."""
    sc, r = result.scenario, result.recorder
    out = {"device": 0} | {s.tier: 0 for s in sc.servers}
    for rec in r.groups:
        n = rec.table[:, :, :, C["n"]].sum(axis=(0, 2))  # per place
        out["device"] += int(round(n[0]))
        for place, server in enumerate(rec.targets, start=1):
            out[sc.servers[server].tier] += int(round(n[place]))
    return out


def accounting(result: RunResult, x: np.ndarray) -> tuple[dict, dict]:
    """(overall, per group): every arrival completed, failed or unfinished; missed, offloaded and
    the all-arrivals accuracy and mAP; per group also its family and its completed-only figures."""
    sc, r = result.scenario, result.recorder
    per = {}
    for gi, (g, rec) in enumerate(zip(sc.device_groups, r.groups)):
        t = x[:, gi].sum(axis=(0, 1, 2))
        unfinished = rec.arrivals - rec.completed - rec.failed
        per[g.name] = {
            "family": "early_exit" if g.early_exit is not None else "whole_model",
            "arrivals": rec.arrivals, "completed": rec.completed, "failed": rec.failed, "unfinished": unfinished,
            "missed": rec.missed, "deadline_s": g.deadline_s,
            "offloaded_fraction": _div(rec.offload_decided, rec.arrivals),
            "accuracy": _div(t[C["correct"]], t[C["n"]]),
            "accuracy_all_arrivals": _div(rec.on_time_correct, rec.arrivals),
            "map": _div(t[C["map_sum"]], t[C["map_n"]]),
            "map_all_arrivals": _div(rec.on_time_map, rec.arrivals) if _reports_map(g) else None,
            "latency_mean_s": _div(t[C["latency_sum"]], t[C["n"]]),
        }
    recs = list(zip(sc.device_groups, r.groups))
    arrivals = sum(rec.arrivals for _, rec in recs)
    map_arrivals = sum(rec.arrivals for g, rec in recs if _reports_map(g))
    overall = {
        "arrivals": arrivals,
        "completed": sum(rec.completed for _, rec in recs),
        "failed": sum(rec.failed for _, rec in recs),
        "unfinished": sum(p["unfinished"] for p in per.values()),
        "missed": sum(rec.missed for _, rec in recs),
        "offloaded_fraction": _div(sum(rec.offload_decided for _, rec in recs), arrivals),
        "mean_accuracy_all_arrivals": _div(sum(rec.on_time_correct for _, rec in recs), arrivals),
        "mean_map_all_arrivals": _div(sum(rec.on_time_map for g, rec in recs if _reports_map(g)), map_arrivals),
    }
    return overall, per


def summary(result: RunResult, x: np.ndarray | None = None, dev: pd.DataFrame | None = None) -> dict:
    """Headline numbers.  Depends only on the scenario and seed (no wall time, no dates).
    Accuracy, mAP and latency figures over completed inferences; ``*_all_arrivals`` over
    every arrival; what each pooled figure pools is in ``pooled``."""
    sc = result.scenario
    r = result.recorder
    x = cells(result) if x is None else x
    dev = devices(result) if dev is None else dev
    tot = x.sum(axis=(0, 1, 2, 3))
    n = float(tot[C["n"]])
    horizon = sc.horizon_s
    link_bits = r.samples_link_bits[-1]
    energy = float(dev["energy_j"].sum())
    overall, per_group = accounting(result, x)
    ee = [gi for gi, g in enumerate(sc.device_groups) if g.early_exit is not None]
    per_exit = x[:, ee].sum(axis=(0, 1, 2))  # (exit, column), early-exit groups only
    n_ee = float(per_exit[:, C["n"]].sum())
    by_exit = {name: float(per_exit[k, C["n"]]) for k, name in enumerate(EXIT_NAMES)}
    ok_exit = {name: float(per_exit[k, C["correct"]]) for k, name in enumerate(EXIT_NAMES)}
    sk = r.sketch
    lat_exit, lat_exit_q = {}, {}
    for k, name in enumerate(EXIT_NAMES):
        qs = sk.quantiles([0.5, 0.95, 0.99], [g * EXITS + k for g in ee]) if ee else [None] * 3
        lat_exit[name] = qs[1]
        lat_exit_q[name] = dict(zip(("p50", "p95", "p99"), qs))
    q = sk.quantiles(np.arange(101) / 100) if sk.count() else []
    pct = lambda p: q[p] if q else None  # noqa: E731
    by_purpose: dict[str, int] = {}
    link_purpose: dict = {}
    for (link, purpose), (_, b) in sorted(r.flow_bytes.items()):
        by_purpose[purpose] = by_purpose.get(purpose, 0) + int(b)
        link_purpose.setdefault(link, {})[purpose] = 8 * float(b) / (result.link_capacity_bps[link] * horizon)
    map_n, stale_n = float(tot[C["map_n"]]), float(tot[C["staleness_n"]])
    return {
        "scenario": sc.name,
        "seed": sc.seed,
        "replication": result.replication,
        "fidelity": sc.fidelity.mode,
        "devices": sc.devices,
        "horizon_s": horizon,
        **{k: overall[k] for k in ("arrivals", "completed", "failed", "unfinished", "missed")},
        "inferences": int(round(n)),
        "offloaded_fraction": overall["offloaded_fraction"],
        "mean_accuracy": float(tot[C["correct"]] / n) if n else None,
        "mean_map": float(tot[C["map_sum"]] / map_n) if map_n else None,
        "mean_accuracy_all_arrivals": overall["mean_accuracy_all_arrivals"],
        "mean_map_all_arrivals": overall["mean_map_all_arrivals"],
        "model_staleness_mean_s": float(tot[C["staleness_sum"]] / stale_n) if stale_n else None,
        "latency_mean_s": float(tot[C["latency_sum"]] / n) if n else None,
        "latency_p50_s": pct(50),
        "latency_p95_s": pct(95),
        "latency_p99_s": pct(99),
        "latency_quantiles_s": q,
        "latency_quantile_relative_error": ALPHA,
        "bytes_up": sum(b for p, b in by_purpose.items() if p in UP_PURPOSES),
        "bytes_down": sum(b for p, b in by_purpose.items() if p in DOWN_PURPOSES),
        "energy_j": energy,
        "energy_j_parts": {part: float(dev[f"{part}_energy_j"].sum()) for part in ("compute", "radio", "idle")},
        "energy_j_per_inference": energy / n if n else None,
        "server_energy_j": float(tot[C["server_energy_j"]]),
        "compute_energy_j_per_inference": (float(tot[C["compute_energy_j"]] + tot[C["server_energy_j"]]) / n
                                           if n else None),
        "bytes_by_purpose": dict(sorted(by_purpose.items())),
        "link_utilisation_by_purpose": {k: dict(sorted(v.items())) for k, v in sorted(link_purpose.items())},
        **result.extras,
        "exit_fractions": {name: by_exit[name] / n_ee if n_ee else None for name in EXIT_NAMES},
        "accuracy_by_exit": {name: ok_exit[name] / by_exit[name] if by_exit[name] else None for name in EXIT_NAMES},
        "latency_p95_s_by_exit": lat_exit,
        "latency_s_by_exit": lat_exit_q,
        "completed_by_tier": completed_by_tier(result),
        "groups": per_group,
        "pooled": POOLED,
        "link_utilisation": {name: link_bits[j] / (result.link_capacity_bps[name] * horizon)
                             for j, name in enumerate(r.link_names)},
        "server_utilisation": {name: r.samples_busy_area[-1][j] / (result.server_workers[name] * horizon)
                               for j, name in enumerate(r.server_names)},
        "server_queue_length_mean": {name: r.samples_queue_area[-1][j] / horizon
                                     for j, name in enumerate(r.server_names)},
    }


def frames(result: RunResult) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(summary, timeline, devices) of one run."""
    x = cells(result)
    dev = devices(result)
    return summary(result, x, dev), timeline(result, x), dev


def traffic(result: RunResult) -> pd.DataFrame:
    """Traffic per link and purpose: one row per (link, purpose) that carried anything, with
    the finished flows that entered there, their bytes and the share of the link's capacity
    over the horizon they took (the same figures as the summary's ``bytes_by_purpose`` and
    ``link_utilisation_by_purpose``)."""
    horizon = result.scenario.horizon_s
    rows = [{"link": link, "purpose": purpose, "flows": int(n), "bytes": int(b),
             "utilisation": 8 * float(b) / (result.link_capacity_bps[link] * horizon)}
            for (link, purpose), (n, b) in sorted(result.recorder.flow_bytes.items())]
    return pd.DataFrame(rows, columns=["link", "purpose", "flows", "bytes", "utilisation"]).astype(
        {"flows": "int64", "bytes": "int64", "utilisation": "float64"})


def requests_frame(chunks: list[dict]) -> pd.DataFrame:
    """One row per finished inference, from the chunks a run's ``sink`` received
    (:data:`sim.recorder.REQUEST_COLUMNS`, plus ``latency_s``)."""
    if not chunks:
        return pd.DataFrame({c: [] for c in (*REQUEST_COLUMNS, "latency_s")})
    df = pd.DataFrame({c: np.concatenate([np.asarray(ch[c]) for ch in chunks]) for c in REQUEST_COLUMNS})
    df = df.astype({"group": "int32", "device": "int32", "place": "int32", "exit": "int8", "correct": "bool",
                    "version": "int32", "bytes_up": "int64", "bytes_down": "int64"})
    df["latency_s"] = df["done_s"] - df["arrival_s"]
    return df
