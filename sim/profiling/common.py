"""Shared helpers for profiling: torch set-up, torchvision import guard, provenance."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import sys
import types


def setup_torch(threads: int):
    """Import torch with ``threads`` intra-op threads (one in tests and CI)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)
    return torch


def import_torchvision_models():
    """``torchvision.models`` without torchvision's compiled operators.

    The CPU torch wheel used here has no CUDA libraries, and torchvision's compiled
    ops (nms, roi_align, ...) fail to register beside it: ``import torchvision``
    raises ``operator torchvision::nms does not exist`` while registering their
    meta kernels.  The model definitions do not use those ops, so the module that
    registers them is replaced by an empty one before the import.
    """
    name = "torchvision._meta_registrations"
    if "torchvision" not in sys.modules:
        sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision.models as models

    return models


def sha256_bytes(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def provenance(threads: int, seed: int | None, dataset: str, dataset_sha256: str | None = None, **extra) -> dict:
    from importlib import metadata

    import torch

    from sim import provenance as prov

    try:
        tv = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        tv = None
    return {
        "command": prov.command(),
        "git_commit": prov.git_commit(),
        # True: code outside traces/ had uncommitted changes when the trace was made (trace files
        # being rewritten by `make traces` itself do not count as a code change)
        "git_dirty": prov.git_dirty(exclude=("traces/*",)),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hardware": f"{prov.cpu_model()} ({platform.machine()}, {os.cpu_count()} logical CPUs)",
        "threads": threads,
        "torch": torch.__version__,
        "torchvision": tv,
        "python": platform.python_version(),
        "dataset": dataset,
        "dataset_sha256": dataset_sha256,
        "seed": seed,
        "measured": True,
        **extra,
    }
