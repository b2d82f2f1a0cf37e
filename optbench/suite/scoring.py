"""Scoring suite stores against the shipped baselines, without rerunning them.

Gathers the final trials of every store (:func:`optbench.suite.results.suite_results`) and of the
shipped baselines (:func:`optbench.suite.baselines.load_baselines`), checks they are the same suite
version, and hands the table to the pure math in :mod:`optbench.suite.score`. An optimizer label found in
a store replaces the baseline of the same label (your rerun of ``adam`` is scored, not the shipped one).
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
    table: pd.DataFrame  # optimizer, score, score_min, score_max, reached, workloads, rank, source
    steps: pd.DataFrame  # optimizer × workload median steps to target (∞: never)
    trials: pd.DataFrame  # the final trials scored
    notes: list[str]

    def write_json(self, path: str | Path) -> None:
        steps = self.steps.replace(math.inf, None).astype(object).where(self.steps.notna(), None)
        payload: dict[str, Any] = {"suite": self.suite, "version": self.version, "tau_max": self.tau_max,
                                   "table": self.table.to_dict("records"), "median_steps": steps.to_dict("index"),
                                   "notes": self.notes}
        Path(path).write_text(json.dumps(payload, indent=1, default=str))


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
    notes: list[str] = []
    if baselines:
        shipped = load_baselines(suite, version)
        if shipped.empty:
            notes.append(f"no baselines are shipped for {suite}: scored against the stores alone")
        else:
            replaced = sorted(set(shipped["optimizer"]) & set(mine["optimizer"]))
            if replaced:
                notes.append(f"the stores' own {', '.join(replaced)} replace the shipped baseline(s) of that name")
            mine = pd.concat([mine, shipped[~shipped["optimizer"].isin(replaced)].assign(source="baseline")],
                             ignore_index=True)
    return mine, suite_from_json(records[0]["definition"], str(stores[0])), notes


def score_stores(stores: list[str], workloads: str | None = None, baselines: bool = True,
                 suite_name: str = DEFAULT_SUITE) -> Scored:
    """The suite score of every optimizer in ``stores`` (and the shipped baselines) on the chosen workloads."""
    trials, suite, notes = gather(stores, baselines, suite_name)
    suite = suite.select(workloads)
    wanted = {w.id for w in suite.workloads}
    trials = trials[trials["workload"].isin(wanted)]
    if trials.empty:
        raise OptbenchError(f"no finished trials on the workloads {', '.join(sorted(wanted))}")
    missing = _missing(trials, wanted)
    if missing:
        notes.append("counted as never reaching the target (not run): " + "; ".join(missing))
    table = math_.score_table(trials, suite.tau_max)
    sources = trials.groupby("optimizer")["source"].first()
    untuned = trials.loc[~trials["tuned"].astype(bool), "optimizer"].unique()
    table["source"] = table["optimizer"].map(sources)
    table["tuned"] = ~table["optimizer"].isin(untuned)
    steps = math_.median_steps(trials).reindex(index=table["optimizer"], columns=sorted(wanted))
    return Scored(suite.name, suite.version, suite.tau_max, table, steps.fillna(math.inf), trials, notes)


def _missing(trials: pd.DataFrame, wanted: set[str]) -> list[str]:
    out = []
    for optimizer, part in trials.groupby("optimizer"):
        absent = sorted(wanted - set(part["workload"]))
        if absent:
            out.append(f"{optimizer} on {', '.join(absent)}")
    return out
