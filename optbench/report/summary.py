"""The report's conclusions in plain words, generated from the store: per task and across tasks.

Owns the ranking a verdict is built on (completed trials only, the task's declared headline metric and
direction, the bootstrap over seeds from :mod:`optbench.stats`) and the sentences that state it: the
winner with its margin and whether the margin exceeds seed noise (or that there is one seed and so no
noise estimate), time to the target against the runner-up, which configurations diverged or failed and
where, and tuning caveats such as a chosen value on the edge of its searched range.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from optbench import stats
from optbench.report.data import ReportData

NOISE_SENTENCE = ("★ marks the best median over seeds; “≈ within seed noise” marks a configuration whose 95 % "
                  "percentile-bootstrap interval (2,000 resamples of the seeds) of the median difference to the "
                  "winner contains 0, so the seeds cannot tell the two apart; with one seed there is no noise "
                  "estimate and no winner is claimed as a verdict.")
ONE_SEED = "one seed: no noise estimate"


def _num(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "never"
    return f"{value:.{digits}g}"


def ranking(data: ReportData, task_label: str) -> pd.DataFrame:
    """Per configuration (completed trials): seed summary of the headline score, rank, best and ties."""
    key = ("ranking", task_label)
    if key not in data._cache:  # the leaderboard and both summaries ask; the bootstrap runs once
        info = data.infos[task_label]
        done = data.task_trials(task_label, completed_only=True)
        # the final value: the task's last evaluation is on its full data, an intermediate best may be a
        # noisy subset estimate picked as a maximum (biased); the final one is what the trial ended with
        done = done[np.isfinite(done["headline_final"].astype(float))]
        if done.empty:
            table = pd.DataFrame(columns=["config", "median", "n", "rank", "is_best", "tied_with_best"])
        else:
            table = stats.compare_to_best(done, "config", "headline_final", maximize=info.maximize)
            table = table.sort_values("rank").reset_index(drop=True)
        data._cache[key] = table
    return data._cache[key]


def at_resolution(data: ReportData, task_label: str, table: pd.DataFrame) -> list[str]:
    """Configurations whose median headline sits at the metric's declared resolution (numerically equal)."""
    info = data.infos[task_label]
    floor = info.metric(info.headline).resolution
    if floor <= 0 or info.maximize:
        return []
    return table.loc[table["median"] <= floor, "config"].tolist()


def winner_sentence(data: ReportData, task_label: str) -> str:
    """Who wins on the headline metric, by how much, and whether that exceeds seed noise."""
    info, table = data.infos[task_label], ranking(data, task_label)
    metric = info.metric(info.headline)
    better = "higher" if info.maximize else "lower"
    lead = f"On {metric.label} ({better} is better)"
    if table.empty:
        return f"{lead}, no trial completed: there is no result to rank."
    best = table.iloc[0]
    if len(table) == 1:
        return f"{lead}, only {best['config']} completed ({_num(best['median'])}): nothing to compare it with."
    second = table.iloc[1]
    margin = abs(float(best["median"]) - float(second["median"]))
    values = f"{_num(best['median'])} against {_num(second['median'])}"
    if min(int(best["n"]), int(second["n"])) < 2:
        return (f"{lead}, {best['config']} has the best value, {values} for {second['config']} "
                f"(margin {_num(margin, 3)}) — {ONE_SEED}, so this is not a verdict.")
    tied = table[(table["rank"] > 1) & table["tied_with_best"].astype(bool)]["config"].tolist()
    at_floor = at_resolution(data, task_label, table)
    if len(at_floor) > 1:
        return (f"{lead}, {len(at_floor)} configurations reach the metric's resolution ({_num(metric.resolution)}: "
                f"below it values are numerically equal): {', '.join(at_floor)} — a tie, not a winner.")
    if tied:
        names = ", ".join(tied)
        return (f"{lead}, {best['config']} has the best median ({_num(best['median'])} over {int(best['n'])} seeds), "
                f"but {names} {'is' if len(tied) == 1 else 'are'} within seed noise of it: no clear winner "
                f"between them (margin to the runner-up {_num(margin, 3)}).")
    return (f"{lead}, {best['config']} wins: median {values} for the runner-up {second['config']} "
            f"(margin {_num(margin, 3)}, over {int(best['n'])} and {int(second['n'])} seeds); the difference "
            "exceeds seed noise.")


def target_sentence(data: ReportData, task_label: str) -> str | None:
    """Steps and time to the target of the fastest configuration against the runner-up."""
    info = data.infos[task_label]
    if info.target is None:
        return None
    done = data.task_trials(task_label, completed_only=True)
    what = f"the target ({info.target['description'] or info.target['metric']})"
    if info.target.get("derived"):
        what = f"the derived target ({info.target['description']}; this task declares none)"
    if done.empty:
        return None
    speed = done.groupby("config")[["steps_to_target", "time_to_target"]].median().sort_values(
        ["steps_to_target", "time_to_target"])
    reached = speed[np.isfinite(speed["steps_to_target"])]
    if reached.empty:
        return f"No configuration reached {what} within its budget."
    fast = reached.iloc[0]
    first = f"{reached.index[0]} reached {what} first: median {_num(fast['steps_to_target'])} steps " \
            f"({_num(fast['time_to_target'], 3)} s of training)"
    if len(speed) == 1:
        return first + "."
    second_name, second = speed.index[1], speed.iloc[1]
    if not math.isfinite(second["steps_to_target"]):
        return first + f"; the runner-up {second_name} and the others never did (median over seeds)."
    ratio = second["steps_to_target"] / max(fast["steps_to_target"], 1.0)
    return first + (f", against {_num(second['steps_to_target'])} steps ({_num(second['time_to_target'], 3)} s) "
                    f"for the runner-up {second_name}: {ratio:.3g}× fewer steps.")


