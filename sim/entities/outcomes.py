"""The outcome samplers: k inferences drawn at once from the traces, one sampler per family.

A draw gives, per inference, everything that does not depend on the state of the
simulation when it arrives: routing uniforms or the exit its record takes,
correctness uniforms or correctness at that exit, compute seconds on the device and
their energy.  Both time drivers (:mod:`sim.entities.device`) draw through these, so
request and scale mode see the same values for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.entities.energy import DeviceEnergy
from sim.policies.routing import EXTENSION, exit_table
from sim.rng import Stream
from sim.traces import ExitCondition, TimingDistribution


@dataclass
class Draws:
    """k inferences: ``u_route`` (whole-model routing uniforms, or None), ``exits``
    (early-exit: the exit each takes, else None), ``correct`` (early-exit: correctness at
    that exit) or ``u_correct`` (whole-model: a uniform compared with the accuracy of the
    model that serves it), ``seconds`` and ``energy_j`` of on-device compute."""

    seconds: np.ndarray
    energy_j: np.ndarray
    u_route: np.ndarray | None = None
    u_correct: np.ndarray | None = None
    exits: np.ndarray | None = None
    correct: np.ndarray | None = None
    u_select: np.ndarray | None = None  # (k, 2) uniforms of a server-selection rule, if it draws
    record: np.ndarray | None = None  # early-exit: the exit record index of each (see EarlyExitSampler)
    main_s: np.ndarray | None = None  # early-exit: main block seconds, and the adaptive + extension ones
    extra_s: np.ndarray | None = None


def select_uniforms(rng: Stream | None, k: int) -> np.ndarray | None:
    """Two uniforms per inference for a selection rule that draws (``rng`` None: it does not)."""
    return None if rng is None else rng.randoms(2 * k).reshape(k, 2)


class WholeModelSampler:
    """A device running one model: routing and correctness uniforms, compute time from
    the timing distribution over the declared speed factor."""

    family = "whole"

    def __init__(self, timing: TimingDistribution, speed_factor: float, energy: DeviceEnergy,
                 route_rng: Stream, outcome_rng: Stream, service_rng: Stream, select_rng: Stream | None = None):
        self.timing, self.speed, self.energy = timing, speed_factor, energy
        self.route_rng, self.outcome_rng, self.service_rng = route_rng, outcome_rng, service_rng
        self.select_rng = select_rng

    def draw(self, k: int) -> Draws:
        u_route = self.route_rng.randoms(k)
        u_correct = self.outcome_rng.randoms(k)
        seconds = self.timing.sample_many(self.service_rng.randoms(k)) / self.speed
        return Draws(seconds, self.energy.compute_j(seconds, self.timing.macs or 0.0), u_route=u_route,
                     u_correct=u_correct, u_select=select_uniforms(self.select_rng, k))


class EarlyExitSampler:
    """A MEANet device: each input is an exit record drawn uniformly from the records of
    the condition its device sees; the (pure) routing policy's exit for every record is
    computed once per record set; the main block runs unless the policy sends raw inputs,
    the adaptive and extension blocks too for the extension exit.

    A *record set* is the records of one condition measured on one version of the device
    blocks: as trained (key ``corruption/severity``) or adapted to that condition on N of
    its samples (key ``corruption/severity@N``, for a group with model updates).
    ``draw`` draws what does not depend on the set (the record index and the block
    times); ``realize`` turns arrivals ``lo .. hi-1`` of a draw into exits, correctness,
    seconds and energy under one set, or one set per arrival (its device's version).  A
    group with one condition and no updates realizes each draw at once; the others when
    their arrivals are passed (:mod:`sim.entities.device`)."""

    family = "early_exit"

    def __init__(self, blocks: tuple[TimingDistribution, ...], speed_factor: float,
                 records: dict[str, ExitCondition], policy, energy: DeviceEnergy, outcome_rng: Stream,
                 service_rng: Stream, select_rng: Stream | None = None, condition: str | None = None,
                 float_macs: tuple[float, float, float] = (0.0, 0.0, 0.0)):
        """``records``: the record sets the group may use, by key (all the same length);
        ``condition``: the fixed one, or None when the group drifts or updates its model;
        ``float_macs``: per input, the MACs of the layers the (main, adaptive, extension)
        blocks keep in floating point at a low precision, charged at fp32."""
        self.main, self.adaptive, self.extension = blocks
        self.select_rng = select_rng
        self.speed, self.energy, self.runs_main = speed_factor, energy, policy.runs_main
        self.outcome_rng, self.service_rng = outcome_rng, service_rng
        self.sets = {key: k for k, key in enumerate(records)}  # record-set key -> row of the tables
        exits, correct = [], []
        for rec in records.values():
            f = rec.columns
            e = exit_table(policy, f)
            exits.append(e)
            correct.append(np.choose(e, [np.asarray(f[c]).astype(bool)
                                         for c in ("main_correct", "ext_correct", "cloud_correct")]))
        (self.n_records,) = {len(r) for r in records.values()}
        self.exit_tab, self.correct_tab = np.stack(exits), np.stack(correct)  # (record set, record)
        self.exit_rows = self.exit_tab.tolist()  # the same, read one exit at a time
        self.fixed = None if condition is None else self.sets[condition]
        fm, fa, fe = float_macs
        self.main_macs = energy.charged_macs(self.main.macs or 0.0, fm)
        self.ext_macs = energy.charged_macs((self.adaptive.macs or 0.0) + (self.extension.macs or 0.0), fa + fe)

    def accuracy(self, key: str) -> float:
        """The expected correctness of one input under record set ``key`` and this policy
        (an offloaded input counted with the cloud model's correctness)."""
        return float(self.correct_tab[self.sets[key]].mean())

    def draw(self, k: int) -> Draws:
        i = self.outcome_rng.integers(k, self.n_records)
        if self.runs_main:
            u = self.service_rng.randoms(k)
            main_s = self.main.sample_many(u) / self.speed
            extra_s = (self.adaptive.sample_many(u) + self.extension.sample_many(u)) / self.speed
        else:
            main_s = extra_s = None
        d = Draws(np.zeros(k), np.zeros(k), exits=np.zeros(k, dtype=np.int64), correct=np.zeros(k, dtype=bool),
                  u_select=select_uniforms(self.select_rng, k))
        d.record, d.main_s, d.extra_s = i, main_s, extra_s
        if self.fixed is not None:
            self.realize(d, 0, k, self.fixed)
        return d

    def realize(self, d: Draws, lo: int, hi: int, sets) -> None:
        """``sets``: the record set (a row of the tables, :attr:`sets`) of all these arrivals,
        or an array of one per arrival."""
        i = d.record[lo:hi]
        exits = d.exits[lo:hi] = self.exit_tab[sets, i]
        d.correct[lo:hi] = self.correct_tab[sets, i]
        if self.runs_main:
            ext = exits == EXTENSION
            seconds = d.seconds[lo:hi] = d.main_s[lo:hi] + np.where(ext, d.extra_s[lo:hi], 0.0)
            d.energy_j[lo:hi] = self.energy.compute_j(seconds, np.where(ext, self.main_macs + self.ext_macs,
                                                                        self.main_macs))
