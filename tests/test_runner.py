"""The runner: grids, determinism, budgets, evaluation cadence, divergence, failures, resume."""

from __future__ import annotations

import pandas as pd
import pytest

import optbench
from optbench.errors import SpecError, UnknownNameError
from optbench.plan import StudySpec
from optbench.plan import plan as plan_spec


def plan(*args, **kwargs):
    kwargs.setdefault("seeds", "0")
    return plan_spec(StudySpec(*args, **kwargs))


def run(*args, **kwargs):
    """optbench.run with one seed unless a test says otherwise (these tests are about mechanics)."""
    kwargs.setdefault("seeds", "0")
    return optbench.run(*args, **kwargs)


def _metrics(path) -> pd.DataFrame:
    return optbench.load(path).metrics


def test_grid_expands_to_the_cartesian_product_with_stable_ids() -> None:
    configs = plan("quadratic,saddle", "sgd[lr=0.1|0.01],adam", "constant,cosine", "1,full", seeds="0-2", steps=5)
    assert len(configs) == 2 * 3 * 2 * 2 * 3
    again = plan("quadratic,saddle", "sgd[lr=0.1|0.01],adam", "constant,cosine", "1,full", seeds="0-2", steps=5)
    assert [c.trial_id for c in configs] == [c.trial_id for c in again]
    assert len({c.trial_id for c in configs}) == len(configs)
    # Aliases and defaults written out resolve to the same trial.
    assert plan("quad", "gd[lr=0.01]", steps=5)[0].trial_id == plan("quadratic", "sgd", steps=5)[0].trial_id


def test_same_config_and_seed_give_identical_numbers(tmp_path) -> None:
    kwargs = dict(tasks="quadratic[noise=1]", optims="adam,momentum", batch_sizes="8", seeds="3", steps=60)
    a = _metrics(run(**kwargs, out=tmp_path / "a").attrs["store"])
    b = _metrics(run(**kwargs, out=tmp_path / "b").attrs["store"])
    cols = ["trial_id", "step", "epoch", "examples", "metric", "value"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))
    other_seed = _metrics(run(**{**kwargs, "seeds": "4"}, out=tmp_path / "c").attrs["store"])
    assert not other_seed["value"].equals(a["value"])


def test_per_step_and_per_epoch_records(tmp_path) -> None:
    trials = run("quadratic[n=64]", "sgd", batch_sizes="16", epochs=3, out=tmp_path / "r")
    row = trials.iloc[0]
    assert row.steps == 12 and row.epochs == 3 and row.examples == 192 and row.status == "completed"
    m = _metrics(trials.attrs["store"])
    steps = m[m.metric == "train_loss"]
    assert list(steps.step) == list(range(1, 13))
    assert list(steps.examples) == [16 * i for i in range(1, 13)]
    assert steps.time.is_monotonic_increasing and steps.time.iloc[-1] == pytest.approx(row.train_time)
    for name in ("lr", "grad_norm", "suboptimality", "dist_to_opt"):
        assert (m.metric == name).sum() >= 12, name
    evals = m[m.metric == "full_loss"]
    assert list(evals.step) == [0, 4, 8, 12]  # at the start and at the end of every epoch
    assert list(m[m.metric == "epoch_train_loss"].epoch) == [1.0, 2.0, 3.0]


def test_eval_every_and_time_budget(tmp_path) -> None:
    trials = run("quadratic", "sgd", steps=25, eval_every=10, out=tmp_path / "e")
    m = _metrics(trials.attrs["store"])
    assert list(m[m.metric == "full_loss"].step) == [0, 10, 20, 25]
    timed = run("quadratic", "sgd", seconds=0.05, out=tmp_path / "t")
    assert timed.iloc[0].status == "completed" and 0 < timed.iloc[0].train_time < 1.0


def test_schedule_sets_the_learning_rate(tmp_path) -> None:
    trials = run("quadratic", "sgd[lr=0.1]", "warmup-linear[warmup=4]", steps=10, out=tmp_path / "s")
    lrs = _metrics(trials.attrs["store"]).query("metric == 'lr'")["value"].tolist()
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert lrs[-1] == pytest.approx(0.1 * (1 - 5 / 6))


def test_divergence_is_recorded_and_the_study_goes_on(tmp_path) -> None:
    trials = run("rosenbrock", "sgd[lr=0.5|0.0001]", steps=200, out=tmp_path / "d")
    by_lr = trials.set_index("lr")
    assert by_lr.loc[0.5, "status"] == "diverged" and 0 < by_lr.loc[0.5, "diverged_step"] < 200
    assert by_lr.loc[0.0001, "status"] == "completed" and by_lr.loc[0.0001, "steps"] == 200


def test_a_crashing_optimizer_is_recorded_as_failed(tmp_path) -> None:
    plugin = tmp_path / "boom.py"
    plugin.write_text(
        "import torch, optbench\n"
        "class Boom(torch.optim.SGD):\n"
        "    def step(self, closure=None):\n"
        "        raise RuntimeError('kaboom')\n"
        "boom = optbench.optimizer('boom', lambda params, lr=0.1: Boom(params, lr=lr), 'always fails')\n"
    )
    trials = run("saddle", "boom,sgd", steps=5, plugins=[plugin], out=tmp_path / "f")
    by_opt = trials.set_index("optimizer")
    assert by_opt.loc["boom", "status"] == "failed" and "RuntimeError: kaboom" in by_opt.loc["boom", "error"]
    assert by_opt.loc["sgd", "status"] == "completed"


