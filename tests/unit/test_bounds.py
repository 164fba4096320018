"""Every number of the scenario schema is finite and bounded: walks every numeric field
reachable from ``Scenario`` (as tests/validation/test_every_setting_counts.py walks fields),
sets it to 1e308, infinity and NaN in a scenario that is otherwise valid, and checks that
exactly one one-line problem naming the field comes back from ``sim.scenario_io.validate``.
A numeric field added without a bound, or without an entry in SITES, fails here; so does
one missing from the bounds table of docs/scenarios.md."""

from __future__ import annotations

import math
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from sim.config import Scenario
from sim.errors import ScenarioError
from sim.scenario_io import apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
UPD = ROOT / "scenarios" / "bandwidth_allocation.yaml"
EE = ROOT / "scenarios" / "early_exit.yaml"
SEL = ROOT / "scenarios" / "server_selection.yaml"
SWITCHING = {"mean_holding_s": 30, "conditions": [{"corruption": "gaussian_noise", "severity": 3},
                                                  {"corruption": "pixelate", "severity": 4}]}

# where an instance of each model with numbers stands: (scenario, overrides that make it, its dotted path)
SITES = {
    "Scenario": (TINY, {}, ""),
    "AccessPoint": (TINY, {}, "access_points.0"),
    "Link": (TINY, {}, "links.0"),
    "Server": (TINY, {}, "servers.0"),
    "ServerEnergy": (TINY, {}, "servers.0.energy"),
    "TimingRef": (TINY, {}, "device_groups.0.compute"),
    "DeviceGroup": (TINY, {}, "device_groups.0"),
    "Arrivals": (TINY, {}, "device_groups.0.arrivals"),
    "Energy": (TINY, {}, "device_groups.0.energy"),
    "Metrics": (TINY, {}, "metrics"),
    "OffloadFraction": (TINY, {}, "policies.routing"),
    "OffloadWhenBusy": (TINY, {"policies.routing": {"kind": "offload_when_busy", "target": "edge"}},
                        "policies.routing"),
    "EarlyExit": (EE, {}, "device_groups.0.early_exit"),
    "Condition": (EE, {}, "device_groups.0.early_exit.condition"),
    "Meanet": (EE, {}, "policies.routing"),
    "Confidence": (EE, {"policies.routing": {"kind": "confidence"}}, "policies.routing"),
    "Updates": (UPD, {}, "device_groups.0.updates"),
    "EdgeJob": (UPD, {}, "device_groups.0.updates.job"),
    "DriftSegment": (UPD, {}, "device_groups.0.updates.drift.segments.1"),
    "DriftSwitching": (UPD, {"device_groups.0.updates.drift": {"switching": SWITCHING}},
                       "device_groups.0.updates.drift.switching"),
    "DriftShare": (UPD, {"device_groups.0.updates.drift": {"shares": [
        {"corruption": "gaussian_noise", "severity": 3, "share": 0.5},
        {"corruption": "pixelate", "severity": 4, "share": 0.5}]}}, "device_groups.0.updates.drift.shares.0"),
    "FixedSplit": (UPD, {"policies.allocation": {"kind": "fixed_split"}}, "policies.allocation"),
    "ModelOnly": (UPD, {"policies.allocation": {"kind": "model_only"}}, "policies.allocation"),
    "Optimal": (UPD, {}, "policies.allocation"),
    "PaperSplit": (UPD, {"policies.allocation": {"kind": "paper_split"}}, "policies.allocation"),
    "Cema": (UPD, {"policies.allocation": {"kind": "cema"}}, "policies.allocation"),
    "LeastLoaded": (SEL, {}, "policies.routing.target"),
    "PowerOfTwo": (SEL, {"policies.routing.target.select": "power_of_two"}, "policies.routing.target"),
    "Cost": (SEL, {"policies.routing.target.select": "cost"}, "policies.routing.target"),
    "Transport": (TINY, {"transport": {"model": "tcp"}}, "transport"),
    "Traffic": (TINY, {"nodes": [{"name": "h1"}], "links.1": {"name": "x", "between": ["h1", "edge"],
                                                               "bandwidth_bps": 1e6},
                       "traffic": [{"name": "bg", "src": "h1", "dst": "edge", "process": "poisson", "rate_hz": 1,
                                    "size_bytes": 1000, "stop_s": 30}]}, "traffic.0"),
    "FlowSize": (TINY, {"nodes": [{"name": "h1"}], "links.1": {"name": "x", "between": ["h1", "edge"],
                                                                "bandwidth_bps": 1e6},
                        "traffic": [{"name": "bg", "src": "h1", "dst": "edge", "process": "poisson", "rate_hz": 1,
                                     "size": {"distribution": "lognormal", "mean_bytes": 1000, "sigma": 1}}]},
                 "traffic.0.size"),
    # a radio access point (docs/wireless.md); the placement's kind picks the class
    **{site: (TINY, {"access_points.0": {"name": "ap1", "radio": {"bandwidth_hz": 20e6}},
                     "device_groups.0.placement": placement}, where)
       for site, placement, where in (
           ("Radio", {"kind": "ring", "radius_m": 50}, "access_points.0.radio"),
           ("PathLoss", {"kind": "ring", "radius_m": 50}, "access_points.0.radio.pathloss"),
           ("RateMapping", {"kind": "ring", "radius_m": 50}, "access_points.0.radio.rate"),
           ("RingPlacement", {"kind": "ring", "radius_m": 50}, "device_groups.0.placement"),
           ("DiscPlacement", {"kind": "uniform_disc", "radius_m": 50}, "device_groups.0.placement"),
           ("FixedPlacement", {"kind": "fixed", "distances_m": [10, 20]}, "device_groups.0.placement"))},
    "Fading": (TINY, {"access_points.0": {"name": "ap1", "radio": {"bandwidth_hz": 20e6}},
                      "device_groups.0.placement": {"kind": "ring", "radius_m": 50},
                      "device_groups.0.fading": {"model": "rician", "k_factor": 1, "coherence_s": 1}},
               "device_groups.0.fading"),
}
# fields whose value is a pair: the number goes in the second place of one item
PAIRS = {"AccessPoint.outages": lambda v: [[1.0, v]], "FixedPlacement.points_m": lambda v: [[1.0, v]],
         "FixedPlacement.distances_m": lambda v: [v]}
