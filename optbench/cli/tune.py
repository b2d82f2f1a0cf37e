"""The ``optbench tune`` command: the budgeted tuning protocol of :mod:`optbench.tune` from the shell.

It prints one line for every value that lay within one grid step of its search range's bound (and whether
the range was extended), then how many search trials each optimizer used and the chosen settings with their
median over fresh seeds."""

from __future__ import annotations

import click

from optbench.cli.common import cli_registry, user_errors
from optbench.cli.run import parse_threads, threads_option


@click.command("tune")
@click.option("--tasks", "-t", required=True, help='Tasks to tune on, e.g. "quadratic[kappa=100]".')
@click.option("--optims", "-o", default=None,
              help="Optimizers (values given are held fixed and not searched; not lr); default: every optimizer "
                   "with a search space.")
@click.option("--budget", type=int, default=None,
              help="Search trials per optimizer, all of them: half in a first round, the rest refining the best "
                   "point (edge extensions included). Default: the protocol's, 16.")
@click.option("--sampler", type=click.Choice(["grid", "sobol", "halton"]), default=None,
              help="First round: scrambled quasi-random points (default: sobol, as AlgoPerf) or a product grid.")
@click.option("--extend/--no-extend", default=True, show_default=True,
              help="Let the refinement probe past a range's bound when the best value lies within one grid step "
                   "of it (one decade for log, one width for linear, within the limits), inside the budget.")
@click.option("--max-extensions", type=int, default=2, show_default=True,
              help="Range extensions per optimizer and task at most.")
@click.option("--metric", default="auto", show_default=True,
              help="Declared metric to select by (auto: the task's headline metric); direction as declared.")
@click.option("--select", type=click.Choice(["final", "best"]), default="final", show_default=True,
              help="Score a trial by the metric's final or best value.")
@click.option("--seeds", "n_seeds", type=int, default=3, show_default=True, help="Fresh seeds for the chosen setting.")
@click.option("--schedules", "-s", default="constant", show_default=True)
@click.option("--batch-sizes", "-b", default=None)
@click.option("--steps", type=int, default=None)
@click.option("--epochs", type=float, default=None)
@click.option("--time", "seconds", type=float, default=None)
@click.option("--eval-every", type=int, default=None)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.option("--device", default="auto", show_default=True)
@threads_option
@click.option("--workers", "-j", type=int, default=1, show_default=True)
@click.option("--backend", type=click.Choice(["sequential", "process", "ray"]), default="sequential",
              show_default=True)
@click.option("--address", default=None, help="Ray cluster address.")
@click.option("--quiet", "-q", is_flag=True)
@click.pass_context
@user_errors
def tune_command(ctx: click.Context, tasks: str, optims: str | None, budget: int | None, sampler: str | None,
                 extend: bool, max_extensions: int, metric: str, select: str, n_seeds: int, schedules: str,
                 batch_sizes: str | None, steps: int | None, epochs: float | None, seconds: float | None,
                 eval_every: int | None, out: str | None, device: str, threads: str, workers: int,
                 backend: str, address: str | None, quiet: bool) -> None:
    """Search each optimizer's declared search space with exactly the same number of trials, then re-run the
    winner on fresh seeds."""
    from rich.markup import escape
    from rich.table import Table

    from optbench.console import console, run_with_progress
    from optbench.study import execute
    from optbench.tune import Protocol, trials_sentence, tune

    where = {"backend": backend, "workers": workers, "address": address}

    def run_study(study: object) -> None:
        if quiet:
            execute(study, **where)  # type: ignore[arg-type]
        else:
            run_with_progress(study, **where)  # type: ignore[arg-type]

    given = {k: v for k, v in (("budget", budget), ("sampler", sampler)) if v is not None}  # else Protocol's
    protocol = Protocol(**given, metric=metric, select=select, seeds=n_seeds, extend=extend,
                        max_extensions=max_extensions)
    result = tune(tasks, optims, protocol, schedules, batch_sizes, steps, epochs, seconds, eval_every, out,
                  device, registry=cli_registry(ctx), run_study=run_study, threads=parse_threads(threads),
                  workers=workers)
    for note in result["notes"]:
        click.echo(f"edge: {note}")
    if not quiet:
        metrics = ", ".join(sorted({f"{c['metric']} ({c['direction']})" for c in result["choices"]}))
        table = Table(title=f"tuning: {trials_sentence(result['choices'])}, first round {protocol.sampler}; "
                            f"select by {select} {metrics}; median over seeds {result['final_seeds']}")
        for col in ("task", "optimizer", "chosen", "median", "q25–q75", "verdict"):
            table.add_column(col)
        chosen = {(c["task"], c["optimizer"]): c["chosen"] for c in result["choices"]}
        for row in result["significance"]:
            verdict = row["verdict"]
            labels = (row["task"], row["subject"], chosen[(row["task"], row["subject"])])
            table.add_row(*(escape(label) for label in labels), f"{row['median']:.4g}",
                          f"{row['q25']:.3g}–{row['q75']:.3g}", verdict)
        console.print(table)
    click.echo(f"results: {result['store']} (chosen settings in tune.json)")
