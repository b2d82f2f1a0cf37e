"""Divergence: the rules of optbench.divergence, and the cases a researcher calls diverged (or not), end to end."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

import optbench
from optbench.divergence import RUNAWAY_STEPS, DivergenceMonitor
from optbench.registry import load_registry
from optbench.tasks.phoneme import corpus as C
from optbench.tasks.phoneme.data import ENV_VAR


def verdict(losses: list[float], **kw: float) -> tuple[int | None, str | None]:
    """(step, reason) the monitor gives a loss sequence: at a step, at the end (step None) or never."""
    monitor = DivergenceMonitor(**kw)
    for step, loss in enumerate(losses, start=1):
        if monitor.update(step, loss) is not None:
            return step, monitor.reason
    return None, monitor.at_end()


def test_non_finite_loss_diverges_at_that_step() -> None:
    monitor = DivergenceMonitor()
    assert monitor.update(1, 3.0) is None
    assert "nan at step 2" in monitor.update(2, math.nan)


def test_a_runaway_must_hold_its_smoothed_loss_above_the_bound_for_three_steps() -> None:
    # one noisy minibatch 10x the bound (2 + 100·2 = 202) lifts the average above it for one step only
    assert verdict([2.0, 2.0, 2020.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == (None, None)
    step, reason = verdict([2.0, 2.0, 5e3, 5e3, 5e3, 5e3])  # bound 2 + 100·2 = 202
    assert step == 2 + RUNAWAY_STEPS and "above 202" in reason and "for 3 steps" in reason


def test_a_start_at_zero_uses_the_declared_loss_scale() -> None:
    wobble = [1e-3 * (step % 7) for step in range(50)]  # a wobble around a zero start: not divergence
    assert verdict(wobble, loss_scale=1.0) == (None, None)
    assert verdict([0.0] + [2e3] * 10, loss_scale=1.0)[0] == 1 + RUNAWAY_STEPS  # above 0 + 100·1


def test_a_small_loss_is_watched_at_its_own_size() -> None:
    """loss₀ = 1e-3 and nothing declared: the old floor of 1 saw a blow-up only at ~10,000x its start."""
    for rate in (1.1, 1.44, 3.0):
        losses = [1e-3 * rate**k for k in range(200) if rate**k < 1e6]
        crossed = next(step for step, loss in enumerate(losses, start=1) if loss > 100 * losses[0])
        step, _ = verdict(losses)
        assert step is not None and crossed < step <= crossed + 10, (rate, crossed, step)


def test_ending_above_the_start_is_divergence_but_minibatch_noise_is_not() -> None:
    step, reason = verdict([3.4, 4.0, 6.0, 9.0, 15.0] + [15.0] * 30)
    assert step is None and "ended above its start" in reason
    rng = random.Random(0)
    for _ in range(100):  # a flat noisy loss ends where it started (the task declares the loss's size)
        assert verdict([max(0.0, rng.gauss(4.0, 2.0)) for _ in range(300)], loss_scale=4.0) == (None, None)
        assert verdict([rng.expovariate(0.25) for _ in range(300)], loss_scale=4.0) == (None, None)


def test_a_loss_growing_every_step_at_the_end_is_divergence_even_below_its_start() -> None:
    losses = [1.0 * 0.8**k + 0.1 for k in range(40)] + [0.1 * 1.02**k for k in range(60)]
    step, reason = verdict(losses)
    assert step is None and "growing at the end" in reason
    assert verdict(losses[:60]) == (None, None)  # a rise of 20 steps, 0.1 → 0.15: under 10 % of the scale


KAPPA = 1000.0
HEAVY_BALL = f"momentum[lr={4 / (1 + KAPPA**-0.5) ** 2:.6g},momentum={((KAPPA**0.5 - 1) / (KAPPA**0.5 + 1)) ** 2:.6g}]"


def test_heavy_ball_at_its_optimal_parameters_is_a_transient_not_a_divergence(tmp_path: Path) -> None:
    """lr = 4/(√L+√μ)², β = ((√κ−1)/(√κ+1))² on κ = 1000: the loss peaks at 8–47x its start (seeds 0–2),
    was called diverged at step 9–10, and converges."""
    trials = optbench.run(f"quadratic[kappa={KAPPA:g},noise=0]", HEAVY_BALL, seeds="0-2", steps=400, threads=1,
                          out=tmp_path / "s")
    assert list(trials["status"]) == ["completed"] * 3, trials[["seed", "diverged_reason"]]
    assert (trials["final_suboptimality"] < 1e-10).all()


@pytest.mark.parametrize("task,optim,steps,seeds", [
    ("quadratic[kappa=100,noise=0]", "sgd[lr=2.2]", 100, "0-2"),    # lr = 2.2/L: ×1.44 a step
    ("quadratic[kappa=100,noise=0]", "sgd[lr=2.01]", 100, "1"),     # 5.145 → 6.27, was "completed"
    ("quadratic[kappa=10,noise=0]", "momentum[lr=3.8]", 300, "0"),  # edge of stability: 3.4 → 15
    ("quadratic", "adam[lr=1e6]", 50, "0"),                          # 3.6 → 929
    ("rosenbrock", "radam[lr=0.01]", 200, "0"),                      # → 2.6e70
])
def test_the_reported_cases_are_diverged_and_excluded(tmp_path: Path, task: str, optim: str, steps: int,
                                                      seeds: str) -> None:
    trials = optbench.run(task, optim, seeds=seeds, steps=steps, threads=1, out=tmp_path / "s")
    assert set(trials["status"]) == {"diverged"}, trials[["seed", "status"]]
    assert (trials["diverged_step"] >= 1).all() and trials["diverged_reason"].map(bool).all()


def test_a_converging_run_is_completed(tmp_path: Path) -> None:
    trials = optbench.run("quadratic[kappa=10,noise=0]", "momentum[lr=0.5]", seeds="0", steps=300, threads=1,
                          out=tmp_path / "s")
    assert trials.iloc[0].status == "completed"


class SmallBowl(optbench.Task):
    """½·h·θ² with θ₀ = 1 and h = 2e-3: the training loss starts at 1e-3 (declares no loss scale)."""

    n_train = 1

    def init_model(self, seed: int) -> torch.nn.Module:
        return optbench.Parameters(torch.ones(1, dtype=torch.float64))

    def train_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return indices

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return 1e-3 * (model.theta**2).sum()


def test_a_task_whose_loss_starts_at_1e_3_flags_within_10_steps_of_100x(tmp_path: Path) -> None:
    registry = load_registry()
    registry.add(optbench.task("small-bowl", SmallBowl, "loss₀ = 1e-3"))
    trials = optbench.run("small-bowl", "sgd[lr=1100]", seeds="0", steps=200, threads=1, out=tmp_path / "s",
                          registry=registry)  # lr·h = 2.2: the loss grows ×1.44 a step
    row = trials.iloc[0]
    crossed = math.ceil(math.log(100) / math.log(1.2**2)) + 1  # the first step whose loss exceeds 100x loss₀
    assert row.status == "diverged" and crossed < row.diverged_step <= crossed + 10, row.diverged_reason


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return C.generate(tmp_path_factory.mktemp("phoneme") / "corpus", C.CorpusSettings(utterances=40, seed=1))


def test_phoneme_with_tiny_batches_has_no_false_positive(small_corpus: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch sizes 1–4: a single frame's cross-entropy is noisy; only the real blow-up is diverged."""
    monkeypatch.setenv(ENV_VAR, str(small_corpus))
    threads = torch.get_num_threads()
    try:
        trials = optbench.run("phoneme[preset=simple,hidden=64]", "adam,adam[lr=0.01],sgd[lr=0.1],adam[lr=1e6]",
                              batch_sizes="1,2,3,4", seeds="0-1", steps=300, threads=1, out=tmp_path / "s")
    finally:
        torch.set_num_threads(threads)
    blown = trials["optimizer_params"].str.contains('"lr":1000000')
    assert set(trials.loc[~blown, "status"]) == {"completed"}, trials.loc[~blown, ["optimizer", "diverged_reason"]]
    assert set(trials.loc[blown, "status"]) == {"diverged"}
