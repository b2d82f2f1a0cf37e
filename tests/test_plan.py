"""Planning: every impossible value is refused before any training, with one line (issue cases)."""

from __future__ import annotations

import pytest

import optbench
from optbench.errors import SpecError
from optbench.plan import StudySpec, plan


def _plan(**settings):
    return plan(StudySpec(**{"tasks": "quadratic", "optims": "sgd", "steps": 5, "seeds": "0", **settings}))


@pytest.mark.parametrize("settings,message", [
    (dict(optims="sgd[lr=nan]"), "finite"),
    (dict(optims="adam[lr=inf]"), "finite"),
    (dict(optims="adam[lr=fast]"), "lr must be a number"),
    (dict(optims="adam[betas=0.9/0.98/0.7]"), "adam[betas=0.9/0.98/0.7]"),
    (dict(tasks="saddle[x0=nan]"), "finite"),
    (dict(epochs=float("nan"), steps=None), "finite number > 0"),
    (dict(seconds=float("inf"), steps=None), "finite number > 0"),
    (dict(steps=0), "finite number > 0"),
    (dict(seeds=[-1]), "seeds must be integers"),
    (dict(seeds=[2**70]), "seeds must be integers"),
    (dict(tasks="quadratic[dim=1000000000]"), "GiB"),
    (dict(tasks="quadratic[n=10000000000]"), "GiB"),
    (dict(eval_every=0), "eval_every"),
])
def test_impossible_values_are_refused_at_plan_time(settings: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        _plan(**settings)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_configurations_carry_resolved_defaults_and_code_identity() -> None:
    (config,) = _plan(optims="adam")
    assert config.optimizer_params["eps"] == 1e-8 and config.optimizer_params["lr"] == 1e-3
    assert config.code["optimizer"].startswith("optbench ")
    # a default written out is the same trial as the default left out
    (explicit,) = _plan(optims="adam[eps=1e-8]")
    assert explicit.trial_id == config.trial_id


def test_the_default_study_runs_three_seeds() -> None:
    configs = plan(StudySpec("saddle", "sgd", steps=5))
    assert sorted(c.seed for c in configs) == [0, 1, 2]


def test_the_task_decides_the_evaluation_cadence() -> None:
    class Every(optbench.Task):
        n_train, eval_points = 100, 10

        def init_model(self, seed):
            return optbench.Parameters(__import__("torch").zeros(1))

        def train_batch(self, indices):
            return indices

        def loss(self, model, batch):
            return (model.theta**2).sum()

    registry = optbench.load_registry()
    registry.add(optbench.task("every", Every, "test task"))
    (config,) = plan(StudySpec("every", "sgd", steps=95, seeds="0"), registry)
    assert config.eval_every == 10
