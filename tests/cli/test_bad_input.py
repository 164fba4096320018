"""Every kind of bad input: one line per problem naming file and field, exit 2,
no traceback, no results written."""

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from tests import command

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BASE = yaml.safe_load((DATA / "tiny.yaml").read_text())


def sim(*args, cwd=ROOT):
    return command.sim(*args, cwd=cwd, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def scenario_file(tmp_path, text_or_data) -> Path:
    for name in ("timings.json", "accuracy.json"):
        shutil.copy(DATA / name, tmp_path / name)
    p = tmp_path / "scenario.yaml"
    p.write_text(text_or_data if isinstance(text_or_data, str) else yaml.safe_dump(text_or_data))
    return p


def mutated(path: str, value=None, delete=False):
    d = copy.deepcopy(BASE)
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = d
    for k in parents:
        node = node[k]
    if delete:
        del node[last]
    else:
        node[last] = value
    return d


def assert_rejected(result, path: Path, out: Path, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert lines, "no error printed"
    for line in lines:
        assert line.startswith("error: ") and str(path) in line, line
    joined = "\n".join(lines)
    for f in fragments:
        assert f in joined, joined
    assert not out.exists() or not any(out.rglob("*")), "results were written"


CASES = {
    "unknown field": (mutated("device_groups.0.colour", "red"), ["device_groups[0].colour", "unknown field"]),
    "wrong type": (mutated("device_groups.0.count", "many"), ["device_groups[0].count", "integer"]),
    "zero devices": (mutated("device_groups.0.count", 0), ["device_groups[0].count", "greater than 0"]),
    "negative devices": (mutated("device_groups.0.count", -5), ["device_groups[0].count"]),
    "zero bandwidth": (mutated("access_points.0.uplink_bps", 0),
                       ["access_points[0].uplink_bps", "greater than or equal to 1"]),
    "negative bandwidth": (mutated("links.0.bandwidth_bps", -1e6), ["links[0].bandwidth_bps"]),
    "list for mapping": (mutated("device_groups.0.energy", [1, 2]), ["device_groups[0].energy"]),
    "unknown policy kind": (mutated("policies.routing", {"kind": "teleport"}), ["policies.routing", "teleport"]),
    "undefined access point": (mutated("device_groups.0.access_point", "ap9"),
                               ["device_groups[0].access_point", "undefined access point 'ap9'"]),
    "undefined server": (mutated("policies.routing.target", "moon"), ["policies.routing.target", "'moon'"]),
    "undefined link end": (mutated("links.0.between", ["ap1", "mars"]), ["links[0].between[1]", "'mars'"]),
    "missing field": (mutated("horizon_s", delete=True), ["horizon_s", "required"]),
    "missing trace": (mutated("traces.accuracy", "nope.json"), ["traces.accuracy", "no such trace file"]),
    "unknown model": (mutated("device_groups.0.compute.model", "giant"),
                      ["device_groups[0].compute", "no timing for giant"]),
    "nan horizon": (mutated("horizon_s", float("nan")), ["horizon_s"]),
    "self-loop link": (mutated("links.0.between", ["ap1", "ap1"]), ["links[0].between", "two different nodes"]),
    "no route to the target": ({**BASE, "links": []}, ["links: no route from access point 'ap1' to server 'edge'"]),
    "two links between one pair": ({**BASE, "links": BASE["links"] + [{**BASE["links"][0], "name": "bh2",
                                                                        "between": ["edge", "ap1"]}]},
                                   ["links[1].between", "links[0] already joins 'edge' and 'ap1'"]),
    # runaway sizes, refused before anything is built
    "huge horizon": (mutated("horizon_s", 1e308), ["horizon_s", "less than or equal to 1000000000"]),
    "huge rate": (mutated("device_groups.0.arrivals.rate_hz", 1e308), ["rate_hz", "less than or equal"]),
    "huge count": (mutated("device_groups.0.count", 10**9), ["device_groups[0].count", "less than or equal"]),
    # every number is bounded (tests/unit/test_bounds.py walks them all)
    "huge input": (mutated("device_groups.0.input_bytes", 10**13),
                   ["device_groups[0].input_bytes", "less than or equal to 1000000000000"]),
    "huge bandwidth": (mutated("links.0.bandwidth_bps", 1e308),
                       ["links[0].bandwidth_bps", "less than or equal to 1000000000000"]),
    "infinite latency": (mutated("links.0.latency_s", float("inf")), ["links[0].latency_s", "finite number"]),
    "nan power": (mutated("device_groups.0.energy.active_power_w", float("nan")),
                  ["device_groups[0].energy.active_power_w", "finite number"]),
    "tiny window": (mutated("metrics.window_s", 1e-7), ["metrics.window_s", "windows (at most 1,000,000)"]),
    "too many devices for memory": (mutated("device_groups.0.count", 99_000_000),
                                    ["device_groups", "more than 80% of this machine", "--force"]),
    "too many arrivals": ({**mutated("device_groups.0.arrivals.rate_hz", 1e6), "horizon_s": 1e8,
                           "metrics": {"window_s": 1e4}},
                          ["horizon_s", "arrivals", "--force"]),
    # names that would escape the results folder or fail after the run
    "dots name": (mutated("name", ".."), ["name", "outside the results folder"]),
    "dot name": (mutated("name", "."), ["name", "outside the results folder"]),
    "long name": (mutated("name", "x" * 300), ["name", "at most 64"]),
    "slash name": (mutated("device_groups.0.name", "../cams"), ["device_groups[0].name", "pattern"]),
    # settings that could not change the results
    "downlink on half duplex": (mutated("access_points.0", {"name": "ap1", "uplink_bps": 2e6, "downlink_bps": 1e7,
                                                            "duplex": "half"}),
                                ["access_points[0].downlink_bps", "half-duplex"]),
    "macs energy with time model": (mutated("device_groups.0.energy.energy_per_mac_j", 1e-12),
                                    ["device_groups[0].energy.energy_per_mac_j", "compute_model: time"]),
    "power with macs model": (mutated("servers.0.energy", {"compute_model": "macs", "active_power_w": 5.0}),
                              ["servers[0].energy.active_power_w", "compute_model: macs"]),
    "allocation without updates": (mutated("policies.allocation", {"kind": "cema"}),
                                   ["policies.allocation", "no device group has updates"]),
    "routing every group overrides": (mutated("device_groups.0.routing", {"kind": "local_only"}),
                                      ["policies.routing", "every device group sets its own routing"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_scenario(tmp_path, case, command):
    data, fragments = CASES[case]
    path = scenario_file(tmp_path, data)
    out = tmp_path / "results"
    args = [command, path] + (["--out", out] if command == "run" else [])
    assert_rejected(sim(*args), path, out, *fragments)


def test_several_problems_one_line_each(tmp_path):
    d = mutated("device_groups.0.count", 0)
    d["access_points"][0]["uplink_bps"] = -1
    path = scenario_file(tmp_path, d)
    r = sim("validate", path)
    assert_rejected(r, path, tmp_path / "none", "device_groups[0].count", "access_points[0].uplink_bps")
    assert len(r.stderr.strip().splitlines()) == 2


@pytest.mark.parametrize("text, fragment", [
    ("", "empty file"),
    ("name: [unclosed\n", "scenario.yaml:2:1: YAML syntax error: expected ',' or ']'"),
    ("- a\n- b\n", "scenario.yaml:1:1: (top level): expected a mapping"),
    ("name: a\nname: b\n", "scenario.yaml:2:1: YAML syntax error: duplicate key 'name'"),
    ("name: a\n? [x, y]\n: 1\n", "a mapping key must be a plain value"),
    ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
    ("a: " + "[" * 150 + "]" * 150 + "\n", "nested deeper than 100 levels"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, k in zip("abcdefghij", "bcdefghijk")),
     "values once aliases are expanded"),
    ("name: a\n" + "#" * 10_000_001 + "\n", "bytes (at most 10,000,000)"),
])
def test_unreadable_yaml(tmp_path, text, fragment):
    path = scenario_file(tmp_path, text)
    out = tmp_path / "results"
    assert_rejected(sim("run", path, "--out", out), path, out, fragment)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.yaml"
    assert_rejected(sim("run", path, "--out", tmp_path / "r"), path, tmp_path / "r", "no such file")


def test_bad_seed_argument(tmp_path):
    r = sim("run", DATA / "tiny.yaml", "--seed", "-1", "--out", tmp_path / "r")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--seed" in r.stderr
    assert not (tmp_path / "r").exists()


def test_validate_and_schema_succeed():
    r = sim("validate", DATA / "tiny.yaml")
    assert r.returncode == 0 and "ok (20 devices" in r.stdout
    r = sim("schema")
    assert r.returncode == 0
    import json
    schema = json.loads(r.stdout)
    assert "device_groups" in schema["properties"] and schema["additionalProperties"] is False


def test_yaml_merge_keys_work_and_may_be_overridden(tmp_path):
    # once rejected as a syntax error; duplicate keys stay errors (test_unreadable_yaml)
    from sim.scenario_io import read_yaml

    group = BASE["device_groups"][0]
    rest = {k: v for k, v in BASE.items() if k != "device_groups"}
    anchored = "\n".join(["device_groups:", "  - &cams"] + [f"    {l}" for l in yaml.safe_dump(group).splitlines()]
                          + ["  - <<: *cams", "    name: more", "    count: 3"])
    path = scenario_file(tmp_path, yaml.safe_dump(rest) + anchored + "\n")
    loaded = read_yaml(path)
    assert [g["name"] for g in loaded["device_groups"]] == [group["name"], "more"]
    assert loaded["device_groups"][1]["count"] == 3 and loaded["device_groups"][1]["model"] == group["model"]
    r = sim("validate", path)
    assert r.returncode == 0, r.stderr


# Errors name the line and column of the value at fault: FILE:LINE:COLUMN: field: message
LINED = """\
name: lined
horizon_s: 60
traces: {accuracy: accuracy.json}
access_points:
  - {name: ap1, uplink_bps: 2.0e6, latency_s: 0.002}
links:
  - {name: bh1, between: [ap1, edge], bandwidth_bps: 1.0e8}
servers:
  - name: edge
    tier: edge
    workers: 2
    model: large
    compute: {trace: timings.json, model: large}
device_groups:
  - &cams
    name: cams
    count: 20
    access_point: ap1
    model: small
    compute: {trace: timings.json, model: small}
    arrivals: {process: poisson, rate_hz: 1.0}
  - <<: *cams
    name: more
    count: 3
policies:
  routing: {kind: offload_fraction, fraction: 0.5, target: edge}
"""


@pytest.mark.parametrize("old, new, expected", [
    ("workers: 2", "workers: many", [":11:14: servers[0].workers: Input should be a valid integer"]),  # the value
    ("1.0e8", "1.0e+308", [":7:54: links[0].bandwidth_bps: Input should be less than or equal to 1000000000000"]),
    ("    model: small", "    colour: red", [":19:5: device_groups[0].colour: unknown field",  # the key
                                             ":19:5: device_groups[1].colour: unknown field"]),  # merged into [1]
    ("access_point: ap1", "access_point: ap9", [":18:19: device_groups[0].access_point: undefined access point",
                                                ":18:19: device_groups[1].access_point: undefined access point"]),
    ("horizon_s: 60", "seed: 1", [":1:1: horizon_s: Field required"]),  # missing: the mapping that lacks it
    ("    arrivals: {process: poisson, rate_hz: 1.0}\n", "",  # (a line fewer) the items, from their anchor and '<<'
     [":15:5: device_groups[0].arrivals: Field required", ":21:5: device_groups[1].arrivals: Field required"]),
    ("count: 20", "count: 0", [":17:12: device_groups[0].count: Input should be greater than 0"]),  # [1] overrides it
    ("count: 3", "count: 0", [":24:12: device_groups[1].count: Input should be greater than 0"]),  # the override
    ("rate_hz: 1.0", "rate_hz: -1", [":21:43: device_groups[0].arrivals.rate_hz: Input should be greater than 0",
                                     ":21:43: device_groups[1].arrivals.rate_hz: Input should be greater than 0"]),
    ("fraction: 0.5", "fraction: 7", [":26:47: policies.routing.fraction: Input should be less than or equal to 1"]),
    ("between: [ap1, edge]", "between: [ap1, mars]", [":7:32: links[0].between[1]: undefined node 'mars'"]),
])
def test_errors_name_the_line_and_column(tmp_path, old, new, expected):
    from sim.scenario_io import load_scenario
    from sim.errors import ScenarioError

    assert LINED.count(old) == 1
    path = scenario_file(tmp_path, LINED.replace(old, new))
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert len(e.value.problems) == len(expected), e.value.problems
    for line, want in zip(e.value.problems, expected):
        assert line.startswith(f"{path}{want}"), (line, want)


def test_the_command_line_names_the_line(tmp_path):
    path = scenario_file(tmp_path, LINED.replace("1.0e8", ".inf"))
    r = sim("validate", path)
    assert_rejected(r, path, tmp_path / "none")
    assert r.stderr.strip().splitlines() == [f"error: {path}:7:54: links[0].bandwidth_bps: Input should be a "
                                             "finite number"]


def test_an_override_has_no_line(tmp_path):
    # a value set by an override is not in the file: today's FILE: field: message; the rest keep their lines
    from sim.scenario_io import load_scenario
    from sim.errors import ScenarioError

    path = scenario_file(tmp_path, LINED.replace("workers: 2", "workers: 0"))
    with pytest.raises(ScenarioError) as e:
        load_scenario(path, {"device_groups.0.count": 0})
    assert e.value.problems == [f"{path}:11:14: servers[0].workers: Input should be greater than or equal to 1",
                                f"{path}: device_groups[0].count: Input should be greater than 0"]
    r = sim("validate", path)  # the same problem without the override: the line of the file
    assert f"{path}:11:14: servers[0].workers" in r.stderr


def test_sweep_errors_name_the_line_of_the_sweep_or_the_base(tmp_path):
    base = scenario_file(tmp_path, LINED.replace("workers: 2", "workers: 0"))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"name: s\nbase: {base.name}\nreplications: 1\n"
                     "overrides: {horizon_s: 20, servers.0.workers: 2}\n"  # mends the base's workers
                     "points:\n"
                     "  - {seed: 1}\n"
                     "  - {policies.routing: {kind: offload_fraction, fraction: 7, target: edge}}\n"
                     "grid:\n"
                     "  device_groups.0.count: [5, 0]\n")
    r = sim("validate", sweep)
    assert_rejected(r, sweep, tmp_path / "none")
    point = "[point {}: {}device_groups.0.count={}]"
    routing = 'policies.routing={"fraction": 7, "kind": "offload_fraction", "target": "edge"}, '
    assert r.stderr.strip().splitlines() == [
        f"error: {sweep}:9:30 {point.format(1, 'seed=1, ', 0)}: device_groups[0].count: Input should be greater than 0",
        f"error: {sweep}:7:59 {point.format(2, routing, 5)}: policies.routing.fraction: Input should be less than "
        "or equal to 1",
        f"error: {sweep}:9:30 {point.format(3, routing, 0)}: device_groups[0].count: Input should be greater than 0",
        f"error: {sweep}:7:59 {point.format(3, routing, 0)}: policies.routing.fraction: Input should be less than "
        "or equal to 1"]
    # a problem of the base every point has: once, at its line in the base
    sweep.write_text(sweep.read_text().replace("servers.0.workers: 2", "seed: 2"))
    r = sim("validate", sweep)
    assert f"error: {base}:11:14: servers[0].workers: Input should be greater than or equal to 1" in r.stderr
    assert r.stderr.count("servers[0].workers") == 1
    # the sweep file's own fields
    sweep.write_text(sweep.read_text().replace("replications: 1", "replications: 0"))
    r = sim("validate", sweep)
    assert r.stderr.strip() == f"error: {sweep}:3:15: replications: Input should be greater than or equal to 1"
