"""What ``optbench suite list`` and ``optbench suite score`` print (rich tables and plain-words notes)."""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table

from optbench.console import console
from optbench.registry import load_registry
from optbench.suite.definition import load_suite
from optbench.suite.scoring import Scored


def workloads_table(suite_name: str) -> None:
    suite = load_suite(suite_name)
    registry = load_registry()
    table = Table(title=f"{suite.name} (v{suite.version}): protocol {suite.protocol}, score τ = 1..{suite.tau_max:g}")
    for column in ("workload", "task", "batch", "budget", "target", "what"):
        table.add_column(column)
    for w in suite.workloads:
        target = w.resolve_target(registry)
        budget = f"{w.steps} steps" if w.steps is not None else f"{w.epochs:g} epochs"
        declared = escape(f"{target.description} [{target.source}]")
        table.add_row(w.id, escape(w.task), str(w.batch_size), budget, declared, w.what)
    console.print(table)


def _steps(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.0f}"


def print_score(scored: Scored) -> None:
    table = Table(title=f"{scored.suite} v{scored.version} score: area under the performance profile over steps "
                        f"to target, τ = 1..{scored.tau_max:g} (1 = fastest everywhere)")
    for column in ("rank", "optimizer", "score", "seed range", "targets reached", "source"):
        table.add_column(column)
    for row in scored.table.itertuples():
        name = escape(row.optimizer if row.tuned else f"{row.optimizer} (as given, untuned)")
        table.add_row(str(row.rank), name, f"{row.score:.3f}", f"{row.score_min:.3f}–{row.score_max:.3f}",
                      f"{row.reached}/{row.workloads}", str(row.source))
    console.print(table)
    steps = Table(title="median steps to target over seeds (— = not reached by the median seed)")
    steps.add_column("optimizer")
    for workload in scored.steps.columns:
        steps.add_column(workload, justify="right")
    for optimizer, values in scored.steps.iterrows():
        steps.add_row(escape(str(optimizer)), *(_steps(v) for v in values))
    console.print(steps)
    seeds = scored.trials.groupby("optimizer")["seed"].nunique()
    console.print(f"Seeds per optimizer: {seeds.min()}–{seeds.max()}; the seed range is the score from each seed "
                  "alone. Step counts reproduce bit-for-bit on the same torch version; times are machine-specific "
                  "and not scored.")
    for note in scored.notes:
        console.print(f"note: {note}")
