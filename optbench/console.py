"""Terminal presentation with rich: registry tables, live progress of a study, the end-of-run summary.

Everything here only displays; the numbers come from the registry, the runner and the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
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
from rich.table import Column, Table
from rich.text import Text

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


#: what a progress line needs besides its description: a 12-wide bar, "120000/120000", "100%", two
#: "0:00:00" clocks, "eta", and the spaces between the eight columns
PROGRESS_FIXED = 12 + 13 + 4 + 7 + 3 + 7 + 7


def _columns(width: int | None = None) -> tuple:
    # The description is cut (with an ellipsis) to what the fixed columns leave, so that at 80 columns the
    # counts, the elapsed time and the whole ETA stay on the line however long a trial's label is.
    room = max((width or console.width) - PROGRESS_FIXED - 1, 8)
    description = Column(width=room, no_wrap=True, overflow="ellipsis")
    fixed = [Column(no_wrap=True) for _ in range(6)]
    return (TextColumn("[bold]{task.description}", table_column=description),
            BarColumn(bar_width=12, table_column=fixed[0]), MofNCompleteColumn(table_column=fixed[1]),
            TaskProgressColumn(table_column=fixed[2]), TimeElapsedColumn(table_column=fixed[3]),
            TextColumn("eta", table_column=fixed[4]), TimeRemainingColumn(table_column=fixed[5]))


def _plain(cell: Any) -> str:
    return (Text.from_markup(cell) if isinstance(cell, str) else cell if isinstance(cell, Text)
            else Text(str(cell))).plain


def _longest_word(cell: Any) -> int:
    return max((len(word) for word in _plain(cell).split()), default=0)


def _set_widths(table: Table, words: list[int], room: int) -> Table:
    """Fix each column's width: its longest word, plus a share of the room left towards its longest line."""
    lines = [max(len(line) for cell in (column.header, *column.cells) for line in _plain(cell).splitlines() or [""])
             for column in table.columns]
    needs = [max(line - word, 0) for line, word in zip(lines, words, strict=True)]
    spare = room - sum(words)
    for column, word, need in zip(table.columns, words, needs, strict=True):
        column.width = word + (need if sum(needs) <= spare else need * spare // sum(needs))
    return table


def unbroken(table: Table, width: int | None = None) -> Table:
    """``table`` laid out so that no word of a header or cell is split at ``width`` (default: the console's).

    Every column gets at least its longest word (rich then wraps at spaces) and a share of what is left
    towards its longest line. When the boxed table cannot fit that way, the same table without rules is
    tried, and else one two-column block per row (header: value)."""
    width = width or console.width
    words = [max(_longest_word(column.header), *(_longest_word(cell) for cell in column.cells))
             for column in table.columns]
    if sum(words) + 3 * len(words) + 1 <= width:  # each column: its padding and one rule; one rule closes
        return _set_widths(table, words, width - 3 * len(words) - 1)
    if sum(words) + 2 * len(words) <= width:
        compact = Table(*table.columns, title=table.title, box=None, padding=(0, 1), header_style="bold underline")
        compact.rows = table.rows
        return _set_widths(compact, words, width - 2 * len(words))
    vertical = Table(title=table.title, show_header=False, box=box.SIMPLE, padding=(0, 1))
    vertical.add_column(style="bold", no_wrap=True)
    vertical.add_column()
    for index in range(table.row_count):
        for column in table.columns:
            vertical.add_row(str(column.header), list(column.cells)[index])
        if index < table.row_count - 1:
            vertical.add_section()
    return vertical


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
        return unbroken(table)
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
    return unbroken(table)


def verdict_lines(trials: pd.DataFrame, declarations: dict[str, Any] | None = None,
                  tasks: set[str] | None = None) -> list[str]:
    """Each task's verdicts in words (of ``tasks``, default all), as the report states them (the judge's)."""
    from optbench.judge import judge, task_sentences

    verdicts = judge(trials, declarations or {})
    return [f"{task}: {sentence}" for task, sentences in task_sentences(verdicts)
            if tasks is None or task in tasks for sentence in sentences]
