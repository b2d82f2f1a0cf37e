"""Tests for optbench/curvature/: spectra, verdicts, escape, trace, noise scale, runner and CLI hooks."""

from __future__ import annotations

import json
import math

import pytest
import torch
from blobs import Blobs
from click.testing import CliRunner
from torch import nn

from optbench import curvature
from optbench.cli import main
from optbench.curvature import (
    DiagnoseSettings,
    NoiseScaleSettings,
    Objective,
    classify,
    diagnose,
    hutchinson_trace,
    lanczos,
    noise_scale,
    noise_scale_from_norms,
    spectral_density,
)
from optbench.errors import SpecError
from optbench.tasks.base import Parameters, Task
from optbench.tasks.toy import monkey_saddle, rosenbrock, saddle


def _at(task: Task, *theta: float) -> Parameters:
    return Parameters(torch.tensor(theta, dtype=torch.float64))


def _trained(task: Blobs, steps: int = 150) -> nn.Module:
    model = task.init_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        task.loss(model, (task.x, task.y)).backward()
        opt.step()
    return model


# ---------------------------------------------------------------------------------------------
# the lecture's 2-D examples
# ---------------------------------------------------------------------------------------------

def test_saddle_at_origin_has_eigenvalues_2_and_minus_2_and_escapes_along_y() -> None:
    result = diagnose(saddle(), _at(saddle(), 0.0, 0.0))
    assert result.verdict == "saddle"
    assert result.method == "exact"
    assert result.eigenvalues == pytest.approx([-2.0, 2.0], abs=1e-12)
    assert result.grad_norm == 0.0
    assert result.escape is not None
    x, y = result.escape.direction
    assert abs(x) == pytest.approx(0.0, abs=1e-12) and abs(y) == pytest.approx(1.0)
    assert result.escape.lowers_loss
    assert result.escape.loss_after == pytest.approx(-result.escape.step**2)  # f(0, η) = −η²
    assert result.escape.predicted_change == pytest.approx(result.escape.loss_after - result.escape.loss_before)
    # the ε-box around a saddle holds higher points (along x): its ε-sharpness is positive, and at most
    # 100·ε² (|x| ≤ ε; going along y only lowers the loss)
    assert 0 < result.eps_sharpness <= 100 * 1e-3**2 + 1e-15


def test_rosenbrock_minimum_matches_the_analytic_hessian() -> None:
    task = rosenbrock()
    result = diagnose(task, _at(task, 1.0, 1.0))
    analytic = torch.tensor([[2 + 1200 * 1.0 - 400 * 1.0, -400.0], [-400.0, 200.0]], dtype=torch.float64)
    assert result.verdict == "local minimum"
    assert result.eigenvalues == pytest.approx(torch.linalg.eigvalsh(analytic).tolist(), rel=1e-10)
    assert result.trace == pytest.approx(1002.0)
    assert result.escape is None


def test_verdicts_away_from_critical_points_and_at_a_degenerate_one() -> None:
    task = rosenbrock()
    assert diagnose(task, _at(task, -1.2, 1.0)).verdict == "not critical"
    monkey = monkey_saddle()
    flat = diagnose(monkey, _at(monkey, 0.0, 0.0))
    assert flat.verdict == "degenerate" and flat.eigenvalues == pytest.approx([0.0, 0.0], abs=1e-12)
    assert classify(0.0, -1.0, -0.5, 1e-3, 1e-6) == "local maximum"
    assert classify(1.0, 1.0, 2.0, 1e-3, 1e-6) == "not critical"
    assert classify(0.0, -1e-9, 2.0, 1e-3, 1e-6) == "degenerate"


