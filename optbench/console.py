"""Terminal presentation with rich: registry tables, live progress of a study, the end-of-run summary.

Everything here only displays; the numbers come from the registry, the runner and the store.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from optbench.registry import Kind, Registry
from optbench.runner import Study, TrialConfig, TrialResult, execute
from optbench.spec import format_value

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
        cells = [name, escape(entry.description), escape(_defaults_text(entry.listed_defaults()))]
        if kind == "optimizer":
            cells.append(f"{entry.lr_range[0]:g} – {entry.lr_range[1]:g}" if entry.lr_range else "—")
        cells.append(escape(entry.source))
        table.add_row(*cells)
    return table


def print_problems(registry: Registry) -> None:
    for problem in registry.problems:
        err_console.print(f"[yellow]warning:[/yellow] {escape(str(problem))}", highlight=False, soft_wrap=True)


def run_with_progress(study: Study, **backend: Any) -> None:
    """Execute a study with a live progress bar (overall, with ETA, and the current trial).

    ``backend`` is passed on to :func:`optbench.runner.execute` (``backend=``, ``workers=``, ``address=``).
    """
    pending = len(study.pending())
    done_before = len(study.configs) - pending
    if pending == 0:
        console.print(f"All {len(study.configs)} trials are already in {study.store.path}.")
        return
    if done_before:
        console.print(f"Resuming: {done_before} of {len(study.configs)} trials already in {study.store.path}.")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("trials", total=pending)
        current = progress.add_task("", total=None)

        def on_trial(config: TrialConfig, result: TrialResult | None) -> None:
            if result is None:
                progress.update(current, description=f"[dim]{escape(config.label)}")
                return
            progress.advance(overall)
            status = result.row["status"]
            if status != "completed":
                colour = "yellow" if status == "diverged" else "red"
                detail = result.row.get("error") or f"at step {result.row.get('diverged_step')}"
                progress.console.print(f"[{colour}]{status}[/{colour}] {escape(config.label)}: {escape(str(detail))}",
                                       highlight=False)

        execute(study, on_trial, **backend)
        progress.update(current, visible=False)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def summary_table(trials: pd.DataFrame) -> Table:
    """Per task and optimizer configuration: median final/best loss, best accuracy, speed, failures."""
    table = Table(title="summary (median over seeds, batch sizes and schedules)")
    for col in ("task", "optimizer", "trials", "final loss", "best loss", "best val acc", "steps/s",
                "diverged", "failed"):
        table.add_column(col, justify="left" if col in ("task", "optimizer") else "right")
    if trials.empty:
        return table
    for (task, optim), group in trials.groupby(["task_label", "optimizer_label"], sort=True):
        acc = group["best_val_acc"].median() if "best_val_acc" in group else math.nan
        table.add_row(
            task, optim, str(len(group)),
            _fmt(group["final_train_loss"].median()), _fmt(group["best_train_loss"].median()),
            _fmt(acc), _fmt(group["steps_per_second"].median(), 3),
            str(int((group["status"] == "diverged").sum())), str(int((group["status"] == "failed").sum())),
        )
    return table
