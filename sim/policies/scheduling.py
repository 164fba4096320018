"""Scheduling policies for a compute server's queue.

``priority(seq, arrival_s, service_s)`` is pure and returns a sort key; the queue
serves the job with the smallest key next.  ``seq`` is the job's arrival order.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fifo(_Policy):
    """First come, first served."""

    kind: Literal["fifo"] = "fifo"

    def priority(self, seq: int, arrival_s: float, service_s: float) -> tuple:
        return (seq,)


class Lifo(_Policy):
    """Last come, first served (non-preemptive)."""

    kind: Literal["lifo"] = "lifo"

    def priority(self, seq: int, arrival_s: float, service_s: float) -> tuple:
        return (-seq,)


class ShortestJobFirst(_Policy):
    """Shortest service time first (non-preemptive); ties in arrival order."""

    kind: Literal["sjf"] = "sjf"

    def priority(self, seq: int, arrival_s: float, service_s: float) -> tuple:
        return (service_s, seq)


SchedulingPolicy = Annotated[Union[Fifo, Lifo, ShortestJobFirst], Field(discriminator="kind")]
