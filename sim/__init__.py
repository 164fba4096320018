"""sim: a discrete-event simulator of end-edge-cloud collaborative AI.

The Python API (docs/api.md)::

    import sim
    r = sim.run(sim.load("scenarios/early_exit.yaml").with_({"horizon_s": 60}))
    r.summary, r.timeline, r.devices, r.save("results")

The names are imported on first use, so ``import sim.config`` (the core) stays free of
pandas and the other front-end packages.
"""

__version__ = "0.1.0"

__all__ = ["Result", "Scenario", "ScenarioError", "load", "run", "with_", "__version__"]


def __getattr__(name: str):
    if name in ("Result", "Scenario", "ScenarioError", "load", "run", "with_"):
        from sim import api

        return getattr(api, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
