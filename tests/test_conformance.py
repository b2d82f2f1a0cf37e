"""The conformance suite: builtins pass it, and each deliberately broken entry fails the right check for the
right reason (and, where the breakage is confined, only that check)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import optbench
from optbench.cli import main
from optbench.conformance import check_entry
from optbench.registry import load_registry
from optbench.tasks.base import CriticalPoint, Parameters, Task

REGISTRY = load_registry(plugin_dir=None, entry_points=False)


def failures(entry: optbench.Entry) -> dict[str, str]:
    return {r.check: r.reason for r in check_entry(entry) if not r.passed}


# ----------------------------------------------------------------------------------------------
# builtins
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [e.name for e in REGISTRY.list("optimizer")])
def test_builtin_optimizers_pass(name: str) -> None:
    assert failures(REGISTRY.get("optimizer", name)) == {}


@pytest.mark.parametrize("name", [e.name for e in REGISTRY.list("schedule")])
def test_builtin_schedules_pass(name: str) -> None:
    assert failures(REGISTRY.get("schedule", name)) == {}


# phoneme needs the HW2 data files; its own tests cover it
@pytest.mark.parametrize("name", [e.name for e in REGISTRY.list("task") if e.name != "phoneme"])
def test_builtin_tasks_pass(name: str) -> None:
    assert failures(REGISTRY.get("task", name)) == {}


# ----------------------------------------------------------------------------------------------
# broken optimizers: one defect each
# ----------------------------------------------------------------------------------------------

class PlainSGD(torch.optim.Optimizer):
    """Correct gradient descent; subclasses break one promise each through ``update``."""

    def __init__(self, params: Any, lr: float = 0.05):
        super().__init__(params, {"lr": lr})

    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        p.add_(p.grad, alpha=-group["lr"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, group)


class Ascent(PlainSGD):
    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        p.add_(p.grad, alpha=group["lr"])  # wrong sign


class CachedLR(PlainSGD):
    def __init__(self, params: Any, lr: float = 0.05):
        super().__init__(params, lr)
        self.fixed_lr = lr  # read once: schedules cannot change it

    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        p.add_(p.grad, alpha=-self.fixed_lr)


class HiddenMomentum(PlainSGD):
    def __init__(self, params: Any, lr: float = 0.05):
        super().__init__(params, lr)
        self.velocity: dict[int, torch.Tensor] = {}  # outside self.state, so state_dict() misses it

    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        v = self.velocity.setdefault(id(p), torch.zeros_like(p))
        v.mul_(0.9).add_(p.grad)
        p.add_(v, alpha=-group["lr"])


class NormalisedNoEps(PlainSGD):
    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        p.add_(p.grad / p.grad.norm(), alpha=-group["lr"])  # 0/0 for a zero gradient


class DecaysEverything(PlainSGD):
    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.mul_(1 - 0.01 * group["lr"])  # also parameters that have no gradient
                if p.grad is not None:
                    self.update(p, group)


class PythonRandom(PlainSGD):
    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        p.add_(p.grad + random.gauss(0.0, 0.01), alpha=-group["lr"])  # not torch's seeded generator


class ForcesFloat32(PlainSGD):
    def update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        p.data = (p - group["lr"] * p.grad).float()


def entry(factory: Callable[..., Any], defaults: dict[str, Any] | None = None) -> optbench.Entry:
    return optbench.optimizer("broken", factory, "deliberately broken", {"lr": 0.05} if defaults is None else defaults)


def test_plain_sgd_reference_passes() -> None:
    assert failures(entry(PlainSGD)) == {}


@pytest.mark.parametrize(("factory", "check", "reason"), [
    (Ascent, "reduces a quadratic's loss", "took the quadratic's loss from"),
    (CachedLR, "follows param_groups lr", "does not read param_groups['lr']"),
    (HiddenMomentum, "state_dict round trip", "state_dict misses some optimizer state"),
    (NormalisedNoEps, "zero/tiny/huge/no gradients", "zero gradients (0, torch.float32) made the parameters"),
    (DecaysEverything, "zero/tiny/huge/no gradients", "whose .grad is None was changed"),
    (ForcesFloat32, "shapes and float32/float64", "torch.float64 became torch.float32"),
])
def test_broken_optimizer_fails_only_its_check(factory: Callable[..., Any], check: str, reason: str) -> None:
    failed = failures(entry(factory))
    assert list(failed) == [check]
    assert reason in failed[check]


def test_unseeded_randomness_fails_determinism() -> None:
    failed = failures(entry(PythonRandom))
    assert "randomness not drawn from torch's seeded generator" in failed["same seed, same trajectory"]


def test_factory_without_lr_fails_spec_syntax() -> None:
    failed = failures(entry(lambda params: PlainSGD(params), defaults={}))
    assert list(failed) == ["constructs from spec syntax"]
    assert "cannot construct 'broken[lr=0.025]'" in failed["constructs from spec syntax"]


def test_non_optimizer_fails_construction_and_skips_the_rest() -> None:
    results = check_entry(entry(lambda params, lr=0.1: {"lr": lr}))
    assert not any(r.passed for r in results)
    assert "returned dict, not a torch.optim.Optimizer" in results[0].reason
    assert all(r.reason.startswith("not run") for r in results[1:])


# ----------------------------------------------------------------------------------------------
# broken schedules and tasks
# ----------------------------------------------------------------------------------------------

def stateful(total_steps: int) -> Callable[[int], float]:
    calls = []

    def multiplier(step: int) -> float:
        calls.append(step)
        return 1.0 / len(calls)

    return multiplier


@pytest.mark.parametrize(("factory", "check", "reason"), [
    (lambda total_steps: (lambda step: -0.5), "finite, non-negative multipliers", "is -0.5, expected finite"),
    (lambda total_steps: (lambda step: math.nan if step == total_steps - 1 else 1.0),
     "finite, non-negative multipliers", "is nan"),
    (stateful, "pure and deterministic", "keeps hidden state"),
    (lambda total_steps: (lambda step, d=1 / (total_steps - 1): 1 - step * d), "works for total_steps=1",
     "ZeroDivisionError"),
])
def test_broken_schedule_fails_its_check(factory: Callable[..., Any], check: str, reason: str) -> None:
    failed = failures(optbench.schedule("broken", factory, "deliberately broken"))
    assert check in failed and reason in failed[check]


class Line(Task):
    """f(θ) = ½|θ|² in 2-D: a correct task that subclasses break."""

    n_train, is_2d = 4, True

    def init_model(self, seed: int) -> nn.Module:
        return Parameters(torch.ones(2, dtype=torch.float64) * (seed + 1))

    def train_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return indices

    def loss(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return 0.5 * (model.theta**2).sum()

    def surface(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x**2 + y**2)

    def critical_points(self) -> list[CriticalPoint]:
        return [CriticalPoint(0.0, 0.0, "minimum")]


class UnseededInit(Line):
    def init_model(self, seed: int) -> nn.Module:
        return Parameters(torch.randn(2, dtype=torch.float64))


class VectorLoss(Line):
    def loss(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return 0.5 * model.theta**2


class WrongCriticalPoint(Line):
    def critical_points(self) -> list[CriticalPoint]:
        return [CriticalPoint(1.0, 0.0, "minimum")]


class NaNMetric(Line):
    metrics = (optbench.Metric("val_loss", "min", "validation loss"),)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {"val_loss": math.nan}


class UndeclaredMetric(Line):
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {"score": 1.0}


class HeadlineNotDeclared(Line):
    headline = "bleu"


class NegativeLossScale(Line):
    loss_scale = -1.0


def test_reference_task_passes() -> None:
    assert failures(optbench.task("line", Line, "correct")) == {}


@pytest.mark.parametrize(("cls", "check", "reason"), [
    (UnseededInit, "init_model deterministic per seed", "init_model(0) twice gives different parameters"),
    (VectorLoss, "loss: finite scalar with gradient", "expected a scalar tensor"),
    (WrongCriticalPoint, "2-D critical points have zero gradient", "declared at (1, 0) has gradient norm 1"),
    (NaNMetric, "step_metrics/evaluate finite floats", "evaluate['val_loss'] is nan"),
    (UndeclaredMetric, "declares its metrics, headline and target", "does not declare: score"),
    (HeadlineNotDeclared, "declares its metrics, headline and target", "headline 'bleu' is not a declared metric"),
    (NegativeLossScale, "declares its metrics, headline and target", "loss_scale is -1.0, expected a finite number"),
])
def test_broken_task_fails_only_its_check(cls: type[Task], check: str, reason: str) -> None:
    failed = failures(optbench.task("broken", cls, "deliberately broken"))
    assert list(failed) == [check]
    assert reason in failed[check]


# ----------------------------------------------------------------------------------------------
# the CLI
# ----------------------------------------------------------------------------------------------

def test_check_command_passes_builtins_with_exit_0() -> None:
    result = CliRunner().invoke(main, ["check", "sgd", "cosine", "saddle"])
    assert result.exit_code == 0, result.output
    assert "18/18 checks passed" in result.output


def test_check_command_fails_a_broken_plugin_file_with_exit_1(tmp_path: Path) -> None:
    plugin = tmp_path / "ascent.py"
    plugin.write_text(
        "import optbench, torch\n"
        "def ascent(params, lr=0.05):\n"
        "    return torch.optim.SGD(params, lr=lr, maximize=True)\n"
        "ASCENT = optbench.optimizer('ascent', ascent, 'climbs', {'lr': 0.05})\n"
    )
    result = CliRunner().invoke(main, ["check", str(plugin)])
    assert result.exit_code == 1, result.output
    assert "FAIL ascent: reduces a quadratic's loss: 300 steps" in result.output
    assert "7/8 checks passed, 1 failed" in result.output


def test_check_command_unknown_name_suggests_and_exits_2() -> None:
    result = CliRunner().invoke(main, ["check", "adma"])
    assert result.exit_code == 2
    assert "did you mean 'adam'" in result.output
