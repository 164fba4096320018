"""Pure pandas transforms: recorder rows -> timeline, per-device frame and summary.

Request mode records one row per inference; window mode one row per (window, group,
place, exit) with counts and sums.  Both become one *weighted frame* (``n``
inferences per row, ``correct`` of them right, sums of mAP, latency, bytes and
energy), from which every metric is computed the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.policies.routing import EXIT_NAMES
from sim.recorder import DEVICE_TOTALS, INFERENCE_COLUMNS, WINDOW_COLUMNS
from sim.run import RunResult


def inferences_frame(result: RunResult) -> pd.DataFrame:
    """One row per inference (request mode)."""
    rows = result.recorder.inferences
    df = pd.DataFrame({c: np.asarray(rows[c]) for c in INFERENCE_COLUMNS})
    df = df.astype({"arrival_s": "float64", "done_s": "float64", "group": "int32", "device": "int32",
                    "place": "int32", "exit": "int8", "correct": "bool", "map": "float64", "version": "int32",
                    "staleness_s": "float64", "bytes_up": "int64", "bytes_down": "int64",
                    "compute_energy_j": "float64", "radio_energy_j": "float64",
                    "server_energy_j": "float64"})
    df["latency_s"] = df["done_s"] - df["arrival_s"]
    return df


def weighted_frame(result: RunResult, inf: pd.DataFrame | None = None) -> pd.DataFrame:
    """Request rows (n = 1) and window rows in one frame with counts and sums."""
    r = result.recorder
    inf = inferences_frame(result) if inf is None else inf
    has_map = inf["map"].notna()
    has_stale = inf["staleness_s"].notna()
    req = pd.DataFrame({
        "t_s": inf["done_s"], "group": inf["group"], "device": inf["device"], "place": inf["place"],
        "exit": inf["exit"].astype("int32"), "n": 1.0, "correct": inf["correct"].astype(float),
        "map_sum": inf["map"].where(has_map, 0.0), "map_n": has_map.astype(float),
        "staleness_sum": inf["staleness_s"].where(has_stale, 0.0), "staleness_n": has_stale.astype(float),
        "latency_sum": inf["latency_s"], "bytes_up": inf["bytes_up"].astype(float),
        "bytes_down": inf["bytes_down"].astype(float), "compute_energy_j": inf["compute_energy_j"],
        "radio_energy_j": inf["radio_energy_j"], "server_energy_j": inf["server_energy_j"]})
    if not r.windows["n"]:
        return req
    win = pd.DataFrame({c: np.asarray(r.windows[c], dtype=float) for c in WINDOW_COLUMNS})
    win["device"] = -1
    for c in ("group", "place", "exit", "device"):
        win[c] = win[c].astype("int32")
    return pd.concat([req, win[req.columns]], ignore_index=True) if len(req) else win[req.columns]


def latencies(result: RunResult, inf: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(latency values, weights): every request-mode inference, plus window-mode samples."""
    r = result.recorder
    req = inf["latency_s"].to_numpy()
    if not r.latency_samples:
        return req, None
    s = np.asarray(r.latency_samples, dtype=float)
    return np.concatenate([req, s[:, 0]]), np.concatenate([np.ones(len(req)), s[:, 1]])