PENDING: set[str] = set()  # fields whose bound is still to come (strict expected failures)

BAD = [1e308, -1e308, float("inf"), float("-inf"), float("nan"), 10**30]


def numeric_fields(model: type[BaseModel], seen: set | None = None) -> dict[str, type]:
    """Every ``Class.field`` reachable from ``model`` whose values are (or hold) numbers:
    int or float, alone, optional, in a list or a tuple, or in a union with a model."""
    seen = set() if seen is None else seen
    out: dict[str, type] = {}
    if model in seen:
        return out
    seen.add(model)
    for name, f in model.model_fields.items():
        stack = [f.annotation]
        while stack:
            t = stack.pop()
            if t in (int, float):
                out[f"{model.__name__}.{name}"] = t
            elif isinstance(t, type) and issubclass(t, BaseModel):
                out |= numeric_fields(t, seen)
            elif typing.get_origin(t) is not typing.Literal:  # a Literal is bounded by its values
                stack += [a for a in typing.get_args(t) if a is not type(None)]
    return out


NUMERIC = numeric_fields(Scenario)


def test_the_walk_finds_the_numbers():
    # a walk that found nothing would make every other test here pass vacuously
    assert {"Scenario.horizon_s", "DeviceGroup.input_bytes", "AccessPoint.outages", "Updates.model_bytes",
            "DeviceGroup.deadline_s", "Cost.energy_weight_s_per_j", "Optimal.quanta"} <= set(NUMERIC)
    assert "Updates.payload_bits" not in NUMERIC and "Condition.corruption" not in NUMERIC
    assert len(NUMERIC) > 50


def test_every_numeric_field_has_a_site():
    missing = sorted(f for f in NUMERIC if f.split(".")[0] not in SITES)
    assert not missing, f"numeric fields of models with no entry in SITES: {missing}"
    assert not PENDING - set(NUMERIC), "PENDING names fields that do not exist"


@pytest.mark.parametrize("site", sorted(SITES))
def test_each_site_is_valid_as_it_stands(site):
    path, setup, _ = SITES[site]
    validate(apply_overrides(read_yaml(path), setup, str(path)), str(path))


def _problems(field: str, value) -> list[str]:
    model, name = field.split(".")
    path, setup, prefix = SITES[model]
    dotted = f"{prefix}.{name}" if prefix else name
    value = PAIRS[field](value) if field in PAIRS else value
    try:
        validate(apply_overrides(read_yaml(path), {**setup, dotted: value}, str(path)), str(path))
    except ScenarioError as e:
        return e.problems
    return []


@pytest.mark.parametrize("field", [pytest.param(f, marks=pytest.mark.xfail(
    f in PENDING, reason="bound pending in sim/policies", strict=True)) for f in sorted(NUMERIC)])
def test_every_number_is_finite_and_bounded(field):
    name = field.split(".")[1]
    for value in BAD:
        problems = _problems(field, value)
        assert len(problems) == 1, f"{field} = {value!r}: {problems or 'accepted'}"
        line = problems[0]
        assert "\n" not in line and f"{name}" in line and "Traceback" not in line, line


@pytest.mark.parametrize("field", sorted(set(NUMERIC) - PENDING))
def test_the_bound_is_declared_in_the_schema(field):
    # the bound shows in `sim schema` (and an editor's completion), not only in a validator
    model, name = field.split(".")
    cls = {m.__name__: m for m in _models(Scenario)}[model]
    meta = _metadata(cls.model_fields[name].annotation) + list(cls.model_fields[name].metadata)
    highs = [getattr(m, "le", None) for m in meta] + [getattr(m, "lt", None) for m in meta]
    lows = [getattr(m, "ge", None) for m in meta] + [getattr(m, "gt", None) for m in meta]
    assert any(h is not None and math.isfinite(h) for h in highs), f"{field}: no finite upper bound"
    assert any(lo is not None for lo in lows), f"{field}: no lower bound"


def _models(model: type[BaseModel], seen: set | None = None) -> list[type[BaseModel]]:
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    out = [model]
    for f in model.model_fields.values():
        stack = [f.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                out += _models(t, seen)
            stack += list(typing.get_args(t))
    return out


def _metadata(t) -> list:
    """The constraints inside an annotation (Annotated, optional, list, tuple)."""
    out, stack = [], [t]
    while stack:
        t = stack.pop()
        if typing.get_origin(t) is typing.Annotated:
            args = typing.get_args(t)
            out += [m for m in args[1:]] + [c for m in args[1:] for c in getattr(m, "metadata", [])]
            stack.append(args[0])
        else:
            stack += list(typing.get_args(t))
    return out


def test_the_bounds_table_names_every_number():
    text = (ROOT / "docs" / "scenarios.md").read_text()
    table = text[text.index("## Bounds"):]
    table = table[:table.index("\n## ")] if "\n## " in table else table
    named = {word for code in re.findall(r"`([^`]+)`", table) for word in re.findall(r"\w+", code)}
    missing = sorted(f for f in NUMERIC if f.split(".")[1] not in named)
    assert not missing, f"numeric fields missing from the bounds table of docs/scenarios.md: {missing}"
