"""The ``optbench`` command line: a thin click layer over the Python API.

Every command turns user errors (:class:`optbench.OptbenchError`) into one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from optbench.errors import OptbenchError


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print OptbenchError as ``error: ...`` and exit 2 instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OptbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _registry(ctx: click.Context, extra: tuple[str, ...] = ()) -> Any:
    from optbench.console import print_problems
    from optbench.registry import load_registry

    registry = load_registry(plugins=[*ctx.obj["plugins"], *extra])
    print_problems(registry)
    return registry


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--plugin", "plugins", multiple=True, metavar="PATH_OR_MODULE",
              help="Load optimizers/schedules/tasks from a .py file or an importable module (repeatable).")
@click.version_option(package_name="optbench")
@click.pass_context
def main(ctx: click.Context, plugins: tuple[str, ...]) -> None:
    """optbench: compare optimizers and learning-rate schedules on real runs."""
    ctx.ensure_object(dict)
    ctx.obj["plugins"] = plugins


@main.command("list")
@click.argument("kind", type=click.Choice(["optimizers", "schedules", "tasks"]))
@click.option("--all", "include_catalogue", is_flag=True,
              help="Also list the pytorch-optimizer catalogue (tpo.*; needs the 'catalogue' extra).")
@click.pass_context
@user_errors
def list_command(ctx: click.Context, kind: str, include_catalogue: bool) -> None:
    """List registered optimizers, schedules or tasks."""
    from optbench.console import console, registry_table

    registry = _registry(ctx)
    if include_catalogue:
        from optbench.catalogue import add_catalogue

        add_catalogue(registry)
    console.print(registry_table(registry, kind[:-1]))  # type: ignore[arg-type]


@main.command("run")
@click.option("--tasks", "-t", required=True, help='Tasks, e.g. "quadratic[kappa=1000],saddle".')
@click.option("--optims", "-o", required=True, help='Optimizers, e.g. "sgd[lr=0.1|0.01],adam[lr=3e-4]".')
@click.option("--schedules", "-s", default="constant", show_default=True, help='e.g. "constant,warmup-cosine".')
@click.option("--batch-sizes", "-b", default=None, help='e.g. "1,16,full" (default: each task\'s own).')
@click.option("--seeds", default="0", show_default=True, help='e.g. "0,1,2" or "0-4".')
@click.option("--steps", type=int, default=None, help="Budget: optimizer steps per trial.")
@click.option("--epochs", type=float, default=None, help="Budget: epochs per trial.")
@click.option("--time", "seconds", type=float, default=None, help="Budget: training seconds per trial.")
@click.option("--eval-every", type=int, default=None, help="Evaluate every K steps (default: every epoch).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder (default: results/<date>-<tasks>-<hash>, reused by the same study).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--threads", type=int, default=None, help="torch CPU threads (recorded in the manifest).")
@click.option("--plugin", "plugins", multiple=True, metavar="PATH_OR_MODULE", help="Extra plugin (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Real libriphone folder for the phoneme task (else $OPTBENCH_PHONEME_DIR, else built-in corpus).")
@click.option("--workers", "-j", type=int, default=1, show_default=True,
              help="Run trials in N local processes (torch threads per worker: cores // N).")
@click.option("--backend", type=click.Choice(["sequential", "process", "ray"], case_sensitive=False),
              default="sequential", show_default=True, help="Where trials run (ray: pip install 'optbench[ray]').")
@click.option("--address", default=None, help="Ray cluster address (auto, host:port, ray://host:port).")
@click.option("--diagnose", is_flag=False, flag_value="", default=None, metavar="[K=V,...]",
              help="End-of-trial Hessian diagnosis (λ_min, λ_max, trace, verdict), e.g. --diagnose examples=2048.")
@click.option("--noise-scale", "noise_scale", default=None, metavar="every=N[,small=b,chunks=k]",
              help="Record the gradient noise scale B_simple every N steps (outside the clock).")
@click.option("--report", "write_report", is_flag=True, help="Write an HTML report into reports/ at the end.")
@click.pass_context
@user_errors
def run_command(ctx: click.Context, tasks: str, optims: str, schedules: str, batch_sizes: str | None,
                seeds: str, steps: int | None, epochs: float | None, seconds: float | None,
                eval_every: int | None, out: str | None, device: str, threads: int | None,
                plugins: tuple[str, ...], quiet: bool, workers: int, backend: str, address: str | None,
                diagnose: str | None, noise_scale: str | None, write_report: bool, data_dir: str | None) -> None:
    """Run every combination of tasks × optimizers × schedules × batch sizes × seeds."""
    from optbench.console import console, run_with_progress, summary_table
    from optbench.runner import execute, prepare

    if data_dir is not None:
        import os

        from optbench.tasks.phoneme.data import ENV_VAR

        os.environ[ENV_VAR] = str(Path(data_dir).resolve())
    study = prepare(tasks, optims, schedules, batch_sizes, seeds, steps, epochs, seconds, eval_every, out,
                    device=device, threads=threads, registry=_registry(ctx, plugins), diagnose=diagnose,
                    noise_scale=noise_scale)
    where = {"backend": backend, "workers": workers, "address": address}
    if quiet:
        execute(study, **where)
    else:
        run_with_progress(study, **where)
        console.print(summary_table(study.trials()))
    click.echo(f"results: {study.store.path}")
    if write_report:
        from optbench.report import build_report

        click.echo(f"report: {build_report([study.store.path])}")


from optbench.conformance import check_command  # noqa: E402 - the command module imports cli's helpers lazily

main.add_command(check_command)

from optbench.tasks.phoneme.commands import data_group, predict_command  # noqa: E402 - imports cli's helpers

main.add_command(data_group)
main.add_command(predict_command)

from optbench.diagnose_cli import diagnose_command  # noqa: E402 - imports cli's helpers

main.add_command(diagnose_command)

from optbench.report.command import report_command  # noqa: E402 - imports cli's helpers

main.add_command(report_command)

from optbench.tune_cli import tune_command  # noqa: E402 - imports cli's helpers

main.add_command(tune_command)
