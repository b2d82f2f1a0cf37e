"""The one judge: every verdict optbench states is decided here, from a store's rows and its declarations.

Inputs are plain tables -- a store's trial rows and, when at hand, its long metric rows -- and the
:class:`~optbench.declaration.Declaration` of each task configuration; outputs are tidy frames (one row per
trial, per configuration, per task). The console, the HTML report, ``optbench report --json``, tuning, the
suite's score and page and the Python API (``optbench.load(store).verdicts()``) read these frames, and the
trial summary written into the store is computed by the same functions; nothing else derives a verdict.

The rules, each stated once:

- **Reached the target at step s**: the declared target metric, recorded at step s (so on the evaluation set
  its declaration names), meets the target value in the metric's declared direction; the first such record
  counts (:func:`first_reached`, the only implementation). A trial that diverged or failed never reached it.
- **Steps, time, examples to target**: that record's step, training clock and examples seen; ``inf``
  (shown "never") when it was not reached; NaN when the task declares no target.
- **Final and best value** of the headline metric: its last and its best finite record, for completed
  trials only; below a minimised metric's declared resolution every value equals the resolution.
- **A configuration** is optimizer · schedule · batch size *and the code that ran them*: trials of different
  code never pool; where one label ran under several code versions each is labelled ``@<hash>``.
- **Per configuration**: medians over every seed that gave a result, "never" counted as never (a diverged
  seed never reached the target), with min, max and how many seeds reached it; failed trials (exceptions)
  are errors, not results: counted apart, never in a median.
- **Comparisons**: each configuration against the leader (the best median), by
  :func:`optbench.stats.compare_seeds`: its kind (deterministic, tie, significant, dominates, within noise,
  within sampling error, single seed) and its wording are what every view says. A leader is called the
  *winner* only when that comparison with the runner-up is significant or exact (deterministic).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench import stats
from optbench.declaration import Declaration, Metric, fallback_declaration

NEVER = math.inf
#: comparison kinds under which the leader is named the winner
DECISIVE = ("significant", "deterministic")

TRIAL_COLUMNS = ["trial_id", "task_key", "task_label", "config", "optimizer_label", "seed", "status",
                 "diverged_step", "reason", "reached", "steps_to_target", "time_to_target", "examples_to_target",
                 "headline_final", "headline_best"]


def config_labels(trials: pd.DataFrame, with_store: bool = False) -> pd.Series:
    """``optimizer · schedule · bs=B`` (``store: `` first when comparing stores), plus ``@<hash>`` of the code
    when one such label ran under several code versions: those trials are different configurations."""
    label = (trials["optimizer_label"].astype(str) + " · " + trials["schedule_label"].astype(str)
             + " · bs=" + trials["batch_size"].astype(str))
    if with_store and "store" in trials:
        label = trials["store"].astype(str) + ": " + label
    if "code" not in trials or trials.empty:
        return label
    code = trials["code"].fillna("").astype(str)
    key = trials["task_key"].astype(str) if "task_key" in trials else trials["task_label"].astype(str)
    versions = code.groupby([key, label]).transform("nunique")
    tags = code.map(lambda text: hashlib.sha1(text.encode()).hexdigest()[:6])
    return label.where(versions <= 1, label + " @" + tags)


def first_reached(rows: pd.DataFrame, value: float, direction: str) -> pd.DataFrame:
    """Per trial id: ``step``, ``time`` and ``examples`` of its first row of ``rows`` meeting ``value``.

    ``rows``: records of one metric (columns trial_id, step, time, examples, value). A value meets the target
    when ``>= value`` (direction ``"max"``) or ``<= value`` (``"min"``); NaN never does. Trials that never
    meet it are absent from the result."""
    values = rows["value"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        hit = values >= value if direction == "max" else values <= value
    hits = rows.loc[hit, ["trial_id", "step", "time", "examples"]]
    hits = hits.assign(trial_id=hits["trial_id"].astype(str)).sort_values(["trial_id", "step"], kind="stable")
    return hits.groupby("trial_id", sort=False).first()


def _at_resolution(values: np.ndarray, metric: Metric) -> np.ndarray:
    if metric.resolution > 0 and metric.direction == "min":
        return np.where(np.isnan(values), values, np.maximum(values, metric.resolution))
    return values


def selection_score(trials: pd.DataFrame, column: str, metric: Metric) -> pd.Series:
    """A trial's score in ``column`` (a value of ``metric``) for picking the best of a search: below the
    metric's resolution every value equals it (so such trials tie), and a trial that did not complete, or has
    no finite value, scores the worst possible value."""
    values = pd.to_numeric(trials[column], errors="coerce") if column in trials else pd.Series(np.nan, trials.index)
    values = pd.Series(_at_resolution(values.to_numpy(dtype=float), metric), index=trials.index)
    worst = -math.inf if metric.direction == "max" else math.inf
    return values.where((trials["status"] == "completed") & np.isfinite(values), worst)


def _metric_rows(metrics: pd.DataFrame, names: set[str]) -> pd.DataFrame:
    rows = metrics[metrics["metric"].astype(str).isin(names)]
    rows = rows.assign(trial_id=rows["trial_id"].astype(str), metric=rows["metric"].astype(str))
    return rows.sort_values(["trial_id", "step"], kind="stable")


def _target_columns(part: pd.DataFrame, trials: pd.DataFrame, decl: Declaration,
                    rows: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["steps_to_target", "time_to_target", "examples_to_target"]
    metric = decl.target_metric
    if decl.target is None or metric is None:
        return pd.DataFrame(math.nan, index=part.index, columns=columns)
    if rows is not None:
        hit = first_reached(rows[rows["metric"] == metric.name], decl.target.value, metric.direction)
        found = hit.reindex(part["trial_id"].astype(str))[["step", "time", "examples"]].to_numpy(dtype=float)
        values = pd.DataFrame(found, index=part.index, columns=columns)
    else:
        values = pd.DataFrame({c: pd.to_numeric(trials[c], errors="coerce") if c in trials else math.nan
                               for c in columns}, index=part.index)
    values = values.fillna(NEVER)  # the task has a target: a missing record means it was never met
    values[(part["status"] != "completed").to_numpy()] = NEVER
    return values


def _headline_columns(part: pd.DataFrame, trials: pd.DataFrame, decl: Declaration,
                      rows: pd.DataFrame | None) -> pd.DataFrame:
    metric = decl.headline_metric
    if rows is not None:
        mine = rows[(rows["metric"] == metric.name) & np.isfinite(rows["value"].to_numpy(dtype=float))]
        grouped = mine.groupby("trial_id", sort=False)["value"]
        best = grouped.max() if metric.direction == "max" else grouped.min()
        ids = part["trial_id"].astype(str)
        final = grouped.last().reindex(ids).to_numpy(dtype=float)
        best_values = best.reindex(ids).to_numpy(dtype=float)
    else:
        final = pd.to_numeric(trials.get("headline_final", pd.Series(math.nan, index=part.index)),
                              errors="coerce").to_numpy(dtype=float)
        best_values = pd.to_numeric(trials.get("headline_best", pd.Series(math.nan, index=part.index)),
                                    errors="coerce").to_numpy(dtype=float)
    done = (part["status"] == "completed").to_numpy()
    return pd.DataFrame({"headline_final": np.where(done, _at_resolution(final, metric), math.nan),
                         "headline_best": np.where(done, _at_resolution(best_values, metric), math.nan)},
                        index=part.index)


def _declaration_for(key: str, trials: pd.DataFrame, declarations: dict[str, Declaration]) -> Declaration:
    return declarations.get(key) or fallback_declaration(trials.iloc[0].to_dict())


def trial_verdicts(trials: pd.DataFrame, declarations: dict[str, Declaration], metrics: pd.DataFrame | None = None,
                   with_store: bool = False, config_column: str | None = None) -> pd.DataFrame:
    """One row per trial: status, reached, steps/time/examples to target, final and best headline value.

    With ``metrics`` (the long rows) everything is computed from the records; without, from the columns the
    trial summary stored (computed by this same function when the trial ended). ``config_column``: group
    trials into configurations by that column instead of the label (the suite: one optimizer's chosen
    setting per workload)."""
    if trials.empty:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    trials = trials.copy()
    if "status" not in trials:
        trials["status"] = "completed"
    trials["status"] = trials["status"].fillna("completed").astype(str)
    if "task_key" not in trials:
        trials["task_key"] = trials["task_label"]
    trials["task_key"] = trials["task_key"].astype(str)
    out = trials[["trial_id", "task_key", "task_label", "optimizer_label", "seed", "status"]].copy()
    out["trial_id"] = out["trial_id"].astype(str)
    out["config"] = trials[config_column].astype(str) if config_column else config_labels(trials, with_store)
    out["diverged_step"] = pd.to_numeric(trials.get("diverged_step", pd.Series(math.nan, index=trials.index)),
                                         errors="coerce")
    reasons = [trials[c] if c in trials else pd.Series(None, index=trials.index, dtype=object)
               for c in ("diverged_reason", "error")]
    out["reason"] = reasons[0].where(out["status"] == "diverged", reasons[1]).where(out["status"] != "completed")
    rows = None
    if metrics is not None:
        decls = {k: _declaration_for(k, g, declarations) for k, g in trials.groupby("task_key", sort=False)}
        names = {d.headline for d in decls.values()} | {d.target.metric for d in decls.values() if d.target}
        rows = _metric_rows(metrics, names)
    parts = []
    for key, part in out.groupby("task_key", sort=False):
        decl = _declaration_for(str(key), trials.loc[part.index], declarations)
        mine = None if rows is None else rows[rows["trial_id"].isin(set(part["trial_id"]))]
        parts.append(pd.concat([_target_columns(part, trials.loc[part.index], decl, mine),
                                _headline_columns(part, trials.loc[part.index], decl, mine)], axis=1))
    out = out.join(pd.concat(parts))
    out["reached"] = np.isfinite(out["steps_to_target"].to_numpy(dtype=float))
    return out[TRIAL_COLUMNS].reset_index(drop=True)


def _spread(values: np.ndarray, prefix: str) -> dict[str, float]:
    if values.size == 0:
        return {f"{prefix}_median": math.nan, f"{prefix}_min": math.nan, f"{prefix}_max": math.nan}
    return {f"{prefix}_median": float(np.median(values)), f"{prefix}_min": float(values.min()),
            f"{prefix}_max": float(values.max())}


def _config_row(group: pd.DataFrame) -> dict[str, Any]:
    results = group[group["status"] != "failed"]  # a failed trial is an error, not a result
    done = group[group["status"] == "completed"]
    finals = done["headline_final"].to_numpy(dtype=float)
    finals = finals[np.isfinite(finals)]
    steps = results["steps_to_target"].to_numpy(dtype=float)
    has_target = bool(steps.size) and not np.isnan(steps).all()
    row: dict[str, Any] = {
        "task_key": group["task_key"].iloc[0], "task_label": group["task_label"].iloc[0],
        "config": group["config"].iloc[0], "optimizer_label": group["optimizer_label"].iloc[0],
        "seeds": len(group), "completed": len(done), "diverged": int((group["status"] == "diverged").sum()),
        "failed": int((group["status"] == "failed").sum()), "has_target": has_target,
        "reached": int(np.isfinite(steps).sum()) if has_target else 0, "with_result": len(results),
        **_spread(steps if has_target else np.array([]), "steps"),
        **_spread(results["time_to_target"].to_numpy(dtype=float) if has_target else np.array([]), "time"),
        **_spread(results["examples_to_target"].to_numpy(dtype=float) if has_target else np.array([]), "examples"),
        **_spread(finals, "final"), "final_n": int(finals.size),
    }
    row["final_q25"], row["final_q75"] = (np.quantile(finals, [0.25, 0.75]).tolist() if finals.size
                                          else (math.nan, math.nan))
    best = done["headline_best"].to_numpy(dtype=float)
    best = best[np.isfinite(best)]
    row["best_median"] = float(np.median(best)) if best.size else math.nan
    return row


def config_verdicts(trial_table: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, configuration): seed counts, reached count, medians and ranges over seeds."""
    rows = [_config_row(g) for _, g in trial_table.groupby(["task_key", "config"], sort=False)]
    return pd.DataFrame(rows)


