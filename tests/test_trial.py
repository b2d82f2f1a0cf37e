"""A trial's identity: the code and the resolved defaults are part of it; --force reruns; failures retry."""

from __future__ import annotations

from pathlib import Path

import optbench
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
