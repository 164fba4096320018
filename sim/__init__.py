"""sim: a discrete-event simulator of end-edge-cloud collaborative AI.

The Python API (docs/api.md)::

    import sim
    r = sim.run(sim.load("scenarios/early_exit.yaml").with_({"horizon_s": 60}))
    r.summary, r.timeline, r.devices, r.traffic, r.save("results")
    study = sim.sweep("scenarios/sweeps/bandwidth_allocation.yaml")
    fig = sim.plot.sweep_lines(study.aggregate, x="param:...", y="mean_map_all_arrivals")

The names are imported on first use, so ``import sim.config`` (the core) stays free of
pandas and the other front-end packages.
"""

from sim.version import __version__

_API = ("Result", "Scenario", "Estimate", "SweepResult", "load", "with_", "run", "check", "validate", "load_sweep",
        "sweep", "schema", "report", "figure", "InputError", "ScenarioError", "BuildError", "LimitError", "TraceError",
        "ResultsError", "DataError")
__all__ = [*_API, "plot", "__version__"]


def __getattr__(name: str):
    if name in _API:
        from sim import api

        return getattr(api, name)
    if name == "plot":  # sim.plot.<figure>(...) -> plotly figures
        from sim import plots

        return plots
    if name == "api":
        import importlib

        return importlib.import_module("sim.api")
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
