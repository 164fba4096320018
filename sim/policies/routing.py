"""Routing policies: where an inference runs (on the device, or on a named server).

``choose(u, backlog_s)`` is pure: ``u`` is a uniform draw from the device group's
routing stream, ``backlog_s`` the work already queued on the device (seconds).
It returns ``None`` for local execution or the name of the server to offload to.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def targets(self) -> list[tuple[str, str]]:
        """(field, server name) pairs this policy refers to, for reference checks."""
        target = getattr(self, "target", None)
        return [("target", target)] if target is not None else []


class LocalOnly(_Policy):
    """Every inference runs on the device."""

    kind: Literal["local_only"] = "local_only"

    def choose(self, u: float, backlog_s: float) -> str | None:
        return None


class OffloadAll(_Policy):
    """Every inference is sent to ``target``."""

    kind: Literal["offload_all"] = "offload_all"
    target: str = "edge"

    def choose(self, u: float, backlog_s: float) -> str | None:
        return self.target


class OffloadFraction(_Policy):
    """Each inference is offloaded to ``target`` with probability ``fraction``."""

    kind: Literal["offload_fraction"] = "offload_fraction"
    fraction: Annotated[float, Field(ge=0, le=1)] = 0.5
    target: str = "edge"

    def choose(self, u: float, backlog_s: float) -> str | None:
        return self.target if u < self.fraction else None


class OffloadWhenBusy(_Policy):
    """Offload to ``target`` when the device already has more than ``max_backlog_s`` queued."""

    kind: Literal["offload_when_busy"] = "offload_when_busy"
    max_backlog_s: Annotated[float, Field(ge=0)] = 0.0
    target: str = "edge"

    def choose(self, u: float, backlog_s: float) -> str | None:
        return self.target if backlog_s > self.max_backlog_s else None


RoutingPolicy = Annotated[
    Union[LocalOnly, OffloadAll, OffloadFraction, OffloadWhenBusy], Field(discriminator="kind")
]
