"""``sim profile timings``: measured forward-pass time distributions per model segment.

Each segment runs under ``torch.inference_mode`` after ``warmup`` passes, ``reps``
times, on random inputs of the given shape (weights are random: time does not
depend on their values).  The trace keeps the 0th..100th percentiles of the
samples, their count and mean, and the segment's MACs and parameter bytes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from sim import atomic
from sim.profiling.common import import_torchvision_models, provenance, setup_torch

TORCHVISION = ("resnet18", "resnet101", "mobilenet_v2")


def count_macs(torch, module, *inputs) -> int:
    """Multiply-accumulates of conv and linear layers in one forward pass."""
    total = 0

    def conv_hook(m, _inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, _inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.inference_mode():
        module(*inputs)
    for h in handles:
        h.remove()
    return total


def known_models() -> tuple[str, ...]:
    from sim.profiling import meanet

    return TORCHVISION + meanet.VARIANTS + meanet.CLOUD_MODELS


def segments(torch, model: str) -> list[tuple[str, object, Callable[[int], tuple]]]:
    """(segment name, module, inputs-for-batch-size) of a model."""
    if model in TORCHVISION:
        net = getattr(import_torchvision_models(), model)(weights=None).eval()
        return [("full", net, lambda b: (torch.randn(b, 3, 224, 224),))]
    from sim.profiling import meanet

    if model in meanet.CLOUD_MODELS:
        shape = (1, 28, 28) if model.startswith("mnist") else (3, 32, 32)
        net = meanet.cloud_model(model, shape[0], 10 if model.startswith("mnist") else 100).eval()
        return [("full", net, lambda b: (torch.randn(b, *shape),))]
    if model not in meanet.VARIANTS:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(known_models())})")
    main, adapt, ext, shape = meanet.variant(model)
    for m in (main, adapt, ext):
        m.eval()
    with torch.inference_mode():
        x = torch.randn(1, *shape)
        f_shape, a_shape = main.features(x).shape[1:], adapt(x).shape[1:]
    return [
        ("main", main, lambda b: (torch.randn(b, *shape),)),
        ("adaptive", adapt, lambda b: (torch.randn(b, *shape),)),
        ("extension", ext, lambda b: (torch.randn(b, *f_shape), torch.randn(b, *a_shape))),
    ]


def time_segment(torch, module, inputs: tuple, warmup: int, reps: int) -> list[float]:
    with torch.inference_mode():
        for _ in range(warmup):
            module(*inputs)
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            module(*inputs)
            samples.append(time.perf_counter() - t0)
    return samples


def profile_timings(models: list[str], batch_sizes: list[int], warmup: int, reps: int, threads: int,
                    out: Path, seed: int = 0, progress: Callable[[str], None] | None = None) -> dict:
    torch = setup_torch(threads)
    torch.manual_seed(seed)
    entries = []
    for model in models:
        for seg, module, make_inputs in segments(torch, model):
            params = sum(p.numel() * p.element_size() for p in module.parameters())
            macs = count_macs(torch, module, *make_inputs(1))
            for b in batch_sizes:
                if progress:
                    progress(f"{model}/{seg}/b{b}")
                inputs = make_inputs(b)
                s = np.asarray(time_segment(torch, module, inputs, warmup, reps))
                entries.append({
                    "model": model, "segment": seg, "batch_size": b,
                    "input_shape": [list(t.shape[1:]) for t in inputs],
                    "macs": macs * b, "param_bytes": params, "samples": len(s), "mean_s": float(s.mean()),
                    "quantiles_s": np.percentile(s, np.arange(101)).tolist(),
                })
    trace = {"format": "sim.timings/1",
             "provenance": provenance(threads, seed, "none (random inputs; timing does not depend on data)",
                                      warmup=warmup, reps=reps, batch_sizes=batch_sizes),
             "entries": entries}
    atomic.write_json(out, trace, indent=1)
    return trace
