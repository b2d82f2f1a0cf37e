"""The report's conclusions in plain words, generated from the store: per task and across tasks.

Every verdict here is the judge's (:mod:`optbench.judge`, the same numbers and words the console prints);
this module only arranges them on the page, and adds what is the report's own: tuning caveats such as a
chosen value on the edge of its searched range, and the machine-load warnings.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from optbench.judge import task_sentences
from optbench.report.data import ReportData

NOISE_SENTENCE = ("★ marks the leader (best median over completed seeds), named the winner only when the seeds "
                  "establish it: an exact permutation test over the seed labels at 5 % (with 3 seeds a side the "
                  "smallest attainable p is 0.10, so 3 seeds can show a lead on every seed but never establish "
                  "it), or an exact comparison when every seed gives the same value. “=” marks a tie at the "
                  "metric's resolution, “≈” a configuration the seeds cannot tell from the leader. Accuracies "
                  "on a finite evaluation set also carry its binomial sampling error.")
ONE_SEED = "one seed: no noise estimate"
VS_LEADER_MARK = {"leader": "★", "tie": "=", "within_noise": "≈", "dominates": "≈", "within_sampling_error": "≈",
                  "single_seed": "≈"}


def verdict_row(data: ReportData, task_label: str) -> dict[str, Any]:
    """The judge's row for the task (headline and target leaders, verdicts and their wording)."""
    tasks = data.verdicts.tasks
    return tasks[tasks["task_key"] == task_label].iloc[0].to_dict() if len(tasks) else {}


def config_rows(data: ReportData, task_label: str) -> pd.DataFrame:
    """The judge's rows per configuration of the task, indexed by configuration label."""
    configs = data.verdicts.configs
    return configs[configs["task_key"] == task_label].set_index("config")


def _sentences(data: ReportData) -> dict[str, list[str]]:
    key = ("sentences",)
    if key not in data._cache:
        data._cache[key] = dict(task_sentences(data.verdicts))
    return data._cache[key]


def tuning_caveats(data: ReportData, task_label: str) -> list[str]:
    """What the tuning recorded about its own choices (e.g. a value on the edge of its range): ``tune.json``."""
    out = []
    for _label, tuning in data.tuning:
        for choice in tuning.get("choices", []):
            if choice.get("task") == task_label:
                out += [f"Tuning ({choice.get('optimizer')}): {note}" for note in choice.get("warnings", []) or []]
    return out


def task_summary(data: ReportData, task_label: str) -> list[str]:
    """The task section's opening sentences: the judge's verdicts in words, then tuning caveats."""
    return _sentences(data).get(task_label, []) + tuning_caveats(data, task_label)


def _verdict_word(data: ReportData, task_label: str) -> str:
    row = verdict_row(data, task_label)
    verdict, leader = row.get("headline_verdict", "none"), row.get("headline_leader")
    if verdict == "none":
        return "no completed trial"
    if verdict == "alone":
        return f"{leader} (the only configuration)"
    if row.get("headline_winner"):
        return f"{leader} ({verdict.replace('_', ' ')})"
    return f"{leader} leads, not established ({verdict.replace('_', ' ')})"


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