def quantiles(values: np.ndarray, weights: np.ndarray | None) -> list[float]:
    """The 0th..100th percentiles (weighted when window-mode samples carry weights)."""
    if len(values) == 0:
        return []
    if weights is None:
        return np.percentile(values, np.arange(101)).tolist()
    order = np.argsort(values, kind="stable")
    v, cw = values[order], np.cumsum(weights[order])
    return np.interp(np.arange(101) / 100 * cw[-1], cw, v).tolist()


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def timeline(result: RunResult, w: pd.DataFrame) -> pd.DataFrame:
    """One row per window between consecutive samples (window ends at the horizon)."""
    r = result.recorder
    t = np.asarray(r.samples_t)
    start, end = t[:-1], t[1:]
    dt = end - start
    out = pd.DataFrame({"window_start_s": start, "window_end_s": end})
    idx = np.clip(np.searchsorted(t, w["t_s"].to_numpy(), side="right") - 1, 0, len(dt) - 1)

    def total(col: str | np.ndarray) -> np.ndarray:
        weights = w[col].to_numpy(dtype=float) if isinstance(col, str) else col
        return np.bincount(idx, weights=weights, minlength=len(dt))

    n = total("n")
    out["inferences"] = n.round().astype(np.int64)
    out["accuracy"] = _ratio(total("correct"), n)
    out["map"] = _ratio(total("map_sum"), total("map_n"))
    out["latency_mean_s"] = _ratio(total("latency_sum"), n)
    out["offloaded_fraction"] = _ratio(total(np.where(w["place"] >= 0, w["n"], 0.0)), n)
    out["extension_fraction"] = _ratio(total(np.where(w["exit"] == 1, w["n"], 0.0)), n)
    out["energy_j_per_inference"] = _ratio(total((w["compute_energy_j"] + w["radio_energy_j"]).to_numpy()), n)
    if len(result.scenario.device_groups) > 1:
        for gi, g in enumerate(result.scenario.device_groups):
            mine = (w["group"] == gi).to_numpy()
            ng = total(np.where(mine, w["n"], 0.0))
            out[f"group:{g.name}:accuracy"] = _ratio(total(np.where(mine, w["correct"], 0.0)), ng)
            out[f"group:{g.name}:map"] = _ratio(total(np.where(mine, w["map_sum"], 0.0)),
                                                total(np.where(mine, w["map_n"], 0.0)))
    bits = np.diff(np.asarray(r.samples_link_bits), axis=0)
    for j, name in enumerate(r.link_names):
        thr = bits[:, j] / dt
        out[f"link:{name}:throughput_bps"] = thr
        out[f"link:{name}:utilisation"] = thr / result.link_capacity_bps[name]
    qa = np.diff(np.asarray(r.samples_queue_area), axis=0)
    ba = np.diff(np.asarray(r.samples_busy_area), axis=0)
    ins = np.asarray(r.samples_in_system)[1:]
    for j, name in enumerate(r.server_names):
        out[f"server:{name}:queue_length_mean"] = qa[:, j] / dt
        out[f"server:{name}:utilisation"] = ba[:, j] / (dt * result.server_workers[name])
        out[f"server:{name}:in_system_end"] = ins[:, j]
    return out


def _device_totals(result: RunResult, w: pd.DataFrame, gi: int, count: int) -> dict[str, np.ndarray]:
    """Per-device totals of one group: from request rows, plus window-mode accumulators."""
    sub = w[(w["group"] == gi) & (w["device"] >= 0)]
    d = sub["device"].to_numpy()

    def by_device(col) -> np.ndarray:
        return np.bincount(d, weights=np.asarray(col, dtype=float), minlength=count)

    tot = {"n": by_device(sub["n"]), "correct": by_device(sub["correct"]),
           "offloaded": by_device(np.where(sub["place"] >= 0, sub["n"], 0.0)),
           "latency_sum": by_device(sub["latency_sum"]), "bytes_up": by_device(sub["bytes_up"]),
           "bytes_down": by_device(sub["bytes_down"]), "compute_energy_j": by_device(sub["compute_energy_j"]),
           "radio_energy_j": by_device(sub["radio_energy_j"])}
    extra = result.recorder.device_totals.get(gi)
    if extra is not None:
        for k in DEVICE_TOTALS:
            tot[k] = tot[k] + extra[k]
    return tot


def devices(result: RunResult, w: pd.DataFrame) -> pd.DataFrame:
    """Per-device totals (every device, including those that made no inference)."""
    sc = result.scenario
    frames = []
    for gi, g in enumerate(sc.device_groups):
        t = _device_totals(result, w, gi, g.count)
        idle_j = g.energy.idle_power_w * sc.horizon_s
        frames.append(pd.DataFrame({
            "group": g.name, "device": np.arange(g.count, dtype=np.int32), "access_point": g.access_point,
            "inferences": t["n"].round().astype(np.int64), "accuracy": _ratio(t["correct"], t["n"]),
            "offloaded": t["offloaded"].round().astype(np.int64), "latency_mean_s": _ratio(t["latency_sum"], t["n"]),
            "bytes_up": t["bytes_up"].round().astype(np.int64), "bytes_down": t["bytes_down"].round().astype(np.int64),
            "compute_energy_j": t["compute_energy_j"], "radio_energy_j": t["radio_energy_j"], "idle_energy_j": idle_j,
            "energy_j": t["compute_energy_j"] + t["radio_energy_j"] + idle_j,
        }))
    return pd.concat(frames, ignore_index=True)


