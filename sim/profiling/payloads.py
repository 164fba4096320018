"""``sim profile payloads``: model-update payload sizes from the real tensors of named architectures.

For each architecture the state tensors that a model update delivers (the floating
tensors of ``state_dict()``: parameters and normalisation running statistics; integer
counters such as ``num_batches_tracked`` are not sent) are listed in *delivery order*,
the order of the adaptation surface (:func:`sim.profiling.adaptation.payload_order`):
normalisation layers first (affine parameters, then running statistics), then the other
tensors from the output backwards.  Each tensor keeps its element count and its role
(``norm_affine``, ``norm_stat`` or ``param``), so the simulator computes the bytes of any
delivered prefix at any precision (:class:`sim.traces.Payloads`):

* fp32: 4 bytes per element; fp16: 2 bytes per element;
* int8: 1 byte per element plus, per tensor, a 4-byte fp32 scale and a 4-byte int32 zero
  point (per-tensor affine quantisation, the layout of ``torch.quantize_per_tensor``).

Beside the computed sizes the trace keeps what ``torch.save`` measures for the fp32 state
and for its int8 copy (``torch.quantize_per_tensor`` of every delivered tensor): the size
of a real serialised file, headers and names included.  Weights are random (torchvision's
``weights=None``): sizes do not depend on values.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable

from sim import atomic
from sim.profiling.common import import_torchvision_models, provenance, setup_torch

FORMAT = "sim.payloads/1"
TORCHVISION = ("resnet18", "resnet50", "resnet101", "mobilenet_v2")
INT8_TENSOR_OVERHEAD = 8  # a per-tensor fp32 scale and int32 zero point


def architectures() -> tuple[str, ...]:
    """Every architecture name ``profile_payloads`` knows: torchvision models, MEANet blocks
    (``variant/main``, ``/adaptive``, ``/extension``) and the cloud (teacher) models."""
    from sim.profiling import meanet

    blocks = tuple(f"{v}/{b}" for v in meanet.VARIANTS for b in ("main", "adaptive", "extension"))
    return TORCHVISION + blocks + meanet.CLOUD_MODELS


def build_module(name: str):
    from sim.profiling import meanet

    if name in TORCHVISION:
        return getattr(import_torchvision_models(), name)(weights=None)
    if name in meanet.CLOUD_MODELS:
        mnist = name.startswith("mnist")
        return meanet.cloud_model(name, 1 if mnist else 3, 10 if mnist else 100)
    variant, _, block = name.partition("/")
    if variant in meanet.VARIANTS and block in ("main", "adaptive", "extension"):
        main, adapt, ext, _ = meanet.variant(variant)
        return {"main": main, "adaptive": adapt, "extension": ext}[block]
    raise ValueError(f"unknown architecture {name!r} (known: {', '.join(architectures())})")


def tensors(torch, module) -> list[list]:
    """``[name, elements, role]`` of every delivered tensor, in delivery order."""
    from sim.profiling.adaptation import payload_order

    norm = {n for n, m in module.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    state = module.state_dict()
    out = []
    for key, _ in payload_order(torch, module):
        prefix, _, leaf = key.rpartition(".")
        role = ("norm_affine" if leaf in ("weight", "bias") else "norm_stat") if prefix in norm else "param"
        out.append([key, int(state[key].numel()), role])
    return out


def serialised_bytes(torch, module, names: list[str]) -> tuple[int, int]:
    """``torch.save`` sizes of the delivered tensors: fp32, and an int8 copy (per-tensor affine)."""
    state = module.state_dict()
    fp32 = {k: state[k] for k in names}
    q = {}
    for k, t in fp32.items():
        lo, hi = float(t.min()), float(t.max())
        scale = max(hi - lo, 1e-8) / 255.0
        zp = int(round(-128 - lo / scale))
        q[k] = torch.quantize_per_tensor(t.float(), scale, max(-128, min(127, zp)), torch.qint8)
    sizes = []
    for sd in (fp32, q):
        buf = io.BytesIO()
        torch.save(sd, buf)
        sizes.append(buf.tell())
    return sizes[0], sizes[1]


def summary(ts: list[list]) -> dict:
    elements = sum(n for _, n, _ in ts)
    affine = sum(n for _, n, r in ts if r == "norm_affine")
    stats = sum(n for _, n, r in ts if r == "norm_stat")
    return {"tensors": len(ts), "elements": elements, "parameters": elements - stats,
            "fp32_bytes": 4 * elements, "fp16_bytes": 2 * elements,
            "int8_bytes": elements + INT8_TENSOR_OVERHEAD * len(ts),
            "norm_affine_elements": affine, "norm_affine_fp32_bytes": 4 * affine,
            "norm_stat_elements": stats, "norm_fp32_bytes": 4 * (affine + stats)}


def profile_payloads(names: list[str], out: Path, threads: int = 1,
                     say: Callable[[str], None] = lambda s: None) -> dict:
    torch = setup_torch(threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    archs = {}
    for name in names:
        say(f"payload of {name}")
        module = build_module(name).eval()
        ts = tensors(torch, module)
        fp32, int8 = serialised_bytes(torch, module, [k for k, _, _ in ts])
        archs[name] = {**summary(ts), "torch_save_fp32_bytes": fp32, "torch_save_int8_bytes": int8,
                       "delivery": ts}
    trace = {"format": FORMAT,
             "provenance": provenance(threads, 0, "none (sizes do not depend on weights or data)",
                                      wall_s=round(time.perf_counter() - t0, 1),
                                      int8_layout="per-tensor affine: 1 byte per element + fp32 scale + int32 "
                                                  "zero point per tensor"),
             "architectures": archs}
    atomic.write_json(out, trace, compact=True)
    return trace
