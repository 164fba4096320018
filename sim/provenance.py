"""Where a result or a trace came from: the simulator's own commit and source hash,
package versions, the host, the command.  Used by run folders (``manifest.json``),
sweep task keys, ``sim --version`` and the traces ``sim profile`` writes.  Imports
nothing of the simulator, so the profiling layer need not load the run layer.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the simulator's checkout (sim/ and cli.py)
PACKAGES = ("simpy", "numpy", "pandas", "pyarrow", "pydantic", "networkx", "typer", "torch")


def version() -> str:
    from sim.version import __version__

    return __version__


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None where not installed), and Python's."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd or ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the simulator's own checkout (not of the current directory), or None."""
    proc = _git("rev-parse", "HEAD", cwd=cwd)
    return proc.stdout.strip() if proc is not None and proc.returncode == 0 else None


def git_dirty(exclude: tuple[str, ...] = ()) -> bool | None:
    """Whether tracked files of the checkout (outside ``exclude`` pathspecs) have uncommitted
    changes; None where git cannot tell."""
    proc = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *(f":(exclude){e}" for e in exclude))
    return bool(proc.stdout.strip()) if proc is not None and proc.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the simulator's source (``sim/**/*.py``): results of other code are stale."""
    h = hashlib.sha256()
    root = ROOT / "sim"
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host() -> dict:
    return {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.system(), "cpu": cpu_model()}


def command() -> str:
    """The command line this process was started with, as ``sim ...`` where it is the CLI."""
    args = sys.argv[1:] if sys.argv else []
    return "sim " + " ".join(shlex.quote(a) for a in args) if args else "(python)"
