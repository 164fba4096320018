"""Human labels, units and valid ranges for the keys the simulator writes.

Result files keep machine keys (``latency_p95_s``, ``link:ap1.up:utilisation``,
``param:policies.allocation.kind``, ``groups.cams.accuracy:ci95``) because scripts read
them; people read figures and reports, which show :func:`label` of a key instead
("p95 latency (s)"), values through :func:`show` (scaled to the label's unit, a missing
value as "n/a" and why), and confidence bands clipped to :func:`of`'s ``lo``/``hi``
(a fraction's band stops at 1).  One table serves the three kinds of key:

* summary keys (``summary.json``; a sweep's metric columns are the same keys
  flattened with dots: ``exit_fractions.cloud``, ``groups.cams.accuracy``) and their
  ``:ci95`` half-widths;
* timeline columns (``timeline.parquet``, including ``group:``/``link:``/``server:``
  columns) and per-device columns (``devices.parquet``);
* sweep parameters (``param:<scenario path>``), labelled from the path's last field
  and where it sits (``access point 0``, ``allocation policy``).

An unknown key gets a cleaned-up version of itself, never an error: a new metric shows
up readable before anyone adds it here.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Label:
    """How to show one key: ``name`` and ``unit`` make the text ("p95 latency (s)");
    shown values are ``value * scale``; ``lo``/``hi`` bound the valid values (in the
    file's units); ``na`` says why a value can be missing; ``short`` names a nested
    value under its section's heading ("main exit" under "exit fractions")."""

    name: str
    unit: str = ""
    scale: float = 1.0
    lo: float | None = None
    hi: float | None = None
    na: str = "n/a"
    short: str = ""

    @property
    def text(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def __str__(self) -> str:
        return self.text

    def clip(self, value: float) -> float:
        """``value`` held inside the valid range (a band edge past 1 or below 0 is drawn at it)."""
        if self.lo is not None and value < self.lo:
            return self.lo
        if self.hi is not None and value > self.hi:
            return self.hi
        return value


def _frac(name: str, na: str = "n/a") -> Label:
    return Label(name, lo=0.0, hi=1.0, na=na)


def _pos(name: str, unit: str = "", scale: float = 1.0, na: str = "n/a") -> Label:
    return Label(name, unit, scale, lo=0.0, na=na)


NO_COMPLETED = "n/a: no completed inference"
NO_MAP = "n/a: no group with model updates"
NO_EE = "n/a: no completed early-exit inference"
NO_EXIT = "n/a: no inference left at this exit"
MB = 1e-6  # bytes -> MB, b/s -> Mb/s

#: top-level keys of ``summary.json`` (a dict-valued key labels its section)
SUMMARY: dict[str, Label] = {
    "scenario": Label("scenario"),
    "seed": Label("seed"),
    "replication": Label("replication"),
    "fidelity": Label("time driver"),
    "devices": _pos("devices"),
    "horizon_s": _pos("simulated time", "s"),
    "arrivals": _pos("arrivals"),
    "completed": _pos("completed inferences"),
    "failed": _pos("failed inferences (outages)"),
    "unfinished": _pos("unfinished at the horizon"),
    "missed": _pos("completed past the deadline"),
    "inferences": _pos("inferences"),
    "offloaded_fraction": _frac("offloaded fraction of arrivals", "n/a: no arrivals"),
    "mean_accuracy": _frac("mean accuracy (completed)", NO_COMPLETED),
    "mean_map": _frac("mean mAP (completed)", NO_MAP),
    "mean_accuracy_all_arrivals": _frac("mean accuracy (all arrivals)", "n/a: no arrivals"),
    "mean_map_all_arrivals": _frac("mean mAP (all arrivals)", NO_MAP),
    "model_staleness_mean_s": _pos("mean model staleness", "s", na="n/a: no model updates"),
    "latency_mean_s": _pos("mean latency", "s", na=NO_COMPLETED),
    "latency_p50_s": _pos("median latency", "s", na=NO_COMPLETED),
    "latency_p95_s": _pos("p95 latency", "s", na=NO_COMPLETED),
    "latency_p99_s": _pos("p99 latency", "s", na=NO_COMPLETED),
    "latency_quantiles_s": _pos("latency percentiles 0-100", "s", na=NO_COMPLETED),
    "latency_quantile_relative_error": _pos("latency quantile relative error"),
    "bytes_up": _pos("bytes up", "MB", MB),
    "bytes_down": _pos("bytes down", "MB", MB),
    "energy_j": _pos("device energy", "J"),
    "energy_j_parts": _pos("device energy by part", "J"),
    "energy_j_per_inference": _pos("device energy per inference", "J", na=NO_COMPLETED),
    "server_energy_j": _pos("server compute energy", "J"),
    "compute_energy_j_per_inference": _pos("compute energy per inference (devices and servers)", "J",
                                           na=NO_COMPLETED),
    "bytes_by_purpose": _pos("bytes by purpose", "MB", MB),
    "link_utilisation_by_purpose": _frac("link utilisation by purpose"),
    "edge_received_bytes": _pos("bytes received at the edge (model updates)", "MB", MB),
    "model_installs": _pos("model installs"),
    "exit_fractions": _frac("exit fractions", NO_EE),
    "accuracy_by_exit": _frac("accuracy by exit", NO_EE),
    "latency_p95_s_by_exit": _pos("p95 latency by exit", "s", na=NO_EE),
    "latency_s_by_exit": _pos("latency by exit", "s", na=NO_EE),
    "completed_by_tier": _pos("completed inferences by where they ran"),
    "groups": Label("per device group"),
    "pooled": Label("what each pooled figure pools"),
    "link_utilisation": _frac("link utilisation"),
    "airtime_utilisation": _frac("air-time utilisation (radio links)"),
    "server_utilisation": _frac("server utilisation"),
    "server_queue_length_mean": _pos("mean server queue length", "jobs"),
}

#: the fields of ``summary["groups"][<group>]``
GROUP_FIELDS: dict[str, Label] = {
    "family": Label("model family"),
    "arrivals": SUMMARY["arrivals"],
    "completed": SUMMARY["completed"],
    "failed": SUMMARY["failed"],
    "unfinished": SUMMARY["unfinished"],
    "missed": SUMMARY["missed"],
    "deadline_s": _pos("deadline", "s", na="none set"),
    "offloaded_fraction": SUMMARY["offloaded_fraction"],
    "accuracy": _frac("accuracy (completed)", NO_COMPLETED),
    "accuracy_all_arrivals": _frac("accuracy (all arrivals)", "n/a: no arrivals"),
    "map": _frac("mAP (completed)", "n/a: no mAP for this group (no model updates, or early exits: top-1 only)"),
    "map_all_arrivals": _frac("mAP (all arrivals)", "n/a: no mAP for this group (no model updates, or early exits)"),
    "latency_mean_s": SUMMARY["latency_mean_s"],
}

EXITS = {"main": "main exit", "extension": "extension exit", "cloud": "cloud exit"}  # cloud: offloaded
PURPOSES = {"inference_input": "inference inputs", "inference_result": "inference results",
            "data_upload": "data uploads", "model_download": "model downloads"}
PARTS = {"compute": "compute", "radio": "radio", "idle": "idle"}
EXIT_SECTIONS = {"exit_fractions": "fraction", "accuracy_by_exit": "accuracy",
                 "latency_p95_s_by_exit": "p95 latency", "latency_s_by_exit": "latency"}
OWNED = {"link_utilisation": ("link", "utilisation"), "airtime_utilisation": ("link", "air-time utilisation"),
         "server_utilisation": ("server", "utilisation"),
         "server_queue_length_mean": ("server", "mean queue length")}

#: columns of ``timeline.parquet`` (per window); ``group:``/``link:``/``server:`` columns in TIMELINE_PARTS
TIMELINE: dict[str, Label] = {
    "window_start_s": _pos("window start", "s"),
    "window_end_s": _pos("window end", "s"),
    "inferences": _pos("inferences in the window"),
    "accuracy": _frac("accuracy", "n/a: no inference finished in the window"),
    "map": _frac("mAP", "n/a: no mAP inference finished in the window"),
    "latency_mean_s": _pos("mean latency", "s", na="n/a: no inference finished in the window"),
    "offloaded_fraction": _frac("offloaded fraction"),
    "extension_fraction": _frac("extension-exit fraction"),
    "energy_j_per_inference": _pos("device energy per inference", "J"),
}
TIMELINE_PARTS: dict[str, Label] = {
    "accuracy": TIMELINE["accuracy"],
    "map": TIMELINE["map"],
    "throughput_bps": _pos("throughput", "Mb/s", MB),
    "utilisation": _frac("utilisation"),
    "queue_length_mean": _pos("mean queue length", "jobs"),
    "in_system_end": _pos("jobs in system at window end"),
}
TIMELINE_OWNERS = {"group": "device group", "link": "link", "server": "server"}

#: columns of ``devices.parquet``
DEVICES: dict[str, Label] = {
    "group": Label("device group"),
    "device": Label("device"),
    "access_point": Label("access point"),
    "inferences": _pos("inferences"),
    "accuracy": _frac("accuracy", NO_COMPLETED),
    "offloaded": _pos("offloaded inferences"),
    "latency_mean_s": SUMMARY["latency_mean_s"],
    "bytes_up": SUMMARY["bytes_up"],
    "bytes_down": SUMMARY["bytes_down"],
    "compute_energy_j": _pos("compute energy", "J"),
    "radio_energy_j": _pos("radio energy", "J"),
    "idle_energy_j": _pos("idle energy", "J"),
    "energy_j": _pos("energy", "J"),
}

#: columns of a run's traffic per link and purpose (``sim.metrics.traffic``)
FLOWS: dict[str, Label] = {
    "link": Label("link"),
    "purpose": Label("purpose"),
    "flows": _pos("finished flows"),
    "bytes": _pos("bytes", "MB", MB),
    "utilisation": _frac("share of the link's capacity"),
}

#: sweep columns that are not metrics
SWEEP: dict[str, Label] = {"point": Label("point"), "replications": _pos("replications")}

#: scenario settings, by their field name (the last part of a sweep path)
SETTINGS: dict[str, Label] = {
    "uplink_bps": _pos("uplink bandwidth", "Mb/s", MB),
    "downlink_bps": _pos("downlink bandwidth", "Mb/s", MB),
    "bandwidth_bps": _pos("bandwidth", "Mb/s", MB),
    "latency_s": _pos("latency", "s"),
    "goodput_factor": _frac("goodput factor"),
    "flow_setup_s": _pos("flow set-up time", "s"),
    "bandwidth_ab_bps": _pos("bandwidth a to b", "Mb/s", MB),
    "bandwidth_ba_bps": _pos("bandwidth b to a", "Mb/s", MB),
    "mss_bytes": _pos("TCP segment payload", "bytes"),
    "header_bytes": _pos("header per segment", "bytes"),
    "setup_rtts": _pos("connection set-up", "round trips"),
    "initial_window_segments": _pos("initial congestion window", "segments"),
    "ack_every_segments": _pos("segments per ACK"),
    "size_bytes": _pos("flow size", "bytes"),
    "mean_bytes": _pos("mean flow size", "bytes"),
    "count": _pos("devices"),
    "rate_hz": _pos("arrival rate per device", "1/s"),
    "period_s": _pos("period", "s"),
    "samples_per_s": _pos("new samples per device", "1/s"),
    "sample_bytes": _pos("sample size", "bytes"),
    "model_bytes": _pos("model size", "bytes"),
    "payload_bits": _pos("bits per model parameter"),
    "input_bytes": _pos("input size", "bytes"),
    "result_bytes": _pos("result size", "bytes"),
    "deadline_s": _pos("deadline", "s"),
    "workers": _pos("workers"),
    "speed_factor": _pos("speed factor"),
    "horizon_s": SUMMARY["horizon_s"],
    "window_s": _pos("window", "s"),
    "seed": SUMMARY["seed"],
    "fraction": _frac("offloaded fraction"),
    "threshold": _frac("confidence threshold"),
    "threshold_nats": _pos("entropy threshold", "nats"),
    "threshold_fraction": _frac("entropy threshold (share of ln C)"),
    "max_backlog_s": _pos("backlog threshold", "s"),
    "information_delay_s": _pos("load information delay", "s"),
    "energy_weight_s_per_j": _pos("energy weight", "s/J"),
    "target": Label("offload target"),
    "active_power_w": _pos("active power", "W"),
    "idle_power_w": _pos("idle power", "W"),
    "energy_per_mac_j": _pos("energy per MAC", "J"),
    "radio_up_j_per_bit": _pos("radio energy per bit up", "J/bit"),
    "radio_down_j_per_bit": _pos("radio energy per bit down", "J/bit"),
    "mode": Label("mode"),
    # radio access points (docs/wireless.md)
    "bandwidth_hz": _pos("channel bandwidth", "MHz", 1e-6),
    "carrier_ghz": _pos("carrier frequency", "GHz"),
    "device_tx_power_dbm": Label("device transmit power", "dBm"),
    "ap_tx_power_dbm": Label("access point transmit power", "dBm"),
    "noise_figure_db": _pos("noise figure", "dB"),
    "shadowing_sigma_db": _pos("shadowing sigma", "dB"),
    "exponent": _pos("path-loss exponent"),
    "cap_bps": _pos("rate cap per device", "Mb/s", MB),
    "efficiency": _frac("rate efficiency"),
    "snr_db": Label("SNR", "dB"),
    "radius_m": _pos("radius", "m"),
    "min_distance_m": _pos("minimum distance", "m"),
    "distances_m": Label("distances", "m"),
}
#: the lists of a scenario, for "access point 0" in a path's context
POLICIES = ("routing", "allocation", "scheduling", "selection")
CONTAINERS = {"access_points": "access point", "device_groups": "device group", "servers": "server",
              "links": "link"}
#: units read from a field's suffix when the field is in no table (longest first)
SUFFIXES = (("_j_per_bit", "J/bit", 1.0), ("_bps", "Mb/s", MB), ("_bytes", "bytes", 1.0), ("_hz", "1/s", 1.0),
            ("_s", "s", 1.0), ("_w", "W", 1.0), ("_j", "J", 1.0))


def _words(key: str) -> str:
    return key.replace("_", " ").strip()


def _guess(field: str) -> Label:
    """A label for a field in no table: its words, a unit from its suffix."""
    for suffix, unit, scale in SUFFIXES:
        if field.endswith(suffix) and len(field) > len(suffix):
            return Label(_words(field[: -len(suffix)]), unit, scale)
    if field.endswith("_fraction") or field in ("accuracy", "map"):
        return _frac(_words(field).replace("map", "mAP"))
    return Label(_words(field))


def _named(base: Label, name: str, short: str = "", **changes) -> Label:
    return replace(base, name=name, short=short, **changes)


def _summary(parts: list[str]) -> Label:
    """A summary key, dotted for nested values (``groups.cams.accuracy``, ``exit_fractions.cloud``,
    ``link_utilisation.ap1.up``: names may hold dots, so a name is whatever lies between the
    section and the last field)."""
    top, rest = parts[0], parts[1:]
    base = SUMMARY.get(top) or _guess(top)
    if not rest:
        return base
    name = ".".join(rest)  # a link, server or tier name (names may hold dots)
    if top == "groups":
        group = ".".join(rest[:-1]) if len(rest) > 1 else rest[0]
        if len(rest) == 1:
            return Label(f"device group {group}", short=f"device group {group}")
        field = GROUP_FIELDS.get(rest[-1]) or _guess(rest[-1])
        return _named(field, f"{field.name}, device group {group}", field.text)
    if top in EXIT_SECTIONS:  # a fraction is missing only without early exits, the rest per exit
        where = EXITS.get(rest[0], f"{_words(rest[0])} exit")
        na = NO_EE if top == "exit_fractions" else NO_EXIT
        if len(rest) > 1:  # latency_s_by_exit.<exit>.p95
            return _named(base, f"{rest[-1]} latency at the {where}", rest[-1], na=na)
        return _named(base, f"{EXIT_SECTIONS[top]} at the {where}", where, na=na)
    if top == "bytes_by_purpose":
        what = PURPOSES.get(rest[-1], _words(rest[-1]))
        return _named(base, f"bytes of {what}", what)
    if top == "energy_j_parts":
        part = PARTS.get(rest[-1], _words(rest[-1]))
        return _named(base, f"device energy: {part}", part)
    if top == "link_utilisation_by_purpose":
        if len(rest) == 1:
            return _named(base, f"utilisation of link {name} by purpose", f"link {name}")
        what = PURPOSES.get(rest[-1], _words(rest[-1]))
        return _named(base, f"utilisation of link {'.'.join(rest[:-1])} by {what}", what)
    if top in OWNED:
        owner, what = OWNED[top]
        return _named(base, f"{what} of {owner} {name}", f"{owner} {name}")
    if top == "completed_by_tier":
        return _named(base, f"completed on the {name}", "device" if name == "device" else f"{name} servers")
    if top == "pooled":
        return Label(f"what {_label_text(name)} pools", short=_label_text(name))
    return _named(base, f"{base.name}: {_words(name)}", _words(name))


def _label_text(key: str) -> str:
    return of(key).name


def _param(path: str) -> Label:
    """A swept scenario setting, named by its field and where it sits:
    ``policies.allocation`` (or ``.kind``) -> "allocation policy";
    ``access_points.0.uplink_bps`` -> "uplink bandwidth, access point 0 (Mb/s)";
    ``device_groups.0.updates.samples_per_s`` -> "new samples per device, device group 0 updates (1/s)"."""
    parts = [p for p in path.split(".") if p]
    if len(parts) > 1 and parts[-1] == "kind":
        parts = parts[:-1]
    if not parts:
        return Label("parameter")
    *where, field = parts
    context, i = [], 0
    while i < len(where):
        p, nxt = where[i], where[i + 1] if i + 1 < len(where) else None
        if p in CONTAINERS and nxt is not None and nxt.isdigit():
            context.append(f"{CONTAINERS[p]} {nxt}")
            i += 2
        elif p == "policies":  # the scenario's policies: "routing policy" says it all
            if nxt is not None:
                context.append(f"{_words(nxt)} policy")
            i += 2
        else:
            context.append(_words(p))
            i += 1
    if field in POLICIES:
        base = Label(f"{_words(field)} policy")
    elif field.isdigit() and where and where[-1] in CONTAINERS:
        context.pop()
        base = Label(f"{CONTAINERS[where[-1]]} {field}")
    else:
        base = SETTINGS.get(field) or _guess(field)
    return _named(base, f"{base.name}, {' '.join(context)}" if context else base.name)


def _timeline(key: str) -> Label | None:
    """``group:<name>:accuracy``, ``link:<name>:utilisation``, ``server:<name>:queue_length_mean``:
    the owner is the first part, the field the last, the name all between."""
    owner, _, rest = key.partition(":")
    name, _, field = rest.rpartition(":")
    if owner not in TIMELINE_OWNERS or not name or not field:
        return None
    base = TIMELINE_PARTS.get(field) or _guess(field)
    return _named(base, f"{base.name}, {TIMELINE_OWNERS[owner]} {name}")


FRAMES = {"timeline": TIMELINE, "devices": DEVICES, "traffic": FLOWS}


def of(key, frame: str | None = None) -> Label:
    """The :class:`Label` of any key the simulator writes, or a cleaned-up one for any other.

    ``key``: a summary key (dotted when nested, as sweep columns are; or a tuple of the
    nested keys, when names may hold dots), a sweep column (``param:<path>``,
    ``<metric>:ci95``), or a column of ``frame`` ("timeline", "devices", "traffic": their
    columns share some names with the summary but not the meaning: a timeline's
    ``inferences`` are one window's)."""
    if isinstance(key, tuple) and key and all(isinstance(k, str) for k in key):
        return _summary(list(key)) if key[0] in SUMMARY else of(".".join(key), frame)
    if not isinstance(key, str):
        return Label(str(key))
    if key.endswith(":ci95"):
        base = of(key[: -len(":ci95")], frame)
        return Label(f"{base.name}, 95% CI half-width", base.unit, base.scale, lo=0.0, na="n/a: one replication")
    if key.startswith("param:"):
        return _param(key[len("param:"):])
    if key in FRAMES.get(frame, {}):
        return FRAMES[frame][key]
    if key in SWEEP:
        return SWEEP[key]
    if ":" in key:
        found = _timeline(key)
        if found is not None:
            return found
    parts = key.split(".")
    if parts[0] in SUMMARY:
        return _summary(parts)
    for table in FRAMES.values():
        if key in table:
            return table[key]
    if len(parts) > 1 and parts[0] in ("access_points", "device_groups", "servers", "links", "policies",
                                       "metrics", "fidelity"):
        return _param(key)  # a setting named without its param: prefix (a sweep spec's x or color)
    words = [_words(p) for p in key.replace(":", ".").split(".") if p.strip(" _")]
    if not words:
        return Label("(unnamed)")
    last = _guess(key.replace(":", ".").split(".")[-1] or key)
    return _named(last, " ".join([*words[:-1], last.name]).strip() or "(unnamed)")


def label(key, frame: str | None = None) -> str:
    """Human text with unit for ``key`` (see :func:`of`): ``latency_p95_s`` -> "p95 latency (s)"."""
    return of(key, frame).text


TAGS = ("kind", "select")  # the field that names a policy's or a selection rule's variant


def value(v, full: bool = False) -> str:
    """A parameter value as people read it: a policy or selection-rule mapping (or its JSON
    text, as sweep frames hold it) shows its ``kind`` (or ``select``) and, with ``full`` or
    when it has neither, its other fields; lists joined by commas; numbers in short form."""
    try:
        v = json.loads(v) if isinstance(v, str) and v[:1] in "{[" and v else v
    except json.JSONDecodeError:
        pass
    if isinstance(v, dict):
        tag = next((str(v[t]) for t in TAGS if t in v), "")
        if tag and not full:
            return tag
        return ", ".join([tag] * bool(tag) + [_setting(k, x) for k, x in v.items() if k not in TAGS])
    if isinstance(v, (list, tuple)):
        return ",".join(value(x) for x in v)
    return number(v) if is_number(v) else str(v)


def _setting(field: str, v) -> str:
    """One field of a policy mapping: "entropy threshold 0.8 nats", "among edge_a,edge_b"."""
    lab = SETTINGS.get(field) or _guess(field)
    shown = number(v * lab.scale) if is_number(v) else value(v, full=True)
    return f"{lab.name} {shown}{' ' + lab.unit if lab.unit else ''}"


def number(v) -> str:
    """Short form of a number: whole numbers and those of 10,000 or more without decimals
    (thousands separated), others to 4 significant digits."""
    if not is_number(v):
        return str(v)
    if not math.isfinite(v):
        return "n/a" if math.isnan(v) else str(v)
    if v == int(v) and abs(v) < 1e15 or 1e4 <= abs(v) < 1e15:
        return f"{round(v):,}"
    return f"{v:.4g}"


def is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def missing(v) -> bool:
    """Whether ``v`` is an absent value (None or NaN)."""
    return v is None or (is_number(v) and math.isnan(v))


def show(key, v) -> str:
    """``v`` of ``key`` as a table shows it: scaled to the label's unit, or "n/a" and why."""
    lab = of(key)
    if missing(v):
        return lab.na
    if is_number(v):
        return number(v * lab.scale if lab.scale != 1.0 else v)
    return value(v, full=True)


def legend(key, v, short: bool = False, full: bool = False) -> str:
    """A legend entry for the lines of parameter (or column) ``key`` at value ``v``:
    "allocation policy = optimal", "devices, device group 0 = 5" (with ``short``, without
    where the setting sits: "devices = 5", for a panel title that must fit its panel; with
    ``full``, a policy's settings as well as its kind)."""
    lab = of(key)
    name = lab.name.split(", ", 1)[0] if short else lab.name
    shown = number(v * lab.scale) if is_number(v) and lab.scale != 1.0 else value(v, full)
    return f"{name} = {shown}{' ' + lab.unit if lab.unit else ''}"
