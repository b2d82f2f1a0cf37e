"""Scoring suite stores against the shipped baselines, without rerunning them.

Gathers the final trials of every store (:func:`optbench.suite.results.suite_results`) and of the
shipped baselines (:func:`optbench.suite.baselines.load_baselines`), checks they are the same suite
version, and hands the table to the pure math in :mod:`optbench.suite.score`. An optimizer label found in
a store replaces the baseline of the same label (your rerun of ``adam`` is scored, not the shipped one).

Two leaderboards, as AlgoPerf keeps them apart: optimizers tuned under the suite's protocol are scored among
themselves, and optimizers run as given (``sgd[lr=1e-5]``: self-tuning or untuned, no search budget) are
ranked among themselves against the fastest of *either* track (a lone as-given optimizer would otherwise be
"fastest everywhere"). ``by="steps"`` (default) scores steps to target; ``by="time"`` the training clock to
target (machine-specific: it is only comparable between runs on the same machine at the same load).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optbench.errors import OptbenchError
from optbench.suite import score as math_
from optbench.suite.baselines import load_baselines
from optbench.suite.definition import DEFAULT_SUITE, Suite, load_suite, suite_from_json
from optbench.suite.results import read_record, suite_results


@dataclass
class Scored:
    """The score table, the per-workload median steps, and what went into them."""

    suite: str
    version: int
    tau_max: float
    table: pd.DataFrame  # optimizer, track, score, score_min, score_max, reached, workloads, rank, source, tuned
    steps: pd.DataFrame  # optimizer × workload median steps (or seconds, by="time") to target (∞: never)
    trials: pd.DataFrame  # the final trials scored
    notes: list[str]
    by: str = "steps"

    @property
    def column(self) -> str:
        """The trial column scored: ``steps`` or ``time_to_target``."""
        return BY[self.by]

    def write_json(self, path: str | Path) -> None:
        steps = self.steps.replace(math.inf, None).astype(object).where(self.steps.notna(), None)
        payload: dict[str, Any] = {"suite": self.suite, "version": self.version, "tau_max": self.tau_max,
                                   "by": self.by,
                                   "table": self.table.to_dict("records"), "median_steps": steps.to_dict("index"),
                                   "notes": self.notes}
        Path(path).write_text(json.dumps(payload, indent=1, default=str))


#: ``--by`` → the trial column scored
BY = {"steps": "steps", "time": "time_to_target"}


def gather(stores: list[str], baselines: bool = True, suite_name: str = DEFAULT_SUITE
           ) -> tuple[pd.DataFrame, Suite, list[str]]:
    """Final trials of the stores (and the baselines), the suite (as the stores recorded it), and notes.

    With no stores, the shipped baselines of ``suite_name`` alone (the builtins' leaderboard)."""
    if not stores:
        suite = load_suite(suite_name)
        shipped = load_baselines(suite.name, suite.version)
        if shipped.empty:
            raise OptbenchError(f"no baselines are shipped for {suite.name}; give a suite store to score")
        return shipped.assign(source="baseline"), suite, []
    records = [read_record(s) for s in stores]
    names = {(r["suite"], int(r["version"])) for r in records}
    if len(names) != 1:
        raise OptbenchError(f"the stores hold different suites: {sorted(names)}")
    (suite, version), = names
    frames = [suite_results(s).assign(source=str(s)) for s in stores]
    mine = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    notes = _qualify_clashes(mine)
    if baselines:
        shipped = load_baselines(suite, version)
        if shipped.empty:
            notes.append(f"no baselines are shipped for {suite}: scored against the stores alone")
        else:
            replaced = sorted(set(shipped["optimizer"]) & set(mine["name"]))
            if replaced:
                notes.append(f"the stores' own {', '.join(replaced)} replace the shipped baseline(s) of that name")
            mine = pd.concat([mine, shipped[~shipped["optimizer"].isin(replaced)].assign(source="baseline")],
                             ignore_index=True)
    mine["name"] = mine["name"].fillna(mine["optimizer"])
    return mine, suite_from_json(records[0]["definition"], str(stores[0])), notes


def check_options(by: str, tau_max: float | None) -> None:
    """Bad ``by`` or ``tau_max``: one clear error before anything is read."""
    if by not in BY:
        raise OptbenchError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    if tau_max is not None and not (math.isfinite(tau_max) and tau_max > 1):
        raise OptbenchError(f"--tau-max must be a number > 1, not {tau_max:g}")


def _qualify_clashes(trials: pd.DataFrame) -> list[str]:
    """Two stores' runs of one optimizer name are two entries, ``name (folder)``: they are never pooled."""
    trials["name"] = trials["optimizer"]
    stores = trials.groupby("optimizer")["source"].nunique()
    clashing = set(stores[stores > 1].index)
    if not clashing:
        return []
    rows = trials["optimizer"].isin(clashing)
    trials.loc[rows, "optimizer"] = [f"{o} ({Path(s).name})" for o, s in
                                     zip(trials.loc[rows, "optimizer"], trials.loc[rows, "source"], strict=True)]
    return [f"{', '.join(sorted(clashing))}: run in several stores, scored apart and named by folder"]


def score_stores(stores: list[str], workloads: str | None = None, baselines: bool = True,
                 suite_name: str = DEFAULT_SUITE, by: str = "steps", tau_max: float | None = None) -> Scored:
    """The suite score of every optimizer in ``stores`` (and the shipped baselines) on the chosen workloads,
    by ``steps`` or ``time`` to target, τ = 1..``tau_max`` (default: the suite's)."""
    check_options(by, tau_max)
    trials, suite, notes = gather(stores, baselines, suite_name)
    tau_max = suite.tau_max if tau_max is None else float(tau_max)
    suite = suite.select(workloads)
    wanted = {w.id for w in suite.workloads}
    trials = trials[trials["workload"].isin(wanted)]
    if trials.empty:
        raise OptbenchError(f"no finished trials on the workloads {', '.join(sorted(wanted))}")
    missing = _missing(trials, wanted)
    if missing:
        notes.append("counted as never reaching the target (not run): " + "; ".join(missing))
    column = BY[by]
    table = _tracks(trials, tau_max, column)
    table["source"] = table["optimizer"].map(trials.groupby("optimizer")["source"].first())
    table["tuned"] = table["track"] == "tuned"
    steps = math_.median_steps(trials, column).reindex(index=table["optimizer"], columns=sorted(wanted))
    return Scored(suite.name, suite.version, tau_max, table, steps.fillna(math.inf), trials, notes, by)


def _tracks(trials: pd.DataFrame, tau_max: float, column: str) -> pd.DataFrame:
    """The tuned leaderboard, then the as-given one (ranked apart, against the fastest of both)."""
    given = ~trials["tuned"].astype(bool)
    tuned = math_.score_table(trials[~given], tau_max, column).assign(track="tuned")
    if not given.any():
        return tuned
    reference = math_.fastest_medians(trials, column).min(axis=0)
    as_given = math_.score_table(trials[given], tau_max, column, reference=reference).assign(track="as given")
    return pd.concat([tuned, as_given], ignore_index=True)


def _missing(trials: pd.DataFrame, wanted: set[str]) -> list[str]:
    out = []
    for optimizer, part in trials.groupby("optimizer"):
        absent = sorted(wanted - set(part["workload"]))
        if absent:
            out.append(f"{optimizer} on {', '.join(absent)}")
    return out