def summary(result: RunResult, w: pd.DataFrame, dev: pd.DataFrame, inf: pd.DataFrame) -> dict:
    """Headline numbers.  Depends only on the scenario and seed (no wall time, no dates)."""
    sc = result.scenario
    r = result.recorder
    lat, lat_w = latencies(result, inf)
    n = float(w["n"].sum())
    ni = int(round(n))
    horizon = sc.horizon_s
    link_bits = r.samples_link_bits[-1]
    energy = float(dev["energy_j"].sum())
    by_exit = {name: float(w.loc[w["exit"] == k, "n"].sum()) for k, name in enumerate(EXIT_NAMES)}
    ok_exit = {name: float(w.loc[w["exit"] == k, "correct"].sum()) for k, name in enumerate(EXIT_NAMES)}
    lat_exit, lat_exit_q = {}, {}
    req_exit = inf["exit"].to_numpy(dtype=int)
    for k, name in enumerate(EXIT_NAMES):
        m = req_exit == k
        qs = np.percentile(lat[:len(req_exit)][m], [50, 95, 99]).tolist() if m.any() else [None] * 3
        lat_exit[name] = qs[1]
        lat_exit_q[name] = dict(zip(("p50", "p95", "p99"), qs))
    map_n = float(w["map_n"].sum())
    stale_n = float(w["staleness_n"].sum())
    flows = pd.DataFrame(r.flows)
    by_purpose = flows.groupby("purpose")["size_bytes"].sum().astype(int).to_dict() if len(flows) else {}
    link_purpose: dict = {}
    for (link, purpose), b in (flows.groupby(["path", "purpose"])["size_bytes"].sum().items() if len(flows) else []):
        link_purpose.setdefault(link, {})[purpose] = 8 * float(b) / (result.link_capacity_bps[link] * horizon)
    q = quantiles(lat, lat_w)
    pct = lambda p: q[p] if q else None  # noqa: E731
    return {
        "scenario": sc.name,
        "seed": sc.seed,
        "replication": result.replication,
        "fidelity": sc.fidelity.mode,
        "devices": sc.devices,
        "horizon_s": horizon,
        "inferences": ni,
        "offloaded_fraction": float(w.loc[w["place"] >= 0, "n"].sum() / n) if n else None,
        "mean_accuracy": float(w["correct"].sum() / n) if n else None,
        "mean_map": float(w["map_sum"].sum() / map_n) if map_n else None,
        "model_staleness_mean_s": float(w["staleness_sum"].sum() / stale_n) if stale_n else None,
        "latency_mean_s": float(w["latency_sum"].sum() / n) if n else None,
        "latency_p50_s": pct(50),
        "latency_p95_s": pct(95),
        "latency_p99_s": pct(99),
        "latency_quantiles_s": q,
        "bytes_up": int(round(w["bytes_up"].sum())),
        "bytes_down": int(round(w["bytes_down"].sum())),
        "energy_j": energy,
        "energy_j_parts": {part: float(dev[f"{part}_energy_j"].sum()) for part in ("compute", "radio", "idle")},
        "energy_j_per_inference": energy / n if n else None,
        "server_energy_j": float(w["server_energy_j"].sum()),
        "compute_energy_j_per_inference": (float(w["compute_energy_j"].sum() + w["server_energy_j"].sum()) / n
                                           if n else None),
        "bytes_by_purpose": {k: int(v) for k, v in sorted(by_purpose.items())},
        "link_utilisation_by_purpose": {k: dict(sorted(v.items())) for k, v in sorted(link_purpose.items())},
        **result.extras,
        "exit_fractions": {name: by_exit[name] / n if n else None for name in EXIT_NAMES},
        "accuracy_by_exit": {name: ok_exit[name] / by_exit[name] if by_exit[name] else None for name in EXIT_NAMES},
        "latency_p95_s_by_exit": lat_exit,
        "latency_s_by_exit": lat_exit_q,  # request mode only (window mode keeps no per-inference latencies)
        "link_utilisation": {name: link_bits[j] / (result.link_capacity_bps[name] * horizon)
                             for j, name in enumerate(r.link_names)},
        "server_utilisation": {name: r.samples_busy_area[-1][j] / (result.server_workers[name] * horizon)
                               for j, name in enumerate(r.server_names)},
        "server_queue_length_mean": {name: r.samples_queue_area[-1][j] / horizon
                                     for j, name in enumerate(r.server_names)},
    }


def frames(result: RunResult) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(summary, timeline, devices) of one run."""
    inf = inferences_frame(result)
    w = weighted_frame(result, inf)
    dev = devices(result, w)
    return summary(result, w, dev, inf), timeline(result, w), dev