def test_rerun_skips_finished_trials(tmp_path) -> None:
    first = run("saddle", "sgd,adam", seeds="0,1", steps=20, out=tmp_path / "r")
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r" / "trials").iterdir()}
    again = run("saddle", "sgd,adam,rmsprop", seeds="0,1", steps=20, out=tmp_path / "r")
    assert len(first) == 4 and len(again) == 6
    for p in (tmp_path / "r" / "trials").iterdir():
        if p.name in stamps:
            assert p.stat().st_mtime_ns == stamps[p.name]  # untouched, not redone
    manifest = optbench.load(tmp_path / "r").manifest
    assert len(manifest["runs"]) == 2 and manifest["runs"][0]["environment"]["torch_threads"] >= 1


def test_default_store_name_is_reused_by_the_same_study(tmp_path) -> None:
    a = run("saddle", "sgd", steps=5, results_dir=tmp_path / "results")
    b = run("saddle", "sgd", steps=5, results_dir=tmp_path / "results")
    assert a.attrs["store"] == b.attrs["store"] and "saddle" in a.attrs["store"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(optims="adamm"), "did you mean 'adam'"),
    (dict(optims="adam[lr=-1]"), "lr must be > 0"),
    (dict(optims="adam[lrr=1]"), "did you mean 'lr'"),
    (dict(optims="adam[lr=1"), "unclosed"),
    (dict(tasks="quadratic[kappa=0.5]"), "kappa"),
    (dict(batch_sizes="0"), "batch size must be >= 1"),
    (dict(batch_sizes="100000"), "exceeds"),
    (dict(schedules="cosin"), "did you mean 'cosine'"),
    (dict(seeds="a"), "seeds"),
])
def test_bad_input_is_a_user_error(kwargs: dict, message: str) -> None:
    args = {"tasks": "quadratic", "optims": "sgd", "steps": 5, **kwargs}
    with pytest.raises((SpecError, UnknownNameError)) as info:
        plan(**args)
    assert message in str(info.value)


def test_diagnosis_from_the_python_api_is_recorded(tmp_path) -> None:
    trials = run("saddle[x0=0,y0=0]", "sgd", steps=5, out=tmp_path / "d", diagnose="",
                          noise_scale="every=2")
    res = optbench.load(trials.attrs["store"])
    assert {"hess_lambda_min", "hess_lambda_max", "grad_noise_scale"} <= set(res.metrics.metric)
    assert res.manifest["runs"][0]["config"]["noise_scale"] == "every=2"
    with pytest.raises(SpecError):
        run("saddle", "sgd", steps=5, out=tmp_path / "e", noise_scale="every=0")


LATE_NAN = (
    "import math, torch, optbench\n"
    "class LateNaN(torch.optim.SGD):\n"
    "    def __init__(self, params, lr=0.01, at=100, crash=0):\n"
    "        super().__init__(params, lr=lr)\n"
    "        self.at, self.crash, self.count = at, crash, 0\n"
    "    def step(self, closure=None):\n"
    "        self.count += 1\n"
    "        if self.crash and self.count >= self.at + self.crash:\n"
    "            raise RuntimeError('crashed after diverging')\n"
    "        super().step(closure)\n"
    "        if self.count >= self.at:\n"
    "            with torch.no_grad():\n"
    "                for group in self.param_groups:\n"
    "                    for p in group['params']:\n"
    "                        p.fill_(math.nan)\n"
    "late = optbench.optimizer('late-nan', LateNaN, 'SGD that turns the weights into NaN after `at` steps')\n"
)


def _first_diverged_step(m: pd.DataFrame, factor: float = 10.0, scale: float = 1.0) -> int | None:
    from optbench.divergence import DivergenceMonitor

    monitor = DivergenceMonitor(factor, scale)
    for step, loss in m[m.metric == "train_loss"][["step", "value"]].itertuples(index=False):
        if monitor.update(int(step), float(loss)) is not None:
            return int(step)
    return None


@pytest.mark.parametrize("at", [5, 100, 130])  # inside the first chunk of read-backs, and past chunk boundaries
def test_a_divergence_found_when_a_chunk_is_read_back_is_recorded_at_its_own_step(tmp_path, at: int) -> None:
    plugin = tmp_path / "late.py"
    plugin.write_text(LATE_NAN)
    trials = run("quadratic", f"late-nan[at={at}]", steps=400, plugins=[plugin], out=tmp_path / "d")
    row = trials.iloc[0]
    m = _metrics(trials.attrs["store"])
    # the loss at step at+1 is the first taken at NaN weights: that is the step, and nothing after it is kept
    assert row.status == "diverged" and row.diverged_step == at + 1 == row.steps
    assert _first_diverged_step(m) == at + 1 and m.step.max() == at + 1
    losses = m[m.metric == "train_loss"]
    assert list(losses.step) == list(range(1, at + 2))
    assert row.train_time == losses.time.iloc[-1] and row.examples == losses.examples.iloc[-1]


def test_a_crash_after_an_unread_divergence_is_recorded_as_the_divergence(tmp_path) -> None:
    plugin = tmp_path / "late.py"
    plugin.write_text(LATE_NAN)
    trials = run("quadratic", "late-nan[at=20,crash=3]", steps=400, plugins=[plugin], out=tmp_path / "c")
    row = trials.iloc[0]
    assert row.status == "diverged" and row.diverged_step == 21 and row.error is None
    assert _metrics(trials.attrs["store"]).step.max() == 21
