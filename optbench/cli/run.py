"""``optbench run``: a study from the command line (a thin layer over :func:`optbench.study.prepare`)."""

from __future__ import annotations

import click

from optbench.cli.common import Interrupted, check_writable, cli_registry, user_errors


def threads_option(command: click.Command) -> click.Command:
    """``--threads auto|N``, shared by every command that trains."""
    return click.option(
        "--threads", default="auto", show_default=True,
        help="torch CPU threads: auto (1 for tiny steps, else the free cores; fewer when the machine is "
             "loaded) or a number.")(command)


def parse_threads(value: str) -> int | str:
    from optbench.errors import SpecError

    if value.strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise SpecError(f"--threads must be 'auto' or a whole number, got {value!r}") from None


@click.command("run")
@click.option("--tasks", "-t", required=True, help='Tasks, e.g. "quadratic[kappa=1000],saddle".')
@click.option("--optims", "-o", required=True, help='Optimizers, e.g. "sgd[lr=0.1|0.01],adam[lr=3e-4]".')
@click.option("--schedules", "-s", default="constant", show_default=True, help='e.g. "constant,warmup-cosine".')
@click.option("--batch-sizes", "-b", default=None, help='e.g. "1,16,full" (default: each task\'s own).')
@click.option("--seeds", default="0-2", show_default=True, help='e.g. "0,1,2" or "0-4" (one seed: no noise estimate).')
@click.option("--steps", type=int, default=None, help="Budget: optimizer steps per trial.")
@click.option("--epochs", type=float, default=None, help="Budget: epochs per trial.")
@click.option("--time", "seconds", type=float, default=None, help="Budget: training seconds per trial.")
@click.option("--eval-every", type=int, default=None, help="Evaluate every K steps (default: the task's own cadence).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder (default: results/<date>-<tasks>-<hash>, reused by the same study).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@threads_option
@click.option("--plugin", "plugins", multiple=True, metavar="PATH_OR_MODULE", help="Extra plugin (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data folder for tasks that take one (phoneme: a libriphone folder).")
@click.option("--workers", "-j", default="1", show_default=True,
              help="Run trials in N local processes (threads per worker: the cores divided among them), or "
                   "auto: as many as there are free cores, when the grid holds enough work to repay the "
                   "pool's start-up (else 1); the choice and its reason go into the manifest.")
@click.option("--backend", type=click.Choice(["sequential", "process", "ray"], case_sensitive=False),
              default="sequential", show_default=True, help="Where trials run (ray: pip install 'optbench[ray]').")
@click.option("--address", default=None, help="Ray cluster address (auto, host:port, ray://host:port).")
@click.option("--diagnose", is_flag=False, flag_value="", default=None, metavar="[K=V,...]",
              help="End-of-trial Hessian diagnosis (λ_min, λ_max, trace, verdict), e.g. --diagnose examples=2048.")
@click.option("--noise-scale", "noise_scale", default=None, metavar="every=N[,small=b,chunks=k]",
              help="Record the gradient noise scale B_simple every N steps (outside the clock).")
@click.option("--force", is_flag=True, help="Rerun trials that are already in the store.")
@click.option("--insist", is_flag=True,
              help="Run a step budget above the limit (10,000,000 steps per trial) without a --time bound.")
@click.option("--report", "write_report", is_flag=True, help="Write an HTML report into reports/ at the end.")
@click.option("--track", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Also log each finished trial's records as TensorBoard event files under DIR "
                   "(pip install 'optbench[tensorboard]').")
@click.pass_context
@user_errors
def run_command(ctx: click.Context, tasks: str, optims: str, quiet: bool, plugins: tuple[str, ...], workers: str,
                backend: str, address: str | None, write_report: bool, threads: str, track: str | None,
                **settings: object) -> None:
    """Run every combination of tasks × optimizers × schedules × batch sizes × seeds."""
    check_writable(settings["out"] or "results")  # before anything is built or trained
    # the workers' fork server imports torch while we do (``auto`` decides after planning; prepare checks)
    if workers.isdigit() and int(workers) > 1 and backend.lower() != "ray":
        from optbench.forkserver import start_pool_early

        start_pool_early(int(workers))
    from optbench.backends import parse_workers, validate_backend
    from optbench.console import console, run_with_progress, summary_table, verdict_lines
    from optbench.plan import StudySpec
    from optbench.study import execute, prepare

    chosen = parse_workers(workers)
    validate_backend(backend, chosen if isinstance(chosen, int) else 1, address)  # before the store is made

    spec = StudySpec(tasks, optims, threads=parse_threads(threads), **settings)  # type: ignore[arg-type]
    study = prepare(spec, registry=cli_registry(ctx, plugins), workers=workers)
    where = {"backend": backend, "workers": study.options.workers, "address": address}  # auto: decided
    if track is not None:
        from optbench.tracking import TensorBoardTracker

        where["on_trial"] = TensorBoardTracker(track)  # refused (one line) before any training
    try:
        if quiet:
            execute(study, **where)
        else:
            run_with_progress(study, **where)
            from rich.markup import escape

            mine, trials = study.trials(), study.store.read_trials()  # judged beside the whole store
            declarations = study.store.read_declarations()
            ids, tasks = (set(mine["trial_id"]), set(mine["task_label"])) if len(mine) else (set(), set())
            console.print(summary_table(trials, declarations, only=ids))
            for line in verdict_lines(trials, declarations, tasks=tasks):
                console.print(escape(line), highlight=False)
    except KeyboardInterrupt:
        raise Interrupted(f"finished trials are kept in {study.store.path}; rerun the same command to "
                          "resume") from None
    click.echo(f"results: {study.store.path}")
    if write_report:
        from optbench.report import build_report

        click.echo(f"report: {build_report([study.store.path])}")
