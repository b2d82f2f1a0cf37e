"""``optbench suite``: run a versioned workload suite for your optimizers, and score them against the shipped
baselines (a thin click layer over :mod:`optbench.suite`)."""

from __future__ import annotations

from typing import Any

import click

from optbench.cli.common import Interrupted, check_writable, cli_registry, user_errors
from optbench.cli.run import parse_threads, threads_option


@click.group("suite")
def suite_group() -> None:
    """Fixed workloads, targets and protocol: tune, run and score optimizers comparably (see docs/suite.md)."""


@suite_group.command("list")
@click.option("--suite", "suite_name", default="lecture-v1", show_default=True, help="Suite name or .json file.")
@user_errors
def list_command(suite_name: str) -> None:
    """Show the suite's workloads, budgets and targets."""
    from optbench.suite.cli_view import workloads_table

    workloads_table(suite_name)


@suite_group.command("run")
@click.option("--optims", "-o", required=True,
              help='Optimizers to tune, e.g. "adam,tpo.lion"; with lr= (sgd[lr=1e-5]) run as given, untuned.')
@click.option("--suite", "suite_name", default="lecture-v1", show_default=True, help="Suite name or .json file.")
@click.option("--workloads", default=None, help='Only these workloads (comma-separated globs, e.g. "phoneme-*").')
@click.option("--out", type=click.Path(file_okay=False), required=True, help="The suite store (resumable).")
@click.option("--device", default="cpu", show_default=True, help="cpu (step metrics reproducible) or cuda[:N].")
@threads_option
@click.option("--workers", "-j", type=int, default=1, show_default=True, help="Run trials in N local processes.")
@click.option("--backend", type=click.Choice(["sequential", "process", "ray"], case_sensitive=False),
              default="sequential", show_default=True, help="Where trials run (as for `optbench run`).")
@click.option("--address", default=None, help="Ray cluster address.")
@click.option("--plugin", "plugins", multiple=True, metavar="PATH_OR_MODULE", help="Extra plugin (repeatable).")
@click.pass_context
@user_errors
def run_command(ctx: click.Context, optims: str, suite_name: str, workloads: str | None, out: str, device: str,
                threads: str, workers: int, backend: str, address: str | None, plugins: tuple[str, ...]) -> None:
    """Tune each optimizer on each workload (equal budget), rerun the choice on fresh seeds, one store."""
    import time

    check_writable(out)  # before any data is built (the phoneme corpus takes ~40 s)
    from optbench.backends import validate_backend
    from optbench.suite.definition import load_suite

    validate_backend(backend, workers, address)
    from optbench.suite.run import run_suite

    suite = load_suite(suite_name)
    count = len(suite.select(workloads).workloads)
    registry = cli_registry(ctx, plugins)
    if backend == "sequential" and workers > 1:
        backend = "process"
    started = time.perf_counter()
    try:
        run_suite(suite, optims, out, workloads=workloads, registry=registry, threads=parse_threads(threads),
                  backend=backend, workers=workers, address=address, device=device, say=click.echo,
                  progress=True)
    except KeyboardInterrupt:
        raise Interrupted(f"finished trials are kept in {out}; rerun the same command to resume") from None
    click.echo(f"suite {suite.name}: {count} workloads in {time.perf_counter() - started:.0f} s; "
               f"results: {out}\nscore it: optbench suite score {out}")


def scoring_options(command: Any) -> Any:
    """``--by`` and ``--tau-max``: AlgoPerf's choices, shared by ``suite score`` and ``suite report``."""
    command = click.option("--tau-max", type=float, default=None,
                           help="Integrate the profile over τ = 1..TAU_MAX (default: the suite's, 4).")(command)
    return click.option("--by", type=click.Choice(["steps", "time"]), default="steps", show_default=True,
                        help="Score steps to target, or the training clock to target (machine-specific)."
                        )(command)


@suite_group.command("score")
@click.argument("stores", nargs=-1, type=click.Path(file_okay=False, exists=True))
@click.option("--suite", "suite_name", default="lecture-v1", show_default=True,
              help="With no STORES: score the shipped baselines of this suite alone.")
@click.option("--workloads", default=None, help='Score only these workloads (comma-separated globs).')
@click.option("--no-baselines", is_flag=True, help="Score the stores alone, without the shipped baselines.")
@scoring_options
@click.option("--json", "as_json", type=click.Path(dir_okay=False), default=None, help="Also write the table here.")
@user_errors
def score_command(stores: tuple[str, ...], suite_name: str, workloads: str | None, no_baselines: bool,
                  by: str, tau_max: float | None, as_json: str | None) -> None:
    """Score every optimizer in STORES (suite stores) and the shipped baselines by the performance profile.

    With no STORES, the shipped baselines alone: the builtins' leaderboard. Optimizers run as given (a fixed
    lr) are ranked on a leaderboard of their own."""
    from optbench.suite.cli_view import print_score
    from optbench.suite.scoring import score_stores

    scored = score_stores(list(stores), workloads=workloads, baselines=not no_baselines, suite_name=suite_name,
                          by=by, tau_max=tau_max)
    print_score(scored)
    if as_json:
        scored.write_json(as_json)
        click.echo(f"table: {as_json}")


@suite_group.command("report")
@click.argument("stores", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--suite", "suite_name", default="lecture-v1", show_default=True, help="Suite name or .json file.")
@scoring_options
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: reports/<store>-vs-baselines.html).")
@user_errors
def report_command(stores: tuple[str, ...], suite_name: str, by: str, tau_max: float | None,
                   out: str | None) -> None:
    """One HTML page: the suite leaderboard of STORES (one or several users' suite stores) beside the shipped
    baselines, then every workload side by side. Reads only the stores: no plugin is needed."""
    from pathlib import Path

    from optbench.suite.definition import load_suite
    from optbench.suite.report import suite_report

    name = "+".join(Path(s).resolve().name for s in stores)[:150]
    path = out or str(Path("reports") / f"{name}-vs-baselines.html")
    click.echo(f"report: {suite_report(list(stores), path, load_suite(suite_name), by=by, tau_max=tau_max)}")
