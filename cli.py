"""The ``sim`` command line: parse, call ``sim``, map bad input to one-line errors and exit code 2."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Discrete-event simulator of end-edge-cloud collaborative AI.")

EXIT_BAD_INPUT = 2


def fail(lines: list[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def load_checked(path: Path, seed: Optional[int] = None):
    """Scenario and its traces, or exit 2 with one line per problem."""
    from sim.build import BuildError, load_traces
    from sim.scenario_io import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
        if seed is not None:
            scenario = scenario.model_copy(update={"seed": seed})
        traces = load_traces(scenario, path.parent)
    except ScenarioError as e:
        fail(e.problems)
    except BuildError as e:
        fail(f"{path}: {e}")
    return scenario, traces


@app.command()
def run(scenario: Path = typer.Argument(..., help="scenario YAML file"),
        seed: Optional[int] = typer.Option(None, min=0, help="override the scenario's seed"),
        out: Path = typer.Option(Path("results"), help="results directory"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or table")) -> None:
    """Run a scenario and write results/<name>/<run id>/."""
    from sim import metrics
    from sim.build import BuildError
    from sim.results_io import write_run
    from sim.run import run as run_scenario

    if out.exists() and not out.is_dir():
        fail(f"--out: {out} exists and is not a directory")
    sc, traces = load_checked(scenario, seed)
    started = dt.datetime.now(dt.timezone.utc)
    try:
        result = _run_with_progress(sc, traces, run_scenario, quiet)
    except BuildError as e:
        fail(f"{scenario}: {e}")
    summary, timeline, devices = metrics.frames(result)
    folder = write_run(result, summary, timeline, devices, out, str(scenario), started)
    if not quiet:
        _print_summary(summary, result, folder)
    else:
        typer.echo(str(folder))


def _run_with_progress(sc, traces, run_scenario, quiet: bool):
    if quiet:
        return run_scenario(sc, traces)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f} sim s"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(sc.name, total=sc.horizon_s)
        return run_scenario(sc, traces, progress=lambda t: bar.update(task, completed=t))


def _print_summary(summary: dict, result, folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['scenario']} (seed {summary['seed']})", show_header=False)
    for key in ("devices", "horizon_s", "inferences", "offloaded_fraction", "mean_accuracy", "latency_p50_s",
                "latency_p95_s", "latency_p99_s", "bytes_up", "bytes_down", "energy_j"):
        value = summary.get(key)
        table.add_row(key, f"{value:,.4g}" if isinstance(value, float) else f"{value:,}" if value is not None else "-")
    for name, u in summary["link_utilisation"].items():
        table.add_row(f"utilisation {name}", f"{u:.3f}")
    for name, u in summary["server_utilisation"].items():
        table.add_row(f"utilisation server {name}", f"{u:.3f}")
    console = Console()
    console.print(table)
    console.print(f"{result.events:,} events in {result.wall_s:.2f} s wall -> {folder}")


@app.command()
def validate(scenario: Path = typer.Argument(..., help="scenario YAML file")) -> None:
    """Check a scenario file and the traces it references, without running it."""
    sc, _ = load_checked(scenario)
    typer.echo(f"{scenario}: ok ({sc.devices:,} devices, {len(sc.servers)} servers, horizon {sc.horizon_s:g} s)")


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    from sim.scenario_io import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


profile_app = typer.Typer(no_args_is_help=True, help="Measure traces with real PyTorch (the only commands that import torch).")
app.add_typer(profile_app, name="profile")


def _csv_ints(value: str, option: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        fail(f"{option}: expected comma-separated positive integers, found {value!r}")
    return out


@profile_app.command("timings")
def profile_timings(
    models: str = typer.Option("resnet18,resnet101,mobilenet_v2,meanet_cifar_resnet32,meanet_imagenet_resnet18,meanet_mnist",
                               help="comma-separated model names"),
    batch_sizes: str = typer.Option("1,4", help="comma-separated batch sizes"),
    warmup: int = typer.Option(3, min=0), reps: int = typer.Option(30, min=2),
    threads: int = typer.Option(1, min=1),
    out: Path = typer.Option(Path("traces/timings_cpu.json"), help="trace file to write")) -> None:
    """Time forward passes of model segments and write a timing trace."""
    from sim.profiling import meanet, timings

    names = [m for m in models.split(",") if m]
    unknown = [m for m in names if m not in timings.TORCHVISION + meanet.VARIANTS]
    if unknown or not names:
        fail(f"--models: unknown model {unknown[0] if unknown else models!r} "
             f"(known: {', '.join(timings.TORCHVISION + meanet.VARIANTS)})")
    trace = timings.profile_timings(names, _csv_ints(batch_sizes, "--batch-sizes"), warmup, reps, threads, out,
                                    progress=lambda s: typer.echo(f"timing {s}", err=True))
    for e in trace["entries"]:
        typer.echo(f"{e['model']:>26} {e['segment']:>9} b{e['batch_size']:<3} median {e['quantiles_s'][50]*1e3:9.2f} ms"
                   f"  p95 {e['quantiles_s'][95]*1e3:9.2f} ms  {e['macs']/1e6:9.1f} MMAC")
    typer.echo(f"wrote {out}")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    sys.exit(app())
