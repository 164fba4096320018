"""The allocation optimiser: known optima on analytic surfaces, brute force on small cases."""

import itertools
import math
from pathlib import Path

import pytest

from sim.optimize import best_split, best_update, split_at, water_fill
from sim.policies.allocation import AllocationContext, DeviceType, Optimal
from sim.traces import load_adaptation

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("a, b, s, m, w", [(1, 1, 1, 1, 1), (2, 1, 1, 1.5, 1), (1, 3, 2, 10, 4)])
def test_best_split_finds_the_analytic_optimum_of_a_separable_concave_surface(a, b, s, m, w):
    # F(D, phi) = a sqrt(D) + b sqrt(phi), D = alpha W / s, phi = (1 - alpha) W / M
    # dF/dalpha = 0  =>  alpha* = a^2 M / (a^2 M + b^2 s)   (phi stays below 1 in these cases)
    alpha_star = a * a * m / (a * a * m + b * b * s)
    assert (1 - alpha_star) * w / m <= 1
    best = best_split(lambda d, phi: a * math.sqrt(d) + b * math.sqrt(phi), w, s, m, max_samples=1e9)
    assert best.alpha == pytest.approx(alpha_star, abs=0.005)


def test_best_update_prefers_early_small_updates_when_they_are_as_good():
    # F saturates after 32 samples with any delivery: one 32-sample chunk, the smallest model
    value = lambda d, phi: 0.9 if d >= 32 and phi > 0 else 0.5
    u = best_update(value, 0.5, budget_bits=1e6, sample_bits=1e3, model_bits=1e5, max_samples=500, phis=(0.1, 1.0))
    assert (u.samples, u.phi) == (32.0, 0.1)
    assert u.value == pytest.approx(0.5 * (32e3 + 1e4) / 1e6 + 0.9 * (1 - (32e3 + 1e4) / 1e6))


def test_the_largest_upload_that_installs_in_time_is_a_candidate():
    # a budget of 24.5 samples (fewer than a batch of 32), a model of 0.5 sample, a job of 0.5 s per sample over
    # a 60 s period: d samples install at (d + 0.5) / 24.5 + d / 120 of the period, within it for d <= 19.9.
    # Uploading all 24 would land after the period; 19 is the largest update that counts (value: d itself).
    value = lambda d, phi: d / 100.0
    u = best_update(value, 0.0, budget_bits=24.5e3, sample_bits=1e3, model_bits=0.5e3, max_samples=1000, phis=(1.0,),
                    job_s_per_sample=0.5, period_s=60.0)
    assert (u.samples, u.phi) == (19.0, 1.0)
    f = 19.5 / 24.5 + 19 / 120
    assert u.value == pytest.approx((1 - f) * 0.19, rel=1e-12)
    assert u.tail == 5.0  # what is left of the budget goes up for a later update


def test_no_update_when_nothing_fits():
    u = best_update(lambda d, phi: 1.0, 0.3, budget_bits=100, sample_bits=1e3, model_bits=1e5, max_samples=10,
                    phis=(1.0,))
    assert u.samples == 0 and u.value == 0.3


def test_split_respects_the_sample_cap_and_full_model():
    d, phi = split_at(0.5, budget_bits=100, sample_bits=1, model_bits=10, max_samples=20)
    assert d == 20 and phi == 1.0


def brute_force(values, counts, capacity, steps):
    best = -1.0
    q = capacity / steps
    for alloc in itertools.product(range(steps + 1), repeat=len(values)):
        if sum(alloc) != steps:
            continue
        best = max(best, sum(n * v(k * q / n) for v, n, k in zip(values, counts, alloc)))
    return best


def total(values, counts, b):
    return sum(n * v(x) for v, n, x in zip(values, counts, b))


def test_water_filling_matches_brute_force_on_concave_values():
    values = [lambda b: 1.0 * math.log1p(b), lambda b: 2.0 * math.log1p(b / 3), lambda b: 0.5 * math.sqrt(b)]
    counts = [1, 2, 1]
    b = water_fill(values, counts, capacity=12.0, quanta=24)
    assert sum(n * x for n, x in zip(counts, b)) == pytest.approx(12.0)
    assert total(values, counts, b) == pytest.approx(brute_force(values, counts, 12.0, 24), rel=1e-9)


def test_water_filling_looks_ahead_over_steps():
    step = lambda b: 1.0 if b >= 4 - 1e-9 else 0.0  # a model that only helps once it fits
    linear = lambda b: 0.2 * b
    b = water_fill([step, linear], [1, 1], capacity=6.0, quanta=6, lookahead=8)
    assert total([step, linear], [1, 1], b) == pytest.approx(brute_force([step, linear], [1, 1], 6.0, 6))
    assert b[0] == pytest.approx(4.0)


def test_optimal_policy_matches_brute_force_on_the_measured_surface():
    surface = load_adaptation(ROOT / "traces" / "adaptation_mnist.json")
    conds = ["gaussian_noise/3", "pixelate/4"]
    types = [DeviceType(count=n, samples_cum=0, max_samples=480, sample_bits=8 * 784, model_bits=8 * 80584,
                        norm_phi=0.0334, pass_fraction=1.0, current_value=surface.value(c, 0, 0, "map"),
                        phis=surface.phis, value=lambda d, phi, c=c: surface.value(c, d, phi, "map"))
             for c, n in zip(conds, (2, 3))]
    ctx = AllocationContext(capacity_bps=5.0e5, period_s=30.0, types=types)
    decisions = Optimal().allocate(ctx)
    assert sum(t.count * d.bandwidth_bps for t, d in zip(types, decisions)) == pytest.approx(5.0e5, rel=1e-6)

    def value(t, b):
        return best_update(t.value, t.current_value, b * 30.0, t.sample_bits, t.model_bits, t.max_samples, t.phis).value

    got = sum(t.count * value(t, d.bandwidth_bps) for t, d in zip(types, decisions))
    grid = [5.0e5 * k / 100 for k in range(101)]
    brute = max(types[0].count * value(types[0], x / 2) + types[1].count * value(types[1], (5.0e5 - x) / 3)
                for x in grid)
    assert got >= brute - 2e-3 * brute