def _samples(trial_table: pd.DataFrame, key: str, column: str, completed_only: bool) -> dict[str, np.ndarray]:
    part = trial_table[trial_table["task_key"] == key]
    part = part[part["status"] == "completed"] if completed_only else part[part["status"] != "failed"]
    out = {}
    for config, group in part.groupby("config", sort=False):
        values = group[column].to_numpy(dtype=float)
        out[str(config)] = values[~np.isnan(values)]
    return out


def _rank(configs: pd.DataFrame, column: str, maximize: bool) -> pd.DataFrame:
    """Configurations with a number in ``column``, best first; ties broken by name (a stated, stable rule)."""
    ranked = configs[configs[column].notna()]
    return ranked.sort_values([column, "config"], ascending=[not maximize, True], kind="stable")


def _compare_all(ranked: pd.DataFrame, samples: dict[str, np.ndarray], metric: Metric,
                 maximize: bool) -> list[stats.Comparison]:
    leader = str(ranked["config"].iloc[0])
    proportion = metric.examples is not None
    return [stats.compare_seeds(samples[leader], samples[str(config)], maximize=maximize,
                                resolution=metric.resolution, eval_examples=metric.examples,
                                proportion=proportion) for config in ranked["config"].iloc[1:]]


def _question(configs: pd.DataFrame, trial_table: pd.DataFrame, key: str, question: str,
              metric: Metric) -> dict[str, Any]:
    """Leader, runner-up and their comparison for ``question`` ("headline" or "target")."""
    if question == "headline":
        ranked = _rank(configs[configs["final_n"] > 0], "final_median", metric.direction == "max")
        samples, maximize = _samples(trial_table, key, "headline_final", True), metric.direction == "max"
    else:
        ranked = configs[configs["has_target"] & (configs["with_result"] > 0)]
        ranked = ranked.sort_values(["steps_median", "time_median", "config"], kind="stable")
        if ranked.empty or not math.isfinite(float(ranked["steps_median"].iloc[0])):
            ranked = ranked.iloc[:0]  # nobody's median seed reached the target: no leader
        samples, maximize = _samples(trial_table, key, "steps_to_target", False), False
        metric = Metric("steps_to_target", "min", "steps to target")
    out: dict[str, Any] = {f"{question}_leader": None, f"{question}_runner_up": None,
                           f"{question}_verdict": "none", f"{question}_winner": None, f"{question}_text": "",
                           f"{question}_p_value": math.nan}
    if ranked.empty:
        return out
    out[f"{question}_leader"] = str(ranked["config"].iloc[0])
    if len(ranked) == 1:
        out[f"{question}_verdict"] = "alone"
        return out
    comparisons = _compare_all(ranked, samples, metric, maximize)
    first = comparisons[0]
    runner = str(ranked["config"].iloc[1])
    out.update({f"{question}_runner_up": runner, f"{question}_verdict": first.kind,
                f"{question}_text": first.describe(out[f"{question}_leader"], runner),
                f"{question}_p_value": first.p_value,
                f"{question}_winner": out[f"{question}_leader"] if first.kind in DECISIVE else None})
    out[f"{question}_vs_leader"] = {str(c): cmp.kind for c, cmp in zip(ranked["config"].iloc[1:], comparisons,
                                                                      strict=True)}
    return out


