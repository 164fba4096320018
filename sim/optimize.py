"""The bandwidth-allocation optimiser of the model-update loop.

Per period of length ``T`` a device holding bandwidth ``B`` splits it: ``alpha B T``
bits upload data samples, ``(1 - alpha) B T`` bits bring the distilled model down.
With samples of ``s`` bits, a full model payload of ``M`` bits and at most ``G``
new samples per period::

    D(alpha)   = min(alpha B T / s, G)             samples uploaded
    phi(alpha) = min((1 - alpha) B T / M, 1)       fraction of the model delivered
    value      = F(D_cum + D(alpha), phi(alpha))   accuracy after the update

Subproblem 1 (:func:`best_split`): per device, the alpha maximising the value on the
interpolated measured surface F (a 1-D search on a fine grid).  In the simulator the
search is :func:`best_update`: the model comes in whole deliverable units (the
measured phi grid), the upload in whole batches, and the value is the *period
average*: the old model serves until the update has crossed the link (a fraction
``(D s + phi M) / (B T)`` of the period), the new one for the rest.
Subproblem 2 (:func:`water_fill`): devices sharing a link of capacity C get
bandwidths summing to C that maximise the total value, by marginal-utility
water-filling: capacity is handed out in quanta, each to the device type whose value
gains most per unit of bandwidth, looking a few quanta ahead so that steps in F (a
model that only helps once it fits) are not missed.  Identical devices (same state)
form one type and share its allocation equally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

ALPHAS = tuple(i / 200 for i in range(201))


@dataclass(frozen=True)
class Split:
    alpha: float
    samples: float
    phi: float
    value: float


def split_at(alpha: float, budget_bits: float, sample_bits: float, model_bits: float, max_samples: float,
             phi_of: Callable[[float], float] | None = None) -> tuple[float, float]:
    """(samples, phi) of the split ``alpha``; ``phi_of(bits)``: the fraction of the model a
    download of ``bits`` delivers when it is not ``bits / model_bits`` (unit sizes from an
    architecture's tensors, :meth:`sim.policies.allocation.DeviceType.phi_within`)."""
    samples = min(alpha * budget_bits / sample_bits, max_samples)
    phi = phi_of((1.0 - alpha) * budget_bits) if phi_of else min((1.0 - alpha) * budget_bits / model_bits, 1.0)
    return samples, phi


def best_split(value: Callable[[float, float], float], budget_bits: float, sample_bits: float, model_bits: float,
               max_samples: float, alphas: Sequence[float] = ALPHAS,
               phi_of: Callable[[float], float] | None = None) -> Split:
    """Subproblem 1: the alpha maximising ``value(samples, phi)``; ties go to the smallest alpha."""
    best = None
    for a in alphas:
        d, phi = split_at(a, budget_bits, sample_bits, model_bits, max_samples, phi_of)
        v = value(d, phi)
        if best is None or v > best.value + 1e-12:
            best = Split(a, d, phi, v)
    return best


@dataclass(frozen=True)
class Update:
    samples: float  # samples uploaded this period
    phi: float  # deliverable fraction of the model sent after each chunk
    chunk: int  # samples per edge job and download
    value: float  # period-average value
    tail: float = 0.0  # samples uploaded after the last update, without a download (data for a later one)


def best_update(value: Callable[[float, float], float], old_value: float, budget_bits: float, sample_bits: float,
                model_bits: float, max_samples: float, phis: Sequence[float],
                chunks: Sequence[int] = (32, 64, 128, 256), batch: int = 32,
                payload_of: Callable[[float], float] | None = None, down_ratio: float = 1.0,
                job_s_per_sample: float = 0.0, period_s: float = 0.0) -> Update:
    """Subproblem 1 as the simulator uses it.

    Candidates: upload ``n`` chunks of ``c`` samples, each followed by the edge job and a
    download of the deliverable fraction ``phi`` (chunk = all samples: one update per
    period).  ``budget_bits`` is the upload bandwidth ``B`` times the period ``T``; the
    download runs at ``down_ratio x B`` (1 on a half-duplex medium); the edge job takes
    ``job_s_per_sample`` per uploaded sample (``period_s`` = T).  The k-th update lands at
    ``k (c s / B + P(phi) / (down_ratio B)) + c j``: its transfers, then the job of its chunk,
    ``P(phi)`` the unit's bits (``payload_of``, else ``phi x model_bits``); a plan whose last
    update would land after the period is not a candidate.  Jobs delay installs but do not
    add to the transfers' time: while a device waits for its job, its share of the link
    carries the other devices' transfers (max-min sharing), so the link does not idle.  The
    value is the period average of the model in use.  No update (``old_value``) is always a
    candidate; when it wins but the samples the budget carries would let a later update beat
    ``old_value``, they are uploaded without a download (``phi`` 0): data for the next period.
    The budget a plan leaves after its last update uploads samples for a later one (``tail``)."""
    best = Update(0.0, 0.0, 0, old_value)
    if budget_bits <= 0:
        return best
    top = int(min(max_samples, budget_bits / sample_bits))

    def tail(used_bits: float, used_samples: int) -> float:
        """What the rest of the budget carries after the plan's last update: samples for a later
        update (the period's value is unchanged: they go up after the last install)."""
        return float(max(0, min(int(max_samples) - used_samples, int((budget_bits - used_bits) / sample_bits))))
    one_shot = sorted(set(list(range(batch, top + 1, batch)) + ([top] if top > 0 else [])))
    for phi in phis:
        if phi <= 0:
            continue
        model = (payload_of(phi) if payload_of else phi * model_bits) / down_ratio
        # and the largest one-shot upload whose update still installs within the period: (d s + P) / B T
        # + d j / T <= 1 (the grid above can miss it: with fewer than ``batch`` samples in the budget its
        # only point is ``top``, whose update may land after the period)
        per_sample = sample_bits + (job_s_per_sample * budget_bits / period_s if job_s_per_sample and period_s else 0.0)
        fit = min(top, int((budget_bits - model) / per_sample)) if budget_bits > model else 0
        shots = one_shot if fit <= 0 or fit in one_shot else sorted(one_shot + [fit])
        plans = [(d, 1) for d in shots] + [(c, n) for c in chunks for n in range(2, top // c + 1)]
        for c, n in plans:
            unit = c * sample_bits + model
            if n * unit > budget_bits:
                continue
            f = unit / budget_bits  # share of the period one chunk takes
            job = c * job_s_per_sample / period_s if job_s_per_sample else 0.0  # share one chunk's job takes
            if job and n * f + job > 1.0:  # the last update would not install within the period
                continue
            # the k-th update installs at k f + job: its chunk's transfers, then its job (the device's
            # share of the link carries other devices' chunks meanwhile, so jobs do not idle the link)
            v = ((f + job) * old_value + sum(f * value(k * c, phi) for k in range(1, n))
                 + (1 - n * f - job) * value(n * c, phi))
            if v > best.value + 1e-12:
                best = Update(float(n * c), phi, c, v, tail(n * unit, n * c))
    if best.samples == 0 and top > 0 and max(value(top, phi) for phi in phis if phi > 0) > old_value + 1e-12:
        # no update this period beats the model in use, but the samples the budget carries would make a
        # later one better (the surface is not concave in D): upload them, download nothing (phi 0)
        best = Update(float(top), 0.0, 0, old_value)
    return best


def water_fill(values: Sequence[Callable[[float], float]], counts: Sequence[int], capacity: float,
               quanta: int = 200, lookahead: int = 8) -> list[float]:
    """Subproblem 2: per-device bandwidth of each type, ``sum(counts[t] * b[t]) <= capacity``,
    maximising ``sum(counts[t] * values[t](b[t]))``.

    Each quantum ``q = capacity / quanta`` given to type ``t`` raises each of its
    devices by ``q / counts[t]``; the quantum goes where the gain per quantum, over the
    best run of up to ``lookahead`` quanta, is largest."""
    q = capacity / quanta
    b = [0.0] * len(values)
    current = [v(0.0) for v in values]
    left = quanta
    while left > 0:
        best_t, best_rate, best_k = -1, 0.0, 1
        for t, (v, n) in enumerate(zip(values, counts)):
            for k in range(1, min(lookahead, left) + 1):
                gain = n * (v(b[t] + k * q / n) - current[t])
                if gain / k > best_rate + 1e-15:
                    best_t, best_rate, best_k = t, gain / k, k
        if best_t < 0:  # no type gains: share the rest equally so no bandwidth is idle
            total = sum(counts)
            return [x + left * q / total for x in b]
        n = counts[best_t]
        b[best_t] += best_k * q / n
        current[best_t] = values[best_t](b[best_t])
        left -= best_k
    return b
