"""What ``optbench suite list`` and ``optbench suite score`` print (rich tables and plain-words notes).

``suite list`` reads data only (the suite's JSON and its shipped baselines' ``suite.json``): it builds no
task and imports neither torch nor pandas, so it answers at once. A workload's target is the one resolved
when the baselines were made, while the workload's definition is unchanged since; otherwise the suite's own
(when it gives one) or "declared by the task", which ``suite run`` resolves when it builds the task.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from importlib import resources
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from optbench.console import console, unbroken
from optbench.suite.definition import SUITES_PACKAGE, Suite, Workload, load_suite

if TYPE_CHECKING:
    from optbench.suite.scoring import Scored


def shipped_targets(suite: Suite) -> dict[str, dict[str, Any]]:
    """Each unchanged workload's target as resolved for the shipped baselines (metric, value, direction,
    description, source), by workload id; none for a suite without baselines or of another version."""
    path = resources.files(SUITES_PACKAGE) / "baselines" / suite.name / "suite.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("version") != suite.version:
        return {}
    shipped = document.get("workloads") or {}
    return {w.id: shipped[w.id]["target"] for w in suite.workloads
            if isinstance(shipped.get(w.id), dict) and shipped[w.id].get("definition") == dict(w.__dict__)
            and isinstance(shipped[w.id].get("target"), dict)}


def _target_words(workload: Workload, shipped: dict[str, Any] | None) -> str:
    if shipped is not None:
        return f"{shipped['description']} [{shipped['source']}]"
    if workload.target is not None:
        why = workload.target.get("why") or f"{workload.target['metric']} reaching {workload.target['value']:g}"
        return f"{why} [suite]"
    return "declared by the task (resolved when it runs)"


def workloads_table(suite_name: str) -> None:
    suite = load_suite(suite_name)
    targets = shipped_targets(suite)
    table = Table(title=f"{suite.name} (v{suite.version}): protocol {suite.protocol}, score τ = 1..{suite.tau_max:g}")
    for column in ("workload", "task", "batch", "budget", "target", "what"):
        table.add_column(column)
    for w in suite.workloads:
        budget = f"{w.steps} steps" if w.steps is not None else f"{w.epochs:g} epochs"
        table.add_row(w.id, escape(w.task), str(w.batch_size), budget, escape(_target_words(w, targets.get(w.id))),
                      w.what)
    console.print(unbroken(table))


def short_ids(ids: list[str]) -> dict[str, str]:
    """Workload ids as column headers: a first word that several ids share becomes its initial
    (quadratic-k100-noisy → q-k100-noisy, phoneme-simple → p-simple); ids unchanged if that is not unique."""
    firsts = Counter(i.split("-")[0] for i in ids if "-" in i)
    short = {i: i[0] + i[len(i.split("-")[0]):] if "-" in i and firsts[i.split("-")[0]] > 1 else i for i in ids}
    return short if len(set(short.values())) == len(ids) else {i: i for i in ids}


def _legend(short: dict[str, str]) -> str:
    pairs = sorted({(v.split("-")[0], k.split("-")[0]) for k, v in short.items() if k != v})
    return ", ".join(f"{initial} = {word}" for initial, word in pairs)


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
        console.print(unbroken(table))
    short = short_ids([str(w) for w in scored.steps.columns])
    unit = "steps" if scored.by == "steps" else "seconds"
    steps = Table(title=f"median {unit} to target over seeds (— = not reached by the median seed)")
    steps.add_column("optimizer")
    for workload in scored.steps.columns:
        steps.add_column(escape(short[str(workload)]), justify="right")
    for optimizer, values in scored.steps.iterrows():
        steps.add_row(escape(str(optimizer)), *(_steps(v, scored.by) for v in values))
    console.print(unbroken(steps))
    if _legend(short):
        console.print(f"workloads: {_legend(short)} (suite list shows each id in full)")
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
