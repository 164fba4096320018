"""Pure pandas transforms: recorder rows -> timeline, per-device frame and summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.policies.routing import EXIT_NAMES
from sim.recorder import INFERENCE_COLUMNS
from sim.run import RunResult


def inferences_frame(result: RunResult) -> pd.DataFrame:
    rows = result.recorder.inferences
    df = pd.DataFrame({c: np.asarray(rows[c]) for c in INFERENCE_COLUMNS})
    df = df.astype({"arrival_s": "float64", "done_s": "float64", "group": "int32", "device": "int32",
                    "place": "int32", "exit": "int8", "correct": "bool", "map": "float64", "version": "int32",
                    "staleness_s": "float64", "bytes_up": "int64", "bytes_down": "int64",
                    "compute_energy_j": "float64", "radio_energy_j": "float64",
                    "server_energy_j": "float64"})
    df["latency_s"] = df["done_s"] - df["arrival_s"]
    return df


def timeline(result: RunResult, inf: pd.DataFrame) -> pd.DataFrame:
    """One row per window between consecutive samples (window ends at the horizon)."""
    r = result.recorder
    t = np.asarray(r.samples_t)
    start, end = t[:-1], t[1:]
    dt = end - start
    out = pd.DataFrame({"window_start_s": start, "window_end_s": end})
    idx = np.clip(np.searchsorted(t, inf["done_s"].to_numpy(), side="right") - 1, 0, len(dt) - 1)
    n = np.bincount(idx, minlength=len(dt))
    ok = np.bincount(idx, weights=inf["correct"].to_numpy(dtype=float), minlength=len(dt))
    lat = np.bincount(idx, weights=inf["latency_s"].to_numpy(), minlength=len(dt))
    off = np.bincount(idx, weights=(inf["place"].to_numpy() >= 0).astype(float), minlength=len(dt))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["inferences"] = n
        out["accuracy"] = np.where(n > 0, ok / n, np.nan)
        mp = inf["map"].to_numpy()
        has = ~np.isnan(mp)
        nm = np.bincount(idx[has], minlength=len(dt))
        out["map"] = np.where(nm > 0, np.bincount(idx[has], weights=mp[has], minlength=len(dt)) / np.maximum(nm, 1), np.nan)
        out["latency_mean_s"] = np.where(n > 0, lat / n, np.nan)
        out["offloaded_fraction"] = np.where(n > 0, off / n, np.nan)
        ext = np.bincount(idx, weights=(inf["exit"].to_numpy() == 1).astype(float), minlength=len(dt))
        out["extension_fraction"] = np.where(n > 0, ext / n, np.nan)
        energy = inf["compute_energy_j"].to_numpy() + inf["radio_energy_j"].to_numpy()
        out["energy_j_per_inference"] = np.where(n > 0, np.bincount(idx, weights=energy, minlength=len(dt)) / n, np.nan)
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


def devices(result: RunResult, inf: pd.DataFrame) -> pd.DataFrame:
    """Per-device totals (every device, including those that made no inference)."""
    sc = result.scenario
    frames = []
    for gi, g in enumerate(sc.device_groups):
        sub = inf[inf["group"] == gi]
        d = sub["device"].to_numpy()
        count = lambda w=None: np.bincount(d, weights=w, minlength=g.count)  # noqa: E731
        n = count()
        idle_j = g.energy.idle_power_w * sc.horizon_s
        compute_j, radio_j = count(sub["compute_energy_j"].to_numpy()), count(sub["radio_energy_j"].to_numpy())
        with np.errstate(invalid="ignore", divide="ignore"):
            frames.append(pd.DataFrame({
                "group": g.name, "device": np.arange(g.count, dtype=np.int32), "access_point": g.access_point,
                "inferences": n.astype(np.int64),
                "accuracy": np.where(n > 0, count(sub["correct"].to_numpy(dtype=float)) / n, np.nan),
                "offloaded": count((sub["place"].to_numpy() >= 0).astype(float)).astype(np.int64),
                "latency_mean_s": np.where(n > 0, count(sub["latency_s"].to_numpy()) / n, np.nan),
                "bytes_up": count(sub["bytes_up"].to_numpy(dtype=float)).astype(np.int64),
                "bytes_down": count(sub["bytes_down"].to_numpy(dtype=float)).astype(np.int64),
                "compute_energy_j": compute_j, "radio_energy_j": radio_j, "idle_energy_j": idle_j,
                "energy_j": compute_j + radio_j + idle_j,
            }))
    return pd.concat(frames, ignore_index=True)


def summary(result: RunResult, inf: pd.DataFrame, dev: pd.DataFrame) -> dict:
    """Headline numbers.  Depends only on the scenario and seed (no wall time, no dates)."""
    sc = result.scenario
    r = result.recorder
    lat = inf["latency_s"].to_numpy()
    pct = (lambda p: float(np.percentile(lat, p))) if len(lat) else (lambda p: None)
    n = len(inf)
    horizon = sc.horizon_s
    link_bits = r.samples_link_bits[-1]
    energy = float(dev["energy_j"].sum())
    exits = inf["exit"].to_numpy()
    maps = inf["map"].to_numpy()
    stale = inf["staleness_s"].to_numpy()
    flows = pd.DataFrame(r.flows)
    by_purpose = flows.groupby("purpose")["size_bytes"].sum().astype(int).to_dict() if len(flows) else {}
    link_purpose: dict = {}
    for (link, purpose), b in (flows.groupby(["path", "purpose"])["size_bytes"].sum().items() if len(flows) else []):
        link_purpose.setdefault(link, {})[purpose] = 8 * float(b) / (result.link_capacity_bps[link] * horizon)
    by_exit = {name: exits == k for k, name in enumerate(EXIT_NAMES)}
    return {
        "scenario": sc.name,
        "seed": sc.seed,
        "replication": result.replication,
        "devices": sc.devices,
        "horizon_s": horizon,
        "inferences": n,
        "offloaded_fraction": float((inf["place"] >= 0).mean()) if n else None,
        "mean_accuracy": float(inf["correct"].mean()) if n else None,
        "mean_map": float(np.nanmean(maps)) if (~np.isnan(maps)).any() else None,
        "model_staleness_mean_s": float(np.nanmean(stale)) if (~np.isnan(stale)).any() else None,
        "latency_mean_s": float(lat.mean()) if n else None,
        "latency_p50_s": pct(50),
        "latency_p95_s": pct(95),
        "latency_p99_s": pct(99),
        "latency_quantiles_s": np.percentile(lat, np.arange(101)).tolist() if n else [],
        "bytes_up": int(inf["bytes_up"].sum()),
        "bytes_down": int(inf["bytes_down"].sum()),
        "energy_j": energy,
        "energy_j_parts": {part: float(dev[f"{part}_energy_j"].sum()) for part in ("compute", "radio", "idle")},
        "energy_j_per_inference": energy / n if n else None,
        "server_energy_j": float(inf["server_energy_j"].sum()),
        "bytes_by_purpose": {k: int(v) for k, v in sorted(by_purpose.items())},
        "link_utilisation_by_purpose": {k: dict(sorted(v.items())) for k, v in sorted(link_purpose.items())},
        **result.extras,
        "compute_energy_j_per_inference": (float(inf["compute_energy_j"].sum() + inf["server_energy_j"].sum()) / n
                                           if n else None),
        "exit_fractions": {name: float(m.mean()) if n else None for name, m in by_exit.items()},
        "accuracy_by_exit": {name: float(inf["correct"].to_numpy()[m].mean()) if m.any() else None
                             for name, m in by_exit.items()},
        "latency_p95_s_by_exit": {name: float(np.percentile(lat[m], 95)) if m.any() else None
                                  for name, m in by_exit.items()},
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
    dev = devices(result, inf)
    return summary(result, inf, dev), timeline(result, inf), dev
