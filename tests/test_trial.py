"""A trial's identity: the code and the resolved defaults are part of it; --force reruns; failures retry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import optbench
from optbench.store import Store
from optbench.tasks.base import Budget
from optbench.trial import TrialConfig

PLUGIN = """
import torch, optbench

class Scaled(torch.optim.SGD):
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data.add_(p.grad, alpha=-group["lr"] * {factor})

scaled = optbench.optimizer("scaled", lambda params, lr=0.1: Scaled(params, lr=lr), "sgd scaled by a factor")
"""


def _write(path: Path, factor: float) -> Path:
    path.write_text(PLUGIN.format(factor=factor))
    return path


def test_editing_a_plugin_changes_the_trial_and_the_new_numbers_appear(tmp_path) -> None:
    plugin = _write(tmp_path / "scaled.py", 1.0)
    kwargs = dict(seeds="0", steps=20, threads=1, plugins=[plugin], out=tmp_path / "s")
    first = optbench.run("quadratic[noise=0]", "scaled", **kwargs)
    _write(plugin, 0.5)
    second = optbench.run("quadratic[noise=0]", "scaled", **kwargs)
    assert first.iloc[0].trial_id != second.iloc[0].trial_id
    assert second.iloc[0].final_suboptimality > first.iloc[0].final_suboptimality  # half the step: slower


def test_force_reruns_and_failed_trials_are_retried(tmp_path) -> None:
    store = tmp_path / "s"
    optbench.run("saddle", "sgd", seeds="0", steps=5, out=store)
    trial_file = next((store / "trials").iterdir())
    stamp = trial_file.stat().st_mtime_ns
    optbench.run("saddle", "sgd", seeds="0", steps=5, out=store)
    assert trial_file.stat().st_mtime_ns == stamp
    optbench.run("saddle", "sgd", seeds="0", steps=5, out=store, force=True)
    assert trial_file.stat().st_mtime_ns != stamp

    plugin = tmp_path / "flaky.py"
    plugin.write_text("import torch, optbench, os\n"
                      "class Flaky(torch.optim.SGD):\n"
                      "    def step(self, closure=None):\n"
                      "        if os.environ.get('FLAKY') == '1':\n"
                      "            raise RuntimeError('flaky')\n"
                      "        return super().step(closure)\n"
                      "flaky = optbench.optimizer('flaky', lambda params, lr=0.01: Flaky(params, lr=lr), 'once')\n")
    import os

    os.environ["FLAKY"] = "1"
    try:
        failed = optbench.run("saddle", "flaky", seeds="0", steps=5, plugins=[plugin], out=tmp_path / "f")
    finally:
        del os.environ["FLAKY"]
    assert failed.iloc[0].status == "failed"
    retried = optbench.run("saddle", "flaky", seeds="0", steps=5, plugins=[plugin], out=tmp_path / "f")
    assert retried.iloc[0].status == "completed"


def test_a_stored_row_rebuilds_its_configuration(tmp_path) -> None:
    trials = optbench.run("quadratic[kappa=10]", "adam[betas=0.8/0.9]", "cosine", "8", seeds="1", steps=7,
                          out=tmp_path / "s")
    row = trials.iloc[0].to_dict()
    assert TrialConfig.from_row(row).trial_id == row["trial_id"]


BUDGETS = {  # every form a budget takes: steps, epochs as int and float, seconds as int and float, mixed
    "steps": dict(steps=7), "steps-float": dict(steps=7.0), "epochs-int": dict(epochs=1),
    "epochs-float": dict(epochs=1.0), "epochs-fraction": dict(epochs=0.25), "seconds-int": dict(seconds=30),
    "seconds-float": dict(seconds=2.5), "all": dict(steps=3, epochs=2, seconds=60),
}


def _builtin_task_configs(budget: Budget) -> list[TrialConfig]:
    from optbench.registry import load_registry

    registry = load_registry(plugin_dir=None, entry_points=False)
    adam, constant = registry.get("optimizer", "adam"), registry.get("schedule", "constant")
    return [TrialConfig(task=entry.name, task_params=entry.resolved({}), task_label=entry.name,
                        optimizer="adam", optimizer_params=adam.resolved({}), optimizer_label="adam",
                        schedule="constant", schedule_params=constant.resolved({}), schedule_label="constant",
                        batch_size="full" if entry.name == "quadratic" else 16, seed=0, budget=budget,
                        eval_every=5, data_source="/data/corpus" if entry.name == "phoneme" else None,
                        code={"optimizer": adam.code_version, "task": entry.code_version})
            for entry in registry.list("task")]


def test_every_builtin_task_and_budget_form_reads_back_to_its_own_id(tmp_path: Path) -> None:
    """A trial written to the store and read back hashes to the id it was stored under (diagnose, predict)."""
    configs = [c for form in BUDGETS.values() for c in _builtin_task_configs(Budget(**form))]
    assert {c.task for c in configs} >= {"quadratic", "rosenbrock", "logistic", "phoneme"}
    metrics = pd.DataFrame(columns=["trial_id", "step", "metric", "value"])
    with Store(tmp_path / "s").create() as store:  # one store: rows with and without each budget column
        for config in configs:
            store.write_trial({**config.config_columns(), "status": "completed"}, metrics)
    rows = Store(tmp_path / "s").read_trials().to_dict("records")
    assert len(rows) == len({c.trial_id for c in configs})
    for row in rows:
        assert TrialConfig.from_row(row).trial_id == row["trial_id"], row["task"]


def test_int_and_float_forms_of_a_budget_are_one_trial() -> None:
    for whole, decimal in (("epochs-int", "epochs-float"), ("steps", "steps-float")):
        ids = [[c.trial_id for c in _builtin_task_configs(Budget(**BUDGETS[form]))] for form in (whole, decimal)]
        assert ids[0] == ids[1]
    assert Budget(epochs=1).epochs == 1.0 and type(Budget(steps=7.0).steps) is int