def task_verdicts(trial_table: pd.DataFrame, config_table: pd.DataFrame,
                  declarations: dict[str, Declaration]) -> pd.DataFrame:
    """One row per task: the headline leader, runner-up, verdict and wording; the same for steps to target."""
    rows = []
    for key, configs in config_table.groupby("task_key", sort=False):
        decl = declarations.get(str(key)) or fallback_declaration(
            trial_table[trial_table["task_key"] == key].iloc[0].to_dict())
        head = decl.headline_metric
        row: dict[str, Any] = {"task_key": key, "task_label": configs["task_label"].iloc[0],
                               "headline": head.name, "direction": head.direction,
                               "target": None if decl.target is None else decl.target.description,
                               "configs": len(configs)}
        row.update(_question(configs, trial_table, str(key), "headline", head))
        if decl.target is not None:
            row.update(_question(configs, trial_table, str(key), "target", head))
        rows.append(row)
    frame = pd.DataFrame(rows)
    text = [c for c in frame if c.endswith(("_leader", "_runner_up", "_winner", "_verdict", "_text"))]
    frame[text] = frame[text].astype(object).where(frame[text].notna(), None)  # None, never a truthy NaN
    return frame


def _vs_leader(tasks: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    """Each configuration's comparison with its task's leader (``leader`` for the leader itself)."""
    configs = configs.copy()
    for question in ("headline", "target"):
        kinds = []
        for row in configs.itertuples():
            task = tasks[tasks["task_key"] == row.task_key].iloc[0]
            leader = task.get(f"{question}_leader")
            versus = task.get(f"{question}_vs_leader")
            if leader is None or (isinstance(leader, float) and math.isnan(leader)):
                kinds.append(None)
            elif row.config == leader:
                kinds.append("leader")
            else:
                kinds.append(versus.get(row.config) if isinstance(versus, dict) else None)
        configs[f"{question}_vs_leader"] = kinds
    return configs


@dataclass
class Verdicts:
    """The judge's tables for a set of trials, and the declarations they were judged by."""

    trials: pd.DataFrame
    configs: pd.DataFrame
    tasks: pd.DataFrame
    declarations: dict[str, Declaration] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The three tables as records (``inf`` spelled "never", NaN as null) and the declarations."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            frame = frame.drop(columns=[c for c in frame if c.endswith("_vs_leader")], errors="ignore") \
                if frame is self.tasks else frame
            numeric = frame.select_dtypes("number").columns
            frame = frame.astype({c: object for c in numeric})
            frame[numeric] = frame[numeric].map(lambda v: "never" if v == math.inf else v)
            return json.loads(frame.to_json(orient="records", double_precision=15))
        return {"trials": records(self.trials), "configs": records(self.configs), "tasks": records(self.tasks),
                "declarations": {k: d.to_json() for k, d in self.declarations.items()}}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, default=str))


