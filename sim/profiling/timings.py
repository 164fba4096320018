"""``sim profile timings``: measured forward-pass time distributions per model segment.

Each segment runs under ``torch.inference_mode`` after ``warmup`` passes, ``reps``
times, on random inputs of the given shape (weights are random: time does not
depend on their values).  The trace keeps the 0th..100th percentiles of the
samples, their count and mean, and the segment's MACs and parameter bytes.

``precisions`` (``--precisions fp32,int8``): each segment is also timed as an int8 copy
(:func:`int8_copy`: PyTorch's own int8 CPU kernels), the fp32 and int8 runs of a segment
and batch size one after the other so that both see the same machine load; entries carry
their ``precision``.  int4 and binary have no CPU kernels in PyTorch: they are not timed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from sim import atomic
from sim.traces import TIMED_PRECISIONS
from sim.profiling.common import import_torchvision_models, provenance, setup_torch

TORCHVISION = ("resnet18", "resnet101", "mobilenet_v2")
PRECISIONS = TIMED_PRECISIONS  # int4, binary: no PyTorch CPU kernels to time
INT8_METHOD = ("FX graph-mode post-training static quantisation (torch.ao.quantization.quantize_fx), x86 "
               "quantised engine (fbgemm/oneDNN kernels), qconfig get_default_qconfig_mapping('x86'): weights "
               "int8 per output channel, activations uint8 per tensor; convolution + batch norm (+ ReLU) fused; "
               "the segment quantises its input and dequantises its output; calibrated on 8 random inputs "
               "(the time does not depend on the values)")


def int8_copy(torch, module, inputs: tuple):
    """An int8 copy of ``module`` (see :data:`INT8_METHOD`) that takes and returns float tensors."""
    import copy
    import warnings

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        prepared = prepare_fx(copy.deepcopy(module).eval(), get_default_qconfig_mapping("x86"), inputs)
        with torch.inference_mode():
            for _ in range(8):
                prepared(*(torch.randn_like(t) for t in inputs))
        return convert_fx(prepared).eval()


def count_macs(torch, module, *inputs, only: set[str] | None = None) -> int:
    """Multiply-accumulates of conv and linear layers in one forward pass (``only``: of the
    layers with these names in ``module.named_modules()``)."""
    total = 0

    def conv_hook(m, _inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, _inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for name, m in module.named_modules():
        if only is not None and name not in only:
            continue
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


def precision_problem(precisions) -> str | None:
    """What is wrong with ``precisions`` (none, or one that is not timed), in one line; None if nothing."""
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        return f"unknown precision {unknown[0] if unknown else ''!r} (timed: {', '.join(PRECISIONS)})"
    return None


def profile_timings(models: list[str], batch_sizes: list[int], warmup: int, reps: int, threads: int,
                    out: Path, seed: int = 0, progress: Callable[[str], None] | None = None,
                    precisions: tuple[str, ...] = ("fp32",)) -> dict:
    """``precisions``: of :data:`PRECISIONS`; fp32 entries carry no ``precision`` field (its default)."""
    problem = precision_problem(precisions)
    if problem:
        raise ValueError(problem)
    torch = setup_torch(threads)
    torch.manual_seed(seed)
    entries = []
    for model in models:
        for seg, module, make_inputs in segments(torch, model):
            params = sum(p.numel() * p.element_size() for p in module.parameters())
            macs = count_macs(torch, module, *make_inputs(1))
            copies = {p: module if p == "fp32" else int8_copy(torch, module, make_inputs(1)) for p in precisions}
            for b in batch_sizes:
                inputs = make_inputs(b)
                for p, m in copies.items():
                    if progress:
                        progress(f"{model}/{seg}/b{b}" + ("" if p == "fp32" else f"/{p}"))
                    s = np.asarray(time_segment(torch, m, inputs, warmup, reps))
                    entries.append({
                        "model": model, "segment": seg, "batch_size": b, **({} if p == "fp32" else {"precision": p}),
                        "input_shape": [list(t.shape[1:]) for t in inputs],
                        "macs": macs * b, "param_bytes": params if p == "fp32" else _param_bytes(torch, m),
                        "samples": len(s), "mean_s": float(s.mean()),
                        "quantiles_s": np.percentile(s, np.arange(101)).tolist(),
                    })
    extra = {"precisions": list(precisions), "int8_method": INT8_METHOD} if precisions != ("fp32",) else {}
    trace = {"format": "sim.timings/1",
             "provenance": provenance(threads, seed, "none (random inputs; timing does not depend on data)",
                                      warmup=warmup, reps=reps, batch_sizes=batch_sizes, **extra),
             "entries": entries}
    atomic.write_json(out, trace, indent=1)
    return trace


def _param_bytes(torch, module) -> int:
    """Bytes of a module's weights as stored: int8 packed weights count one byte per element."""
    total = 0
    for t in module.state_dict().values():
        if isinstance(t, torch.Tensor):
            total += t.numel() * t.element_size()
        elif isinstance(t, tuple):  # packed (weight, bias) of a quantised layer
            total += sum(x.numel() * x.element_size() for x in t if isinstance(x, torch.Tensor))
    return int(total)
