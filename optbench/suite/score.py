"""The suite's score, as pure functions: AlgoPerf-style performance profiles over steps to target.

For workload w and optimizer s, t(s, w) is the judge's median over s's final seeds of the steps it took to
reach w's target (:func:`optbench.judge.config_verdicts`: ∞ when it never did; a diverged trial never
reaches a target, so it counts as ∞; a failed trial is an error, not a result, and is left out).
The performance ratio is r(s, w) = t(s, w) / min over s' of t(s', w), and the performance profile
ρ_s(τ) is the fraction of workloads with r(s, w) ≤ τ. The score is the area under ρ_s from τ = 1 to
τ_max, divided by τ_max − 1: 1 means fastest on every workload, 0 means never within τ_max of the
fastest (or never reaching the target). Since ρ_s is a step function the area is exact:
(1/W) Σ_w clip(τ_max − max(r, 1), 0, τ_max − 1) / (τ_max − 1).

The seeds' spread: the same score with t(s, w) taken from s's k-th seed alone (k = 1..S, each against
the median-based fastest), reported as the lowest and highest of those S scores.

Steps are counted from 1 (a target met at the first recorded step 0 counts as 1) so ratios are defined.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from optbench.judge import config_verdicts

#: the smallest t(s, w) a ratio divides by, per measure: a target met at step 0 counts as step 1; times are
#: floored at a millisecond (the training clock's resolution on a loaded machine is no finer)
FLOORS = {"steps": 1.0, "time_to_target": 1e-3}


def median_steps(trials: pd.DataFrame, column: str = "steps") -> pd.DataFrame:
    """Optimizer × workload table of the judge's median steps (or ``column``) to target over seeds (∞: never)."""
    spread = seed_spread(trials, column)
    return spread.pivot_table(index="optimizer", columns="workload", values="steps_median",
                              aggfunc="first").rename_axis(index="optimizer", columns="workload")


def seed_spread(trials: pd.DataFrame, column: str = "steps") -> pd.DataFrame:
    """Per optimizer and workload, from the judge: median, min and max of ``column`` over the seeds with a
    result, how many seeds, and how many diverged (what the page's steps-to-target table shows)."""
    status = trials["status"] if "status" in trials else "completed"
    frame = trials.assign(status=status, task_key=trials["workload"], config=trials["optimizer"],
                          optimizer_label=trials["optimizer"], task_label=trials["workload"],
                          steps_to_target=trials[column], time_to_target=trials[column],
                          examples_to_target=math.nan, headline_final=math.nan, headline_best=math.nan)
    configs = config_verdicts(frame)
    return configs.rename(columns={"optimizer_label": "optimizer", "task_key": "workload"})[
        ["optimizer", "workload", "steps_median", "steps_min", "steps_max", "seeds", "diverged", "failed"]]


def performance_ratios(steps: pd.DataFrame, reference: pd.Series | None = None, floor: float = 1.0) -> pd.DataFrame:
    """r(s, w) = max(t, floor) / max(best_w, floor); ∞ when t is ∞ or nobody reached w (``reference``: best_w)."""
    best = steps.min(axis=0) if reference is None else reference.reindex(steps.columns)
    ratios = np.maximum(steps.astype(float), floor) / np.maximum(best.astype(float), floor)
    return ratios.where(np.isfinite(steps.astype(float)) & np.isfinite(best.astype(float)), math.inf)


def fastest_medians(trials: pd.DataFrame, column: str = "steps") -> pd.DataFrame:
    """Optimizer × workload medians of ``column`` over every workload of ``trials`` (∞ where never reached)."""
    medians = median_steps(trials, column)
    return medians.reindex(columns=sorted(trials["workload"].unique())).fillna(math.inf)


def profile(ratios: pd.DataFrame, taus: np.ndarray) -> pd.DataFrame:
    """ρ_s(τ): the fraction of workloads with r(s, w) ≤ τ, one column per τ."""
    values = ratios.to_numpy(dtype=float)
    fractions = [(values <= tau).mean(axis=1) for tau in taus]
    return pd.DataFrame(np.column_stack(fractions), index=ratios.index, columns=list(taus))


def profile_area(ratios: pd.DataFrame, tau_max: float = 4.0) -> pd.Series:
    """Area under ρ_s from τ = 1 to ``tau_max``, normalised to [0, 1] (exact for the step function)."""
    if tau_max <= 1:
        raise ValueError(f"tau_max must be > 1, got {tau_max}")
    span = tau_max - 1.0
    covered = np.clip(tau_max - np.maximum(ratios.to_numpy(dtype=float), 1.0), 0.0, span) / span
    return pd.Series(covered.mean(axis=1), index=ratios.index, name="score")


def seed_scores(trials: pd.DataFrame, reference: pd.Series, tau_max: float, column: str = "steps") -> pd.DataFrame:
    """Score per optimizer from each seed index alone (the k-th seed on every workload), against ``reference``."""
    ranked = trials.assign(k=trials.sort_values("seed").groupby(["optimizer", "workload"]).cumcount())
    columns = {}
    for k, part in ranked.groupby("k"):
        steps = part.pivot_table(index="optimizer", columns="workload", values=column, aggfunc="first")
        steps = steps.reindex(columns=reference.index, fill_value=math.inf).fillna(math.inf)
        columns[int(k)] = profile_area(performance_ratios(steps, reference, FLOORS[column]), tau_max)
    return pd.DataFrame(columns)


def score_table(trials: pd.DataFrame, tau_max: float = 4.0, column: str = "steps",
                reference: pd.Series | None = None) -> pd.DataFrame:
    """Per optimizer: score, seed spread (min/max), workloads whose target it reached, rank (1 = best).

    ``trials``: one row per final trial with columns optimizer, workload, seed and ``column`` (``steps`` or
    ``time_to_target``; ∞: not reached). ``reference``: the fastest median per workload to divide by (default:
    the fastest of ``trials``; the as-given track is measured against the tuned optimizers too).
    """
    if trials.empty:
        return pd.DataFrame(columns=["optimizer", "score", "score_min", "score_max", "reached", "workloads",
                                     "rank"])
    medians = fastest_medians(trials, column)
    best = medians.min(axis=0)
    reference = best if reference is None else np.minimum(best, reference.reindex(best.index).fillna(math.inf))
    scores = profile_area(performance_ratios(medians, reference, FLOORS[column]), tau_max)
    spread = seed_scores(trials, reference, tau_max, column).reindex(scores.index)
    table = pd.DataFrame({"optimizer": scores.index, "score": scores.to_numpy(),
                          "score_min": spread.min(axis=1).to_numpy(), "score_max": spread.max(axis=1).to_numpy(),
                          "reached": np.isfinite(medians.to_numpy()).sum(axis=1),
                          "workloads": medians.shape[1]})
    table = table.sort_values(["score", "reached", "optimizer"], ascending=[False, False, True])
    table["rank"] = table["score"].rank(method="min", ascending=False).astype(int)
    return table.reset_index(drop=True)
