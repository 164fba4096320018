"""The model core imports none of pandas, plotly, typer or torch; `sim run` never imports torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ["sim.config", "sim.scenario_io", "sim.rng", "sim.traces", "sim.recorder", "sim.build", "sim.runner",
        "sim.entities.link", "sim.entities.server", "sim.entities.device", "sim.entities.arrivals",
        "sim.entities.outcomes", "sim.entities.energy", "sim.entities.offload", "sim.entities.updates",
        "sim.sketch", "sim.simclock", "sim.policies.routing", "sim.policies.scheduling", "sim.policies.selection",
        "sim.entities.selection", "sim.entities.drift", "sim.names", "sim.limits"]


def loaded_after(code: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in r.stdout.split()}


def test_core_imports_no_frontend_or_torch():
    mods = loaded_after("; ".join(f"import {m}" for m in CORE))
    assert not mods & {"pandas", "plotly", "typer", "torch", "click", "rich"}


def test_sim_run_never_imports_torch(tmp_path):
    code = ("import sys, cli\n"
            f"sys.argv = ['sim', 'run', 'tests/data/tiny.yaml', '--quiet', '--out', {str(tmp_path)!r}]\n"
            "try:\n    cli.app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n")
    mods = loaded_after(code)
    assert "pandas" in mods and "torch" not in mods
