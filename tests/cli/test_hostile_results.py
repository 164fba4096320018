"""sim plot and sim report on damaged results folders: one line, exit 2, no traceback, nothing
written (once: 22 cases ended in a traceback)."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from tests.command import sim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    assert sim("run", "tests/data/tiny.yaml", "-q", "--out", out / "runs").returncode == 0
    (run,) = (out / "runs" / "tiny").iterdir()
    spec = {"name": "sw", "base": str(ROOT / "tests/data/tiny.yaml"), "replications": 2,
            "overrides": {"horizon_s": 10}, "grid": {"policies.routing.fraction": [0.0, 1.0]}}
    (out / "sw.yaml").write_text(json.dumps(spec))
    assert sim("sweep", out / "sw.yaml", "-q", "--out", out / "sweeps").returncode == 0
    return run, out / "sweeps" / "sw"


DAMAGE = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: max(len(p.read_bytes()) // 2, 1)]),
    "garbage": lambda p: p.write_bytes(b"\x00\xffnot what it should be"),
    "a directory": lambda p: (p.unlink(), p.mkdir()),
    "missing": lambda p: p.unlink(),
    "other content": lambda p: (p.write_text("[1, 2]") if p.suffix == ".json"
                                else pd.DataFrame({"x": [1]}).to_parquet(p)),
    "empty object": lambda p: (p.write_text("{}") if p.suffix == ".json"
                               else pd.DataFrame().to_parquet(p)),
}
RUN_FILES = ("summary.json", "timeline.parquet")
SWEEP_FILES = ("sweep.json", "aggregate.parquet")


def cases():
    for what, files in (("run", RUN_FILES), ("sweep", SWEEP_FILES)):
        for f in files:
            for d in DAMAGE:
                for cmd in ("plot", "report"):
                    yield pytest.param(what, f, d, cmd, id=f"{what}-{f}-{d}-{cmd}".replace(" ", "_"))


@pytest.mark.parametrize("what, name, damage, command", list(cases()))
def test_damaged_results_are_one_line(tmp_path, good, what, name, damage, command):
    folder = tmp_path / what
    shutil.copytree(good[0] if what == "run" else good[1], folder)
    for p in folder.glob("*.html"):
        p.unlink()
    DAMAGE[damage](folder / name)
    before = sorted(p.name for p in folder.iterdir())
    r = sim(command, folder)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert str(folder) in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == before, "something was written"