def declarations_by_label(trials: pd.DataFrame, declarations: dict[str, Declaration]) -> dict[str, Declaration]:
    """One declaration per task label: a task is what its label names, whatever code version ran it (the
    versions are told apart as configurations); a store without declarations gets the rows' fallback."""
    out: dict[str, Declaration] = {}
    for label, group in trials.groupby("task_label", sort=False):
        keys = group["task_key"].dropna().astype(str).unique() if "task_key" in group else []
        known = [declarations[k] for k in keys if k in declarations]
        out[str(label)] = known[0] if known else fallback_declaration(group.iloc[0].to_dict())
    return out


def judge(trials: pd.DataFrame, declarations: dict[str, Declaration], metrics: pd.DataFrame | None = None,
          with_store: bool = False, config_column: str | None = None) -> Verdicts:
    """Every verdict on ``trials``: per trial, per configuration, per task (see the module's rules).

    ``declarations`` are by task key, as the store keeps them; verdicts are per task *label* (tasks keyed
    by their label in every table), so an edited task plugin's trials are one task in two configurations."""
    if not trials.empty:
        declarations = declarations_by_label(trials, declarations)
        trials = trials.assign(task_key=trials["task_label"].astype(str))
    trial_table = trial_verdicts(trials, declarations, metrics, with_store, config_column)
    config_table = config_verdicts(trial_table)
    task_table = task_verdicts(trial_table, config_table, declarations) if not config_table.empty \
        else pd.DataFrame()
    if not task_table.empty:
        config_table = _vs_leader(task_table, config_table)
    return Verdicts(trial_table, config_table, task_table, declarations)


