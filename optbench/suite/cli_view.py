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


def _steps(value: float, by: str = "steps") -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:.0f}" if by == "steps" else f"{value:.3g}"


SEED_RANGE = ("seed range: the score from each seed index alone (the k-th seed on every workload) against the "
              "fastest medians; the score itself is of the median seeds, and the profile's area is not linear "
              "in the steps, so it can lie outside that range")


def print_score(scored: Scored) -> None:
    measure = "steps" if scored.by == "steps" else "training time (machine-specific)"
    for track, part in scored.table.groupby("track", sort=False):
        title = (f"{scored.suite} v{scored.version} score, {track}: area under the performance profile over "
                 f"{measure} to target, τ = 1..{scored.tau_max:g} (1 = fastest everywhere)")
        table = Table(title=title)
        for column in ("rank", "optimizer", "score", "seed range", "targets reached", "source"):
            table.add_column(column)
        for row in part.itertuples():
            table.add_row(str(row.rank), escape(str(row.optimizer)), f"{row.score:.3f}",
                          f"{row.score_min:.3f}–{row.score_max:.3f}", f"{row.reached}/{row.workloads}",
                          escape(str(row.source)))
        console.print(table)
    unit = "steps" if scored.by == "steps" else "seconds"
    steps = Table(title=f"median {unit} to target over seeds (— = not reached by the median seed)")
    steps.add_column("optimizer")
    for workload in scored.steps.columns:
        steps.add_column(workload, justify="right")
    for optimizer, values in scored.steps.iterrows():
        steps.add_row(escape(str(optimizer)), *(_steps(v, scored.by) for v in values))
    console.print(steps)
    seeds = scored.trials.groupby("optimizer")["seed"].nunique()
    console.print(f"Seeds per optimizer: {seeds.min()}–{seeds.max()}; {SEED_RANGE}.")
    if "as given" in set(scored.table["track"]):
        console.print("As given (run with a fixed lr, no search budget): ranked apart from the tuned optimizers, "
                      "against the fastest median of either.")
    console.print("Step counts reproduce bit-for-bit on the same torch version; " + (
        "times are machine-specific and not scored (--by time scores them)." if scored.by == "steps" else
        "this score is of the training clock: machine-specific, comparable only on one machine at one load."))
    for note in scored.notes:
        console.print(f"note: {note}")
