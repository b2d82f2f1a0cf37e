"""Terminal presentation with rich: registry tables, live progress of a study, the end-of-run summary.

Everything here only displays; the numbers come from the registry, the runner and the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from optbench.errors import OptbenchError
from optbench.registry import Entry, Kind, Registry
from optbench.spec import format_number, format_value

if TYPE_CHECKING:  # the listing commands need neither pandas nor the study machinery
    from collections.abc import Callable

    import pandas as pd

    from optbench.trial import TrialConfig, TrialResult

    OnTrial = Callable[[TrialConfig, "TrialResult | None"], None]

Study = Any  # an optbench.study.Study (not imported: the study module drives this one for run(progress=True))

console = Console()
err_console = Console(stderr=True)


def _defaults_text(defaults: Any) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in defaults.items()) or "—"


def registry_table(registry: Registry, kind: Kind) -> Table:
    """A table of every entry of ``kind``: name, aliases, description, defaults, source."""
    table = Table(title=f"optbench {kind}s", show_lines=False, expand=False)
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("description", overflow="fold")
    table.add_column("defaults", overflow="fold")
    if kind == "optimizer":
        table.add_column("lr range", no_wrap=True)
    table.add_column("source", style="dim", overflow="fold")
    for entry in registry.list(kind):
        # Plugin-provided text is shown literally, never as rich markup.
        name = escape(entry.name) + (f"\n[dim]({escape(', '.join(entry.aliases))})[/dim]" if entry.aliases else "")
        cells = [name, escape(entry.description), escape(_listed_defaults_text(entry))]
        if kind == "optimizer":
            cells.append(f"{entry.lr_range[0]:g} – {entry.lr_range[1]:g}" if entry.lr_range else "—")
        cells.append(escape(entry.source))
        table.add_row(*cells)
    return table


def _listed_defaults_text(entry: Entry) -> str:
    try:
        return _defaults_text(entry.listed_defaults())
    except OptbenchError as exc:  # a plugin's lazy factory that does not import: its row says so, the rest lists
        return f"(unavailable: {exc})"


def print_problems(registry: Registry) -> None:
    for problem in registry.problems:
        err_console.print(f"[yellow]warning:[/yellow] {escape(str(problem))}", highlight=False, soft_wrap=True)


def _columns() -> tuple:
    return (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


class StudyProgress:
    """Two bars: the study in steps (its ETA comes from the first steps, not the first finished trial) and the
    current trial in steps. Where steps are unknown (time budgets, other processes) bars count trials."""

    def __init__(self, progress: Progress, study: Study, pending: list[TrialConfig]):
        self.progress, self.study = progress, study
        planned = [study.planned_steps.get(c.trial_id) for c in pending]
        self.by_steps = all(p is not None for p in planned)
        total = sum(planned) if self.by_steps else len(pending)
        self.overall = progress.add_task("study (steps)" if self.by_steps else "study (trials)", total=total)
        self.current = progress.add_task("", total=None)
        self.done_in_trial = 0

    def on_step(self, step: int, total: int) -> None:
        self.progress.update(self.current, completed=step, total=total)
        if self.by_steps:
            self.progress.advance(self.overall, step - self.done_in_trial)
        self.done_in_trial = step

    def on_trial(self, config: TrialConfig, result: TrialResult | None) -> None:
        if result is None:
            self.done_in_trial = 0
            self.progress.reset(self.current, total=self.study.planned_steps.get(config.trial_id),
                                description=f"[dim]{escape(config.label)}")
            return
        planned = self.study.planned_steps.get(config.trial_id) or 0
        self.progress.advance(self.overall, (planned - self.done_in_trial) if self.by_steps else 1)
        self.done_in_trial = planned
        status = result.row["status"]
        if status != "completed":
            colour = "yellow" if status == "diverged" else "red"
            detail = result.row.get("error") or result.row.get("diverged_reason") or ""
            self.progress.console.print(f"[{colour}]{status}[/{colour}] {escape(config.label)}: "
                                        f"{escape(str(detail))}", highlight=False)


def run_with_progress(study: Study, on_trial: OnTrial | None = None, **backend: Any) -> None:
    """Execute a study with live progress (the study and the current trial, in steps, with ETAs).

    ``on_trial``: another observer of each trial's start and end (e.g. ``--track``'s), called after the bars.
    ``backend`` is passed on to :func:`optbench.backends.execute` (``backend=``, ``workers=``, ``address=``).
    """
    pending = study.pending()
    done_before = len(study.configs) - len(pending)
    if not pending:
        console.print(f"All {len(study.configs)} trials are already in {study.store.path}.")
        return
    if done_before:
        console.print(f"Resuming: {done_before} of {len(study.configs)} trials already in {study.store.path}.")
    from optbench.backends import execute

    with Progress(*_columns(), console=console, transient=False) as progress:
        bars = StudyProgress(progress, study, pending)
        study.options.on_step = bars.on_step
        try:
            execute(study, bars.on_trial if on_trial is None else _both(bars.on_trial, on_trial), **backend)
        finally:
            study.options.on_step = None
            progress.update(bars.current, visible=False)


def _both(first: OnTrial, second: OnTrial) -> OnTrial:
    def observe(config: TrialConfig, result: TrialResult | None) -> None:
        first(config, result)
        second(config, result)

    return observe


def _median_iqr(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return f"{format_number(float(values.iloc[0]))} (1 seed)"
    q1, q2, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{format_number(float(q2))} ({format_number(float(q1), 3)}–{format_number(float(q3), 3)})"


def _final_text(row: Any) -> str:
    if row.final_n == 0:
        return "—"
    if row.final_n == 1:
        return f"{format_number(row.final_median)} (1 seed)"
    return (f"{format_number(row.final_median)} ({format_number(row.final_q25, 3)}–"
            f"{format_number(row.final_q75, 3)})")


def summary_table(trials: pd.DataFrame, declarations: dict[str, Any] | None = None,
                  only: set[str] | None = None) -> Table:
    """Per task and configuration, the judge's numbers (:mod:`optbench.judge`): the headline metric's final
    value, median (interquartile range) over completed seeds; steps to the declared target, median [min, max]
    over every seed with a result (never counted as never); speed; diverged and failed trials. ``trials``:
    the whole store (so labels and medians are the report's); ``only``: the trial ids whose rows to show."""
    from optbench.judge import judge, to_target_text

    table = Table(title="median (interquartile range) over seeds; steps to target: median [min, max]")
    for col in ("task", "configuration", "trials", "final headline metric", "steps to target", "steps/s",
                "diverged", "failed"):
        table.add_column(col, justify="left" if col in ("task", "configuration") else "right", overflow="fold")
    if trials.empty:
        return table
    verdicts = judge(trials, declarations or {})
    judged = verdicts.trials
    shown = set(judged.loc[judged["trial_id"].isin(only), "config"]) if only is not None else None
    speed = trials.assign(config=judged["config"].to_numpy(), task_key=judged["task_key"].to_numpy()
                          ).groupby(["task_key", "config"])
    for row in verdicts.configs.sort_values(["task_label", "config"]).itertuples():
        if shown is not None and row.config not in shown:
            continue
        headline = verdicts.tasks.set_index("task_key").loc[row.task_key, "headline"]
        steps_per_second = speed.get_group((row.task_key, row.config))["steps_per_second"]
        table.add_row(escape(row.task_label), escape(row.config), str(row.seeds),
                      escape(f"{headline} {_final_text(row)}"), escape(to_target_text(row)),
                      escape(_median_iqr(steps_per_second)), str(row.diverged), str(row.failed))
    return table


def verdict_lines(trials: pd.DataFrame, declarations: dict[str, Any] | None = None,
                  tasks: set[str] | None = None) -> list[str]:
    """Each task's verdicts in words (of ``tasks``, default all), as the report states them (the judge's)."""
    from optbench.judge import judge, task_sentences

    verdicts = judge(trials, declarations or {})
    return [f"{task}: {sentence}" for task, sentences in task_sentences(verdicts)
            if tasks is None or task in tasks for sentence in sentences]