def _steps_text(steps: pd.Series) -> str:
    finite = steps.dropna().astype(float)
    if finite.empty:
        return ""
    low, high = int(finite.min()), int(finite.max())
    return f" at step {low}" if low == high else f" at steps {low}–{high}"


def failure_sentence(data: ReportData, task_label: str) -> str:
    """Which configurations diverged or failed, how many seeds, and where."""
    trials = data.task_trials(task_label)
    parts = []
    for status, verb in (("diverged", "diverged"), ("failed", "failed")):
        bad = trials[trials["status"] == status]
        for config, group in bad.groupby("config", sort=True):
            total = int((trials["config"] == config).sum())
            detail = _steps_text(group["diverged_step"]) if status == "diverged" else ""
            reason = group["diverged_reason" if status == "diverged" else "error"].dropna()
            why = f" ({reason.iloc[0]})" if len(reason) else ""
            parts.append(f"{config} {verb} in {len(group)} of {total} seeds{detail}{why}")
    if not parts:
        return "No trial diverged or failed."
    return ("Excluded from medians, axis limits and profiles (drawn faded): " + "; ".join(parts) + ".")


def tuning_caveats(data: ReportData, task_label: str) -> list[str]:
    """A tuned value on the edge of the range searched for it, from each store's ``tune.json``."""
    out = []
    for label, tuning in data.tuning:
        for choice in tuning.get("choices", []):
            if choice.get("task") != task_label:
                continue
            for note in choice.get("warnings", []) or []:
                out.append(f"Tuning ({choice.get('optimizer')}): {note}")
            ids = [f"{label}/{t}" for t in choice.get("search_trials", [])]
            searched = data.trials[data.trials["trial_id"].isin(ids)]
            if choice.get("warnings") or searched.empty or choice.get("lr") is None:
                continue
            low, high = float(searched["lr"].min()), float(searched["lr"].max())
            if low < high and float(choice["lr"]) in (low, high):
                out.append(f"Tuning caveat: {choice.get('optimizer')} chose lr={_num(float(choice['lr']))}, the "
                           f"{'lower' if float(choice['lr']) == low else 'upper'} edge of the searched range "
                           f"[{_num(low)}, {_num(high)}]: the optimum may lie outside it.")
    return out


def task_summary(data: ReportData, task_label: str) -> list[str]:
    """The task section's opening sentences."""
    sentences = [winner_sentence(data, task_label)]
    target = target_sentence(data, task_label)
    if target:
        sentences.append(target)
    sentences.append(failure_sentence(data, task_label))
    return sentences + tuning_caveats(data, task_label)


def _verdict_word(data: ReportData, task_label: str) -> str:
    table = ranking(data, task_label)
    if table.empty:
        return "no completed trial"
    best = table.iloc[0]
    if len(table) == 1:
        return f"{best['config']} (the only configuration)"
    if int(table.iloc[:2]["n"].min()) < 2:
        return f"{best['config']} ({ONE_SEED})"
    tied = table[(table["rank"] > 1) & table["tied_with_best"].astype(bool)]["config"].tolist()
    at_floor = at_resolution(data, task_label, table)
    if len(at_floor) > 1:
        return f"a tie at the metric's resolution between {', '.join(at_floor)}"
    if tied:
        return f"{best['config']}, within seed noise of {', '.join(tied)}"
    return f"{best['config']} (beyond seed noise)"


def cross_task_summary(data: ReportData, warnings: list[str]) -> list[str]:
    """The page's opening: trial counts, one verdict per task, and the machine-load warnings."""
    statuses = data.trials["status"].value_counts().to_dict()
    counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    lines = [f"{len(data.trials)} trials on {len(data.tasks)} task{'s' if len(data.tasks) != 1 else ''} ({counts})."]
    lines += [f"{task}: best on {data.infos[task].metric(data.infos[task].headline).label} — "
              f"{_verdict_word(data, task)}." for task in data.tasks]
    return lines + warnings


def load_warnings(data: ReportData) -> list[str]:
    """A warning for every run (and trial) whose 1-minute load average exceeded the machine's cores."""
    out = []
    for label, results in data.stores:
        for run in results.manifest.get("runs", []):
            env: dict[str, Any] = run.get("environment", {})
            load, cores = (env.get("load_avg") or [None])[0], env.get("cpu_count")
            if load is not None and cores and float(load) > float(cores):
                out.append(f"Warning: store {label}, run started {run.get('started', '?')}: load average "
                           f"{float(load):.2f} exceeded the {cores} cores; timings are contended.")
    trials = data.trials
    if "load_avg_start" in trials and trials["load_avg_start"].notna().any():
        cores = max((r.get("environment", {}).get("cpu_count") or 0 for _, res in data.stores
                     for r in res.manifest.get("runs", [])), default=0)
        busy = int((trials["load_avg_start"].astype(float) > cores).sum()) if cores else 0
        if busy:
            out.append(f"Warning: {busy} trials started with a load average above the {cores} cores.")
    return out
