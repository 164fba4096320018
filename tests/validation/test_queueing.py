"""Entities against queueing theory, within a 99% confidence interval over replications.

Seeds are fixed, so these tests are deterministic; the interval is the check that
the simulated mean agrees with theory, not a tolerance tuned to pass."""

import math

import numpy as np
import simpy

from sim.entities.link import DirectedLink, Network
from sim.entities.server import Server
from sim.policies.scheduling import Fifo
from sim.rng import Stream
from sim.traces import TimingDistribution

REPS = 10
T_STUDENT_99 = 3.25  # two-sided 99%, 9 degrees of freedom


def within_ci(samples, theory):
    m = float(np.mean(samples))
    half = T_STUDENT_99 * float(np.std(samples, ddof=1)) / math.sqrt(len(samples))
    print(f"mean {m:.4f} ± {half:.4f} vs theory {theory:.4f}")
    assert abs(m - theory) <= half, f"mean {m:.4f} ± {half:.4f} vs theory {theory:.4f}"
    return m, half


def server_run(rep, lam, service, workers=1, horizon=20_000.0, warmup=2_000.0):
    """Poisson arrivals to a server; returns (mean sojourn, time-average in system, arrival rate)."""
    env = simpy.Environment()
    server = Server(env, "s", workers, Fifo().priority)
    arr, svc = Stream(11, rep, "arrivals"), Stream(11, rep, "service")
    sojourns = []

    def job(t0, s):
        yield server.submit(s)
        if t0 >= warmup:
            sojourns.append(env.now - t0)

    def source():
        while True:
            yield env.timeout(arr.exponential(1 / lam))
            env.process(job(env.now, service(svc)))

    env.process(source())
    env.run(until=warmup)
    server.advance()
    q0, b0 = server.queue_area, server.busy_area
    env.run(until=horizon)
    server.advance()
    area = (server.queue_area - q0) + (server.busy_area - b0)
    return float(np.mean(sojourns)), area / (horizon - warmup), len(sojourns) / (horizon - warmup)


def test_mm1_mean_sojourn():
    lam, mu = 0.7, 1.0
    w = [server_run(r, lam, lambda s: s.exponential(1 / mu))[0] for r in range(REPS)]
    within_ci(w, 1 / (mu - lam))


def test_md1_mean_sojourn_from_a_timing_profile():
    lam, d = 0.7, 1.0
    const = TimingDistribution("const", "full", 1, tuple([d] * 101))
    w = [server_run(r, lam, lambda s: const.sample(s.random()))[0] for r in range(REPS)]
    rho = lam * d
    within_ci(w, d + rho * d / (2 * (1 - rho)))  # Pollaczek-Khinchine


def test_mm2_mean_sojourn_erlang_c():
    lam, mu, c = 1.5, 1.0, 2
    a, rho = lam / mu, lam / (c * mu)
    p_wait = (a**c / math.factorial(c) / (1 - rho)) / (
        sum(a**k / math.factorial(k) for k in range(c)) + a**c / math.factorial(c) / (1 - rho))
    theory = p_wait / (c * mu - lam) + 1 / mu
    w = [server_run(r, lam, lambda s: s.exponential(1 / mu), workers=c)[0] for r in range(REPS)]
    within_ci(w, theory)


def test_littles_law_at_a_server():
    lam, mu = 0.7, 1.0
    diffs = []
    for r in range(REPS):
        w, l, lam_hat = server_run(r, lam, lambda s: s.exponential(1 / mu))
        diffs.append(l - lam_hat * w)
    within_ci(diffs, 0.0)


def test_processor_sharing_on_a_link():
    """Poisson flows with exponential sizes on one fluid link: M/M/1-PS, W = E[S]/(1-rho)."""
    cap, mean_bits, lam = 10e6, 1e6, 7.0  # rho = 0.7, E[S] = 0.1 s
    warmup, horizon = 200.0, 2_000.0
    means = []
    for rep in range(REPS):
        env = simpy.Environment()
        link = DirectedLink("l", cap)
        net = Network(env, [link])
        arr, size = Stream(5, rep, "arrivals"), Stream(5, rep, "sizes")
        sojourns = []

        def flow(t0, bits):
            yield net.transfer([link], bits / 8)
            if t0 >= warmup:
                sojourns.append(env.now - t0)

        def source():
            while True:
                yield env.timeout(arr.exponential(1 / lam))
                env.process(flow(env.now, size.exponential(mean_bits)))

        env.process(source())
        env.run(until=horizon)
        means.append(np.mean(sojourns))
    rho = lam * mean_bits / cap
    within_ci(means, (mean_bits / cap) / (1 - rho))
