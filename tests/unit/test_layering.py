"""The layers of docs/architecture.md, held by contracts rather than by a list kept by hand.

* ``pyproject.toml`` ``[tool.importlinter]``: the model core imports no pandas, plotly,
  typer, rich or torch; profiling never imports the run layer; policies never import
  the entities; sweeps, results, reports and plots never build a model themselves.
  ``lint-imports`` follows every import, function-level ones included.
* ``cli.py`` (a module, which import-linter cannot take as a root) imports only the
  public API: checked here from its syntax tree.
* ``sim run`` never imports torch at run time.
"""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"sim", "sim.api", "sim.plots", "sim.reports", "sim.errors", "sim.provenance", "sim.profiling"}


def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency (pyproject.toml [test])"
    r = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert "0 broken" in r.stdout and f"{len(contracts)} kept" in r.stdout


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (``from sim import api`` -> ``sim.api``), at any depth."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if node.module == "sim"}
    return out


def is_public(module: str) -> bool:
    """A public module, or a name the package exports (``from sim import sweep`` is the API's function)."""
    import sim

    if module == "sim" or any(module == p or module.startswith(p + ".") for p in PUBLIC - {"sim"}):
        return True
    parent, _, name = module.rpartition(".")
    return parent == "sim" and name in sim.__all__


def test_the_command_line_imports_only_the_public_api():
    sim_imports = {m for m in imported_modules(ROOT / "cli.py") if m == "sim" or m.startswith("sim.")}
    assert sim_imports, "cli.py imports the simulator"
    assert {m for m in sim_imports if not is_public(m)} == set()


def test_the_cli_check_catches_an_internal_import(tmp_path):
    bad = tmp_path / "cli.py"
    bad.write_text("def f():\n    from sim.build import build\n    from sim import sweeps, sweep, run\n")
    assert {m for m in imported_modules(bad) if not is_public(m)} == {"sim.build", "sim.sweeps"}


def loaded_after(code: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in r.stdout.split()}


def test_sim_run_never_imports_torch(tmp_path):
    code = ("import sys, cli\n"
            f"sys.argv = ['sim', 'run', 'tests/data/tiny.yaml', '--quiet', '--out', {str(tmp_path)!r}]\n"
            "try:\n    cli.app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n")
    mods = loaded_after(code)
    assert "pandas" in mods and "torch" not in mods
