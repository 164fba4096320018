"""Shared test helper: run a scenario and keep its per-request rows."""

from sim import metrics
from sim.runner import run


def run_with_rows(scenario, traces, replication: int = 0):
    """(RunResult, one row per finished inference as a DataFrame)."""
    chunks: list[dict] = []
    result = run(scenario, traces, replication=replication, sink=chunks.append)
    return result, metrics.requests_frame(chunks)
