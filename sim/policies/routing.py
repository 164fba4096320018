"""Routing policies: where an inference runs.

Two families share the ``kind`` registry:

The contract: a policy decides, per input, *whether* the input leaves the device, and
its ``target`` decides *where* it goes: one server's name, or a selection rule over
several servers (:mod:`sim.policies.selection`: nearest, random, least loaded,
power of two choices, cost), applied per input when it leaves the device.

* whole-model policies (a device with one model, ``compute`` in its group):
  ``offloads(u, backlog_s)`` is pure: ``u`` is a uniform draw from the group's routing
  stream, ``backlog_s`` the work already queued on the device (seconds); True sends
  the input to ``target``.  ``offload_mask(u)`` gives the decisions for an array of
  draws at once, or ``None`` when they depend on the backlog (asked per arrival then).
* early-exit policies (a MEANet device, ``early_exit`` in its group):
  ``decide(entropy_nats, main_confidence, main_pred_hard, ext_confidence)`` is pure and
  returns the exit: ``MAIN``, ``EXTENSION`` or ``OFFLOAD`` (to ``target``).  Policies
  see confidences and entropies, never correctness.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.policies.selection import Target, target_names


MAIN, EXTENSION, OFFLOAD = 0, 1, 2
EXIT_NAMES = ("main", "extension", "cloud")


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    early_exit: ClassVar[bool] = False
    runs_main: ClassVar[bool] = True  # early-exit policies: the device runs the main block first

    def targets(self) -> list[tuple[str, str]]:
        """(field, server name) pairs this policy refers to, for reference checks."""
        return target_names(getattr(self, "target", None))


class LocalOnly(_Policy):
    """Every inference runs on the device."""

    kind: Literal["local_only"] = "local_only"

    def offloads(self, u: float, backlog_s: float) -> bool:
        return False

    def offload_mask(self, u: np.ndarray) -> np.ndarray | None:
        return np.zeros(len(u), dtype=bool)

    def offload_probability(self) -> float:
        return 0.0


class OffloadAll(_Policy):
    """Every inference is sent to ``target``."""

    kind: Literal["offload_all"] = "offload_all"
    target: Target = "edge"

    def offloads(self, u: float, backlog_s: float) -> bool:
        return True

    def offload_mask(self, u: np.ndarray) -> np.ndarray | None:
        return np.ones(len(u), dtype=bool)

    def offload_probability(self) -> float:
        return 1.0


class OffloadFraction(_Policy):
    """Each inference is offloaded to ``target`` with probability ``fraction``."""

    kind: Literal["offload_fraction"] = "offload_fraction"
    fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    target: Target = "edge"

    def offloads(self, u: float, backlog_s: float) -> bool:
        return u < self.fraction

    def offload_mask(self, u: np.ndarray) -> np.ndarray | None:
        return u < self.fraction

    def offload_probability(self) -> float:
        return self.fraction


class OffloadWhenBusy(_Policy):
    """Offload to ``target`` when the device already has more than ``max_backlog_s`` queued."""

    kind: Literal["offload_when_busy"] = "offload_when_busy"
    max_backlog_s: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = 0.0  # at most the longest horizon
    target: Target = "edge"

    def offloads(self, u: float, backlog_s: float) -> bool:
        return backlog_s > self.max_backlog_s

    def offload_mask(self, u: np.ndarray) -> np.ndarray | None:
        return None  # depends on the device's backlog


class _ExitPolicy(_Policy):
    early_exit: ClassVar[bool] = True

    def targets(self) -> list[tuple[str, str]]:
        return target_names(self.target)


class Meanet(_ExitPolicy):
    """MEANet: main-block entropy above the threshold -> complex, offload; else a predicted
    easy class exits at the main block; else the extension block.

    The threshold is ``threshold_nats`` (MEANet's code: 0.8 nats, the default) or
    ``threshold_fraction`` of ln C, the largest entropy over the C classes of the exit
    records (0.35 of ln 10 = 0.81 nats); give at most one.  :meth:`for_classes` turns a
    fraction into nats once the records' C is known (the group is built with it)."""

    kind: Literal["meanet"] = "meanet"
    # a softmax entropy over K classes is at most ln K (ImageNet: 6.9 nats); 100 nats is beyond any classifier
    threshold_nats: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.8
    threshold_fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    target: Target = "cloud"

    @model_validator(mode="after")
    def _one_threshold(self) -> "Meanet":
        if self.threshold_fraction is not None and "threshold_nats" in self.model_fields_set:
            raise ValueError("give either threshold_nats or threshold_fraction (of ln C), not both")
        return self

    def for_classes(self, classes: int) -> "Meanet":
        """This policy with its threshold in nats for records over ``classes`` classes."""
        if self.threshold_fraction is None:
            return self
        return self.model_copy(update={"threshold_nats": self.threshold_fraction * math.log(classes),
                                       "threshold_fraction": None})

    def decide(self, entropy_nats: float, main_confidence: float, main_pred_hard: bool, ext_confidence: float) -> int:
        if self.threshold_fraction is not None:
            raise RuntimeError("threshold_fraction: call for_classes(C) first")
        if entropy_nats > self.threshold_nats:
            return OFFLOAD
        return EXTENSION if main_pred_hard else MAIN


class Confidence(_ExitPolicy):
    """Exit at the first stage whose top-1 softmax confidence reaches ``threshold``:
    main block, then extension block, else offload."""

    kind: Literal["confidence"] = "confidence"
    threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.9
    target: Target = "cloud"

    def decide(self, entropy_nats: float, main_confidence: float, main_pred_hard: bool, ext_confidence: float) -> int:
        if main_confidence >= self.threshold:
            return MAIN
        return EXTENSION if ext_confidence >= self.threshold else OFFLOAD


class DeviceOnly(_ExitPolicy):
    """Never offload: predicted easy classes exit at the main block, predicted hard
    classes go on to the extension block (MEANet without its cloud branch)."""

    kind: Literal["device_only"] = "device_only"

    def targets(self) -> list[tuple[str, str]]:
        return []

    def decide(self, entropy_nats: float, main_confidence: float, main_pred_hard: bool, ext_confidence: float) -> int:
        return EXTENSION if main_pred_hard else MAIN


class MainOnly(_ExitPolicy):
    """Every input exits at the main block."""

    kind: Literal["main_only"] = "main_only"

    def targets(self) -> list[tuple[str, str]]:
        return []

    def decide(self, entropy_nats: float, main_confidence: float, main_pred_hard: bool, ext_confidence: float) -> int:
        return MAIN


class CloudOnly(_ExitPolicy):
    """Every input is offloaded to ``target`` without running anything on the device."""

    kind: Literal["cloud_only"] = "cloud_only"
    runs_main: ClassVar[bool] = False
    target: Target = "cloud"

    def decide(self, entropy_nats: float, main_confidence: float, main_pred_hard: bool, ext_confidence: float) -> int:
        return OFFLOAD


def exit_table(policy: _ExitPolicy, columns: dict) -> np.ndarray:
    """The exit the early-exit ``policy`` picks for each exit record (``columns`` of an
    exit-record condition).  The policy is pure, so this is computed once per run (a
    ``meanet`` policy with ``threshold_fraction`` resolved by ``for_classes`` first)."""
    if not policy.runs_main:
        return np.full(len(columns["main_entropy_nats"]), OFFLOAD, dtype=np.int64)
    return np.array([policy.decide(h, c, bool(p), x) for h, c, p, x in zip(
        columns["main_entropy_nats"].tolist(), columns["main_confidence"].tolist(),
        columns["main_pred_hard"].tolist(), columns["ext_confidence"].tolist())], dtype=np.int64)


RoutingPolicy = Annotated[
    Union[LocalOnly, OffloadAll, OffloadFraction, OffloadWhenBusy, Meanet, Confidence, DeviceOnly, MainOnly,
          CloudOnly],
    Field(discriminator="kind"),
]