def count_text(value: float, unit: str = "") -> str:
    """A step/example count or a time in words: "never", "—" (no number), else the number with its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "never"
    if value == 0 and unit == "step":
        return "at the start (step 0)"
    number = f"{int(round(value)):d}" if unit != "s" else f"{value:.3g}"
    if unit in ("step", "example"):
        return f"{number} {unit}{'' if number == '1' else 's'}"
    return f"{number} {unit}".strip()


def to_target_text(row: Any, unit: str = "step") -> str:
    """A configuration's steps to target: ``median [min, max], k/n reached``, or why there is none."""
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    if not get("has_target"):
        return "no target"
    prefix = {"step": "steps", "s": "time", "example": "examples"}[unit]
    n, reached = int(get("with_result")), int(get("reached"))
    median, low, high = (float(get(f"{prefix}_{s}")) for s in ("median", "min", "max"))
    spread = "" if n < 2 or low == high else f" [{count_text(low, '')}, {count_text(high, '')}]"
    return f"{count_text(median, unit)}{spread}, {reached}/{n} reached"


def _better(direction: str) -> str:
    return "higher" if direction == "max" else "lower"


def _headline_sentence(task: Any, decl: Declaration, configs: pd.DataFrame) -> str:
    metric = decl.headline_metric
    lead = f"On {metric.label} ({_better(metric.direction)} is better"
    lead += f"; {metric.evaluated_on})" if metric.evaluated_on else ")"
    verdict, leader = task["headline_verdict"], task["headline_leader"]
    if verdict == "none":
        return f"{lead}, no trial completed: there is no result to rank."
    if verdict == "alone":
        row = configs[configs["config"] == leader].iloc[0]
        return f"{lead}, only {leader} completed ({row['final_median']:.4g}): nothing to compare it with."
    tied = [c for c, kind in (task.get("headline_vs_leader") or {}).items() if kind == "tie"]
    if tied:
        return f"{lead}, a tie: {', '.join([leader, *tied])} — {task['headline_text']}."
    claim = f"{task['headline_winner']} wins: " if task["headline_winner"] else "no winner is claimed: "
    return f"{lead}, {claim}{task['headline_text']}."


