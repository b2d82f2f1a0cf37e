"""The ``optbench`` command line: a thin click layer over the Python API.

Every command turns user errors (:class:`optbench.OptbenchError`) into one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
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
@click.pass_context
@user_errors
def list_command(ctx: click.Context, kind: str) -> None:
    """List registered optimizers, schedules or tasks."""
    from optbench.console import console, registry_table

    console.print(registry_table(_registry(ctx), kind[:-1]))  # type: ignore[arg-type]


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
@click.pass_context
@user_errors
def run_command(ctx: click.Context, tasks: str, optims: str, schedules: str, batch_sizes: str | None,
                seeds: str, steps: int | None, epochs: float | None, seconds: float | None,
                eval_every: int | None, out: str | None, device: str, threads: int | None,
                plugins: tuple[str, ...], quiet: bool) -> None:
    """Run every combination of tasks × optimizers × schedules × batch sizes × seeds."""
    from optbench.console import console, run_with_progress, summary_table
    from optbench.runner import execute, prepare

    study = prepare(tasks, optims, schedules, batch_sizes, seeds, steps, epochs, seconds, eval_every, out,
                    device=device, threads=threads, registry=_registry(ctx, plugins))
    if quiet:
        execute(study)
    else:
        run_with_progress(study)
        console.print(summary_table(study.trials()))
    click.echo(f"results: {study.store.path}")


if __name__ == "__main__":  # pragma: no cover
    main()