def test_gradient_descent_started_exactly_at_the_saddle_stays_there_and_a_nudge_or_momentum_escapes() -> None:
    task = saddle()
    batch = task.train_batch(torch.arange(task.n_train))

    def steps_to_escape(start: tuple[float, float], momentum: float, limit: int = 400) -> tuple[int, torch.Tensor]:
        """Full-batch SGD steps until |y| > 1 (``limit`` when it never gets there), and the final point."""
        model = _at(task, *start)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
        for step in range(1, limit + 1):
            opt.zero_grad()
            task.loss(model, batch).backward()
            opt.step()
            if abs(float(model.theta[1])) > 1.0:
                return step, model.theta.detach()
        return limit, model.theta.detach()

    stuck_steps, stuck = steps_to_escape((0.0, 0.0), momentum=0.0)
    assert stuck.tolist() == [0.0, 0.0] and stuck_steps == 400  # exactly zero gradient: GD never moves
    heavy_stuck_steps, _ = steps_to_escape((0.0, 0.0), momentum=0.9)
    assert heavy_stuck_steps == 400  # momentum alone has no velocity to carry at the exact saddle
    gd_steps, gd_end = steps_to_escape((0.0, 1e-6), momentum=0.0)
    assert gd_steps == math.ceil(math.log(1e6) / math.log(1.2))  # y grows by 1 + 2·lr per step
    assert float(task.f(gd_end[0], gd_end[1])) < 0.0  # below the saddle's value: it escaped downhill
    momentum_steps, _ = steps_to_escape((0.0, 1e-6), momentum=0.9)
    assert momentum_steps < gd_steps  # momentum accelerates the escape along the negative curvature


# ---------------------------------------------------------------------------------------------
# a small MLP: Lanczos, Hutchinson, SLQ against the exact Hessian
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp() -> tuple[Blobs, nn.Module, torch.Tensor]:
    task = Blobs(hidden=24)
    model = _trained(task)
    hessian = Objective(task, model).hessian()
    return task, model, torch.linalg.eigvalsh(hessian)


def test_lanczos_extremes_agree_with_exact_eigendecomposition(mlp: tuple[Blobs, nn.Module, torch.Tensor]) -> None:
    task, model, exact = mlp
    objective = Objective(task, model, chunk_size=50)  # chunking must not change the operator
    result = lanczos(objective.hvp, objective.dim, iters=120, tol=1e-8)
    assert exact[0] < 0 < exact[-1]  # a trained tanh MLP is not at a minimum: both ends matter
    assert float(result.ritz_values[0]) == pytest.approx(float(exact[0]), rel=1e-3)
    assert float(result.ritz_values[-1]) == pytest.approx(float(exact[-1]), rel=1e-3)
    assert objective.counts["hvp"] == result.iterations < objective.dim
    hv = objective.hvp(result.max_vector)
    assert torch.allclose(hv, float(result.ritz_values[-1]) * result.max_vector, atol=1e-3 * float(exact[-1]))


def test_diagnose_uses_lanczos_above_the_exact_limit_and_agrees(mlp: tuple[Blobs, nn.Module, torch.Tensor]) -> None:
    task, model, exact = mlp
    result = diagnose(task, model, exact_max_params=10, lanczos_iters=150, lanczos_tol=1e-8)
    assert result.method == "lanczos" and result.eigenvalues is None
    assert result.lambda_max == pytest.approx(float(exact[-1]), rel=1e-3)
    assert result.lambda_min == pytest.approx(float(exact[0]), rel=1e-3)
    assert result.cost["hvps"] > 0 and result.cost["seconds"] > 0
    assert result.verdict == "not critical" or result.verdict == "saddle"
    assert result.escape is not None and result.escape.lowers_loss


def test_hutchinson_trace_is_within_its_stated_error(mlp: tuple[Blobs, nn.Module, torch.Tensor]) -> None:
    task, model, exact = mlp
    estimate = hutchinson_trace(Objective(task, model), probes=64, seed=3)
    assert estimate.stderr > 0
    assert abs(estimate.value - float(exact.sum())) < 3 * estimate.stderr


def test_spectral_density_matches_the_exact_spectrum_moments(mlp: tuple[Blobs, nn.Module, torch.Tensor]) -> None:
    task, model, exact = mlp
    density = spectral_density(Objective(task, model), vectors=8, iters=30)
    nodes, weights = torch.tensor(density.nodes), torch.tensor(density.weights)
    assert float(weights.sum()) == pytest.approx(1.0)
    # quadrature weights estimate moments of the spectral measure: the mean eigenvalue is tr(H)/d
    assert float((nodes * weights).sum()) == pytest.approx(float(exact.mean()), rel=0.3)
    assert float(nodes.max()) == pytest.approx(float(exact[-1]), rel=1e-3)
    grid = torch.linspace(float(exact[0]) - 1, float(exact[-1]) + 1, 2001)
    integral = torch.trapezoid(density.evaluate(grid), grid)
    assert float(integral) == pytest.approx(1.0, rel=1e-2)