def _target_sentence(task: Any, decl: Declaration, configs: pd.DataFrame) -> str | None:
    if decl.target is None:
        return None
    what = f"the target ({decl.target.description or decl.target.metric})"
    verdict, leader = task.get("target_verdict", "none"), task.get("target_leader")
    if verdict == "none":
        return f"No configuration's median seed reached {what} within its budget."
    mine = configs.set_index("config")
    first = f"{leader} reached {what} first: {to_target_text(mine.loc[leader].to_dict())}"
    if verdict == "alone":
        return first + "."
    runner = task["target_runner_up"]
    return (f"{first}; the runner-up {runner}: {to_target_text(mine.loc[runner].to_dict())}; "
            f"{task['target_text']}.")


def _failure_sentence(trial_table: pd.DataFrame) -> str:
    parts = []
    for status in ("diverged", "failed"):
        bad = trial_table[trial_table["status"] == status]
        for config, group in bad.groupby("config", sort=True):
            total = int((trial_table["config"] == config).sum())
            steps = group["diverged_step"].dropna().astype(int)
            where = "" if status == "failed" or steps.empty else (
                f" at step {steps.min()}" if steps.min() == steps.max() else f" at steps {steps.min()}–{steps.max()}")
            reason = group["reason"].dropna()
            why = f" ({reason.iloc[0]})" if len(reason) else ""
            parts.append(f"{config} {status} in {len(group)} of {total} seeds{where}{why}")
    if not parts:
        return "No trial diverged or failed."
    return ("Diverged seeds count as never reaching the target; failed trials are errors, in no median: "
            + "; ".join(parts) + ".")


def task_sentences(verdicts: Verdicts) -> list[tuple[str, list[str]]]:
    """Per task label, the verdicts in words: the headline comparison, steps to target, failures."""
    out = []
    for task in verdicts.tasks.to_dict("records"):
        key = task["task_key"]
        decl = verdicts.declarations.get(key) or fallback_declaration(
            {"task_label": task["task_label"], "headline_metric": task["headline"],
             "headline_direction": task["direction"]})
        configs = verdicts.configs[verdicts.configs["task_key"] == key]
        sentences = [_headline_sentence(task, decl, configs)]
        target = _target_sentence(task, decl, configs)
        if target:
            sentences.append(target)
        sentences.append(_failure_sentence(verdicts.trials[verdicts.trials["task_key"] == key]))
        out.append((str(task["task_label"]), sentences))
    return out


def vs_leader_words(kind: Any, winner: Any) -> str:
    """A configuration's standing against its task's leader, in words (tables of the report and console)."""
    if kind == "leader":
        return "winner" if winner else "leader, not established"
    return {"tie": "tie with the leader", "significant": "behind the leader (beyond seed noise)",
            "deterministic": "behind the leader (every seed the same)", "dominates": "behind on every seed, not "
            "established", "within_noise": "within seed noise of the leader", "within_sampling_error":
            "within the evaluation set's sampling error", "single_seed": "one seed: not compared"}.get(
        str(kind), "not compared")
