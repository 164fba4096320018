"""Shared test helper: the command line as a user runs it, in a process of its own."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sim(*args, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """``python -m cli ARGS`` from the repository root (``cwd``, ``env`` and the other
    ``subprocess.run`` arguments may be given); ``check``: assert that it exits 0."""
    kw.setdefault("cwd", ROOT)
    r = subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, **kw)
    if check:
        assert r.returncode == 0, r.stderr[-2000:]
    return r
