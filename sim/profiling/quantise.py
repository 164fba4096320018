"""Low-precision copies of MEANet's device blocks, for ``sim profile exits --precisions``.

Every convolution and linear layer of a block is wrapped so that its *weights* and its
*input activations* take only the values of the precision; batch normalisation, the
residual additions and the pooling stay in floating point (an integer accelerator folds
normalisation into its requantisation step).  The arithmetic is simulated in fp32
("fake quantisation"): the outputs are those of the low-precision network.

* ``int8`` / ``int4``: weights symmetric per output channel (scale = max |w| /
  (2^(b-1) - 1), recomputed from the real-valued weights at every pass); input
  activations per tensor, scale from a calibration pass over training images (the
  :data:`CLIP_PERCENTILE` percentile of |x|; unsigned levels 0 .. 2^b - 1 when the
  calibration inputs are never negative, as after a ReLU, else signed).  int8 is used as
  quantised (post-training, no retraining).
* ``binary``: weights sign(w) x mean |w| of their output channel (XNOR-Net's scaling,
  Rastegari et al., ECCV 2016, recomputed from the real-valued weights at every pass);
  activations one bit: {0, s} for non-negative inputs (threshold s / 2), {-s, +s} for
  signed ones, s the mean magnitude of the non-zero calibration inputs.  The layers that
  see the raw image (the first layer of the main and adaptive blocks) and the classifiers
  (the last linear layer of the main and extension blocks) stay in floating point, as in
  XNOR-Net and most binary networks (``keep_float``).

``int4`` and ``binary`` copies are measured as quantised, then fine-tuned with the
quantisation in the forward pass (quantisation-aware training, as in Jacob et al., CVPR
2018) and a straight-through estimator backward: the gradient of the rounding taken as 1
(for int4 weights, whose scale is their own maximum, nothing is clipped), the gradient of
sign() as 1 where |w| <= 1 and 0 beyond (BinaryConnect's clipping), the gradient of the
activation rounding 1 inside its calibrated clipping range and 0 outside; the activation
scales stay the calibrated ones (``sim.profiling.exits.low_precision``: Adam at a low
learning rate, early stopping, the normalisation statistics recomputed on training images
before each held-out check).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

PRECISIONS = ("int8", "int4", "binary")
BITS = {"int8": 8, "int4": 4, "binary": 1}
CLIP_PERCENTILE = {"int8": 99.99, "int4": 99.9, "binary": 0.0}  # binary: not a clipping percentile


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` forward, the identity's gradient backward."""
    return x + (q - x).detach()


def quantise_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """``bits`` 1: sign(w) x mean |w| per output channel; the gradient of sign() passes where |w| <= 1."""
    dims = tuple(range(1, w.dim()))
    if bits == 1:
        alpha = w.abs().mean(dims, keepdim=True)
        wc = torch.clamp(w, -1.0, 1.0)
        return _ste(wc, torch.where(w >= 0, 1.0, -1.0)) * alpha
    qmax = 2 ** (bits - 1) - 1
    scale = (w.abs().amax(dims, keepdim=True) / qmax).clamp_min(1e-12)
    return _ste(w, torch.clamp(torch.round(w / scale), -qmax, qmax) * scale)


class QuantLayer(nn.Module):
    """A convolution or linear layer with quantised weights and input activations."""

    def __init__(self, layer: nn.Module, bits: int, percentile: float):
        super().__init__()
        self.layer, self.bits, self.percentile = layer, bits, percentile
        self.register_buffer("scale", torch.tensor(0.0))
        self.register_buffer("signed", torch.tensor(False))
        self.calibrating = False
        self._seen: list[torch.Tensor] = []

    def quantise_input(self, x: torch.Tensor) -> torch.Tensor:
        s, b = self.scale.clamp_min(1e-12), self.bits
        if bool(self.signed):
            if b == 1:
                xc = torch.clamp(x, -s, s)
                return _ste(xc, torch.where(x >= 0, s, -s))
            qmax = 2 ** (b - 1) - 1
            xc = torch.clamp(x, -qmax * s, qmax * s)
            return _ste(xc, torch.round(xc / s) * s)
        qmax = 2 ** b - 1
        xc = torch.clamp(x, 0, qmax * s)
        return _ste(xc, torch.round(xc / s) * s)

    def forward(self, x):
        if self.calibrating:
            self._seen.append(x.detach().flatten()[::7])
        else:
            x = self.quantise_input(x)
        w = quantise_weight(self.layer.weight, self.bits)
        m = self.layer
        if isinstance(m, nn.Conv2d):
            return F.conv2d(x, w, m.bias, m.stride, m.padding, m.dilation, m.groups)
        return F.linear(x, w, m.bias)

    def finish_calibration(self) -> None:
        seen = torch.cat(self._seen)
        self._seen, self.calibrating = [], False
        signed = bool((seen < 0).any())
        self.signed.fill_(signed)
        if self.bits == 1:  # one level: the mean magnitude of the (non-zero) inputs
            nz = seen.abs()[seen != 0]
            self.scale.fill_(max(float(nz.mean()) if len(nz) else 1.0, 1e-6))
            return
        top = float(torch.quantile(seen.abs()[:1_000_000], self.percentile / 100))
        levels = 2 ** (self.bits - 1) - 1 if signed else 2 ** self.bits - 1
        self.scale.fill_(max(top, 1e-6) / levels)


def _wrap(module: nn.Module, bits: int, percentile: float, keep: frozenset = frozenset(),
          prefix: str = "") -> list[QuantLayer]:
    wrapped = []
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            if prefix + name in keep:
                continue
            q = QuantLayer(child, bits, percentile)
            setattr(module, name, q)
            wrapped.append(q)
        elif not isinstance(child, QuantLayer):
            wrapped += _wrap(child, bits, percentile, keep, f"{prefix}{name}.")
    return wrapped


def layer_names(block: nn.Module, kind=(nn.Conv2d, nn.Linear)) -> list[str]:
    """Qualified names of a block's convolution and linear layers, in the order they were defined."""
    return [n for n, m in block.named_modules() if isinstance(m, kind)]


def quantised(blocks: list[nn.Module], precision: str, calibrate,
              keep_float: list[set[str]] | None = None) -> list[nn.Module]:
    """Deep copies of ``blocks`` at ``precision``; ``calibrate(copies)`` runs the copies on
    calibration inputs once (in evaluation mode) to set the activation scales.
    ``keep_float``: per block, names of layers left in floating point (:func:`layer_names`)."""
    bits, pct = BITS[precision], CLIP_PERCENTILE[precision]
    copies = [copy.deepcopy(b).eval() for b in blocks]
    keep = keep_float or [set() for _ in blocks]
    layers = [q for c, k in zip(copies, keep) for q in _wrap(c, bits, pct, frozenset(k))]
    for q in layers:
        q.calibrating = True
    with torch.no_grad():
        calibrate(copies)
    for q in layers:
        q.finish_calibration()
    return copies


def count_layers(module: nn.Module) -> int:
    return sum(isinstance(m, QuantLayer) for m in module.modules())
