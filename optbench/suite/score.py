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


def median_steps(trials: pd.DataFrame, column: str = "steps") -> pd.DataFrame:
    """Optimizer × workload table of the judge's median steps (or ``column``) to target over seeds (∞: never)."""
    status = trials["status"] if "status" in trials else "completed"
    frame = trials.assign(status=status, task_key=trials["workload"], config=trials["optimizer"],
                          optimizer_label=trials["optimizer"], task_label=trials["workload"],
                          steps_to_target=trials[column], time_to_target=trials[column],
                          examples_to_target=math.nan, headline_final=math.nan, headline_best=math.nan)
    configs = config_verdicts(frame)
    return configs.pivot_table(index="optimizer_label", columns="task_key", values="steps_median",
                               aggfunc="first").rename_axis(index="optimizer", columns="workload")


def performance_ratios(steps: pd.DataFrame, reference: pd.Series | None = None) -> pd.DataFrame:
    """r(s, w) = max(t, 1) / max(best_w, 1); ∞ when t is ∞ or nobody reached w (``reference``: best_w)."""
    best = steps.min(axis=0) if reference is None else reference.reindex(steps.columns)
    ratios = np.maximum(steps.astype(float), 1.0) / np.maximum(best.astype(float), 1.0)
    return ratios.where(np.isfinite(steps.astype(float)) & np.isfinite(best.astype(float)), math.inf)


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


def seed_scores(trials: pd.DataFrame, reference: pd.Series, tau_max: float) -> pd.DataFrame:
    """Score per optimizer from each seed index alone (the k-th seed on every workload), against ``reference``."""
    ranked = trials.assign(k=trials.sort_values("seed").groupby(["optimizer", "workload"]).cumcount())
    columns = {}
    for k, part in ranked.groupby("k"):
        steps = part.pivot_table(index="optimizer", columns="workload", values="steps", aggfunc="first")
        steps = steps.reindex(columns=reference.index, fill_value=math.inf).fillna(math.inf)
        columns[int(k)] = profile_area(performance_ratios(steps, reference), tau_max)
    return pd.DataFrame(columns)


def score_table(trials: pd.DataFrame, tau_max: float = 4.0) -> pd.DataFrame:
    """Per optimizer: score, seed spread (min/max), workloads whose target it reached, rank (1 = best).

    ``trials``: one row per final trial with columns optimizer, workload, seed and steps (∞: not reached).
    """
    if trials.empty:
        return pd.DataFrame(columns=["optimizer", "score", "score_min", "score_max", "reached", "workloads",
                                     "rank"])
    medians = median_steps(trials)
    medians = medians.reindex(columns=sorted(trials["workload"].unique())).fillna(math.inf)
    reference = medians.min(axis=0)
    scores = profile_area(performance_ratios(medians, reference), tau_max)
    spread = seed_scores(trials, reference, tau_max).reindex(scores.index)
    table = pd.DataFrame({"optimizer": scores.index, "score": scores.to_numpy(),
                          "score_min": spread.min(axis=1).to_numpy(), "score_max": spread.max(axis=1).to_numpy(),
                          "reached": np.isfinite(medians.to_numpy()).sum(axis=1),
                          "workloads": medians.shape[1]})
    table = table.sort_values(["score", "reached", "optimizer"], ascending=[False, False, True])
    table["rank"] = table["score"].rank(method="min", ascending=False).astype(int)
    return table.reset_index(drop=True)