def test_double_backward_and_forward_over_reverse_agree(mlp: tuple[Blobs, nn.Module, torch.Tensor]) -> None:
    task, model, _ = mlp
    v = torch.randn(Objective(task, model).dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fwd = Objective(task, model, hvp_method="forward-over-reverse").hvp(v)
    dbl = Objective(task, model, hvp_method="double-backward").hvp(v)
    assert torch.allclose(fwd, dbl, rtol=1e-9, atol=1e-12)
    with pytest.raises(SpecError, match="hvp_method"):
        Objective(task, model, hvp_method="finite-differences")


def test_eps_sharpness_is_positive_and_grows_with_the_box(mlp: tuple[Blobs, nn.Module, torch.Tensor]) -> None:
    task, model, _ = mlp
    small = diagnose(task, model, eps=1e-4, trace_probes=4).eps_sharpness
    large = diagnose(task, model, eps=1e-2, trace_probes=4).eps_sharpness
    assert small is not None and large is not None and 0 < small < large


# ---------------------------------------------------------------------------------------------
# gradient noise scale
# ---------------------------------------------------------------------------------------------

def test_noise_scale_formulas_reduce_to_mccandlish_for_infinite_data() -> None:
    grad_sq, trace_cov, b, big = 2.0, 30.0, 4, 32
    estimate = noise_scale_from_norms(grad_sq + trace_cov / b, grad_sq + trace_cov / big, b, big)
    assert estimate.grad_sq == pytest.approx(grad_sq) and estimate.trace_cov == pytest.approx(trace_cov)
    assert estimate.b_simple == pytest.approx(15.0)
    with pytest.raises(SpecError, match="small < big"):
        noise_scale_from_norms(1.0, 1.0, 8, 8)


@pytest.mark.slow  # 480 small gradients: ~15 s on a busy 2-core machine
def test_noise_scale_agrees_with_brute_force_per_example_gradients() -> None:
    task = Blobs(n=64, hidden=4)
    model = _trained(task, steps=20)
    objective = Objective(task, model)
    per_example = torch.func.vmap(
        torch.func.grad(lambda theta, x, y: objective._chunk_loss(theta, (x[None], y[None]))),
        in_dims=(None, 0, 0))(objective.theta, task.x, task.y)
    mean = per_example.mean(dim=0)
    true_grad_sq = float(mean @ mean)
    true_trace = float(((per_example - mean) ** 2).sum(dim=1).mean())
    generator = torch.Generator().manual_seed(0)
    # 4 chunks of 8 = half the data: both |G_b|² and |G_B|² are random, and the finite-population form matters
    draws = [noise_scale(task, model, small=8, chunks=4, generator=generator) for _ in range(120)]
    mean_grad_sq = sum(d.grad_sq for d in draws) / len(draws)
    mean_trace = sum(d.trace_cov for d in draws) / len(draws)
    assert mean_trace == pytest.approx(true_trace, rel=0.1)
    assert mean_grad_sq == pytest.approx(true_grad_sq, rel=0.15)
    assert mean_trace / mean_grad_sq == pytest.approx(true_trace / true_grad_sq, rel=0.25)


# ---------------------------------------------------------------------------------------------
# settings, runner and CLI
# ---------------------------------------------------------------------------------------------

def test_settings_parse_and_reject_bad_values_with_one_line_errors() -> None:
    assert DiagnoseSettings.parse("examples=512,density=true") == DiagnoseSettings(examples=512, density=True)
    assert DiagnoseSettings.parse("") == DiagnoseSettings()
    assert NoiseScaleSettings.parse("every=5,small=8") == NoiseScaleSettings(every=5, small=8)
    with pytest.raises(SpecError, match="did you mean 'examples'"):
        DiagnoseSettings.parse("exampels=10")
    with pytest.raises(SpecError, match="every must be"):
        NoiseScaleSettings.parse("every=0")
    assert NoiseScaleSettings().batch_sizes(16, 128) == (16, 8)
    assert NoiseScaleSettings().batch_sizes(128, 128) == (16, 8)  # full batch: n/8 examples per chunk
    assert NoiseScaleSettings().batch_sizes(1, 1) is None


def test_noise_scale_measurement_does_not_change_training_randomness() -> None:
    task = Blobs(hidden=16)
    model = task.init_model(0)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    metrics = NoiseScaleSettings(every=1).measure(task, model, 16, seed=0, step=1)
    assert torch.equal(torch.rand(3), expected)
    assert set(metrics) == {"noise_grad_sq", "noise_trace_cov", "grad_noise_scale"}


def test_run_with_diagnose_and_noise_scale_stores_metrics_and_diagnosis(tmp_path) -> None:
    out = tmp_path / "store"
    result = CliRunner().invoke(main, ["run", "--seeds", "0", "--tasks", "saddle[x0=0,y0=0],quadratic[dim=5]",
                                       "--optims", "sgd",
                                       "--batch-sizes", "8", "--steps", "20", "--diagnose",
                                       "--noise-scale", "every=5", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    from optbench.store import load

    res = load(out)
    metrics = res.metrics
    for name in ("hess_lambda_max", "hess_lambda_min", "hess_trace", "grad_noise_scale"):
        assert name in set(metrics["metric"]), name
    noise_steps = sorted(metrics.loc[metrics["metric"] == "grad_noise_scale", "step"].unique())
    assert noise_steps == [5, 10, 15, 20]
    saddle_id = res.trials.loc[res.trials["task"] == "saddle", "trial_id"].item()
    document = json.loads((out / "diagnosis" / f"{saddle_id}.json").read_text())
    assert document["point"] == "final" and document["verdict"] == "saddle"  # GD at the exact saddle never moves
    quad = res.trials.loc[res.trials["task"] == "quadratic"].iloc[0]
    assert quad["final_hess_lambda_max"] == pytest.approx(1.0)  # the bowl's largest eigenvalue is L = 1
    assert curvature.read_diagnoses(out).keys() == {saddle_id, quad["trial_id"]}


def test_diagnose_command_on_a_saved_trial(tmp_path) -> None:
    out = tmp_path / "store"
    runner = CliRunner()
    assert runner.invoke(main, ["run", "--seeds", "0", "-t", "rosenbrock", "-o", "adam[lr=0.05]", "--steps", "300",
                                "--out", str(out), "-q"]).exit_code == 0
    from optbench.store import load

    trial_id = load(out).trials["trial_id"].item()
    result = runner.invoke(main, ["diagnose", str(out), trial_id[:6]])
    assert result.exit_code == 0, result.output
    assert "local minimum" in result.output or "not critical" in result.output
    document = json.loads((out / "diagnosis" / f"{trial_id}.json").read_text())
    assert math.isclose(document["trace"], sum(document["eigenvalues"]), rel_tol=1e-9)
    init = runner.invoke(main, ["diagnose", str(out), trial_id, "--at", "init"])
    assert init.exit_code == 0 and "not critical" in init.output
    missing = runner.invoke(main, ["diagnose", str(out), "zzzz"])
    assert missing.exit_code == 2 and "error: no trial 'zzzz'" in missing.output
    bad = runner.invoke(main, ["run", "--seeds", "0", "-t", "saddle", "-o", "sgd", "--diagnose", "exampels=3",
                               "--out", str(out)])
    assert bad.exit_code == 2 and "did you mean 'examples'" in bad.output


def test_a_diagnosis_that_fails_is_reported_in_its_document_not_raised() -> None:
    class PerExampleLoss(Blobs):
        def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            # a plugin bug: per-example losses instead of their mean; training with .sum() elsewhere could
            # still work, but a gradient of a non-scalar is undefined
            return nn.functional.cross_entropy(model(batch[0]), batch[1], reduction="none")

    task = PerExampleLoss()
    recorded: dict[str, float] = {}
    document = curvature.end_of_trial(DiagnoseSettings(), task, task.init_model(0), 0, recorded.__setitem__)
    assert document["point"] == "final" and "error" in document and recorded == {}
