"""The Python API: docs/api.md's worked example runs, and the API gives the CLI's numbers."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]


def test_the_worked_example_in_docs_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    monkeypatch.chdir(ROOT)
    for code in blocks:
        exec(compile(code, "docs/api.md", "exec"), {"OUT": tmp_path})
    out = capsys.readouterr().out
    assert "threshold 0.2" in out and "rejected:" in out and "saved" in out
    assert "inference_input" in out and re.search(r"Figure [2-9] traces", out)  # flows; a line (and band) per count
    assert list((tmp_path / "early_exit").iterdir())


def test_the_api_gives_the_command_line_numbers(tmp_path):
    r = sim.run(sim.load(ROOT / "tests/data/tiny.yaml"), seed=9)
    cli = subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "--seed", "9", "-q", "--out",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    (folder,) = (tmp_path / "tiny").iterdir()
    assert json.loads((folder / "summary.json").read_text()) == json.loads(json.dumps(r.summary))


def test_with_validates_and_keeps_the_traces_folder():
    sc = sim.load(ROOT / "scenarios/early_exit.yaml")
    small = sc.with_({"device_groups.0.count": 5}, horizon_s=10)
    assert (small.devices, small.horizon_s) == (5, 10) and (sc.devices, sc.horizon_s) == (200, 300)
    assert sim.run(small).summary["devices"] == 5  # traces found relative to the scenario file
    with pytest.raises(sim.ScenarioError, match="device_groups\\[0\\].count"):
        sc.with_({"device_groups.0.count": 0})
    with pytest.raises(sim.ScenarioError, match="colour: unknown field"):
        sc.with_({"device_groups.0.colour": "red"})
