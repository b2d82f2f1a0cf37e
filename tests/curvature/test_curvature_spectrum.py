"""Top-k eigenpairs, per-tensor λ_max, eigenvalue-sign fractions and the reuse-graph HVP, against exact spectra."""

from __future__ import annotations

import pytest
import torch

from optbench.curvature import DiagnoseSettings, Objective, diagnose, group_lambda_max, lanczos
from optbench.errors import SpecError
from optbench.tasks.base import Parameters
from optbench.tasks.toy import saddle


def _exact(task, model) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    hessian = Objective(task, model).hessian()
    values, vectors = torch.linalg.eigh(hessian)
    return hessian, values, vectors


def test_reuse_graph_hvp_and_gradient_agree_with_forward_over_reverse(blobs) -> None:
    task, model = blobs
    reuse = Objective(task, model)
    forward = Objective(task, model, hvp_method="forward-over-reverse")
    assert reuse.hvp_method == "reuse-graph" and forward.hvp_method == "forward-over-reverse"
    v = torch.randn(reuse.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(reuse.hvp(v), forward.hvp(v), rtol=1e-9, atol=1e-12)
    assert torch.allclose(reuse.hvp_many(torch.stack([v, 2 * v])), forward.hvp_many(torch.stack([v, 2 * v])),
                          rtol=1e-9, atol=1e-12)
    loss_r, grad_r = reuse.loss_and_gradient()
    loss_f, grad_f = forward.loss_and_gradient()
    assert loss_r == pytest.approx(loss_f, rel=1e-12) and torch.allclose(grad_r, grad_f, rtol=1e-9, atol=1e-14)
    assert Objective(task, model, chunk_size=50).hvp_method == "forward-over-reverse"  # bounded memory
    with pytest.raises(SpecError, match="one chunk"):
        Objective(task, model, chunk_size=50, hvp_method="reuse-graph")


def test_lanczos_top_k_eigenpairs_match_the_exact_eigendecomposition(blobs) -> None:
    task, model = blobs
    hessian, values, _ = _exact(task, model)
    objective = Objective(task, model)
    result = lanczos(objective.hvp, objective.dim, iters=objective.dim, tol=1e-10, top_k=3)
    assert result.top_values is not None and result.top_vectors is not None
    assert result.top_values.tolist() == pytest.approx(values[-3:].flip(0).tolist(), rel=1e-6)
    for value, vector in zip(result.top_values, result.top_vectors, strict=True):
        assert float(vector.norm()) == pytest.approx(1.0)
        residual = hessian @ vector - value * vector  # an eigenpair of H, not just a Ritz pair
        assert float(residual.norm()) < 1e-5 * float(values.abs().max())


def test_diagnose_top_k_and_per_layer_agree_between_lanczos_and_exact(blobs) -> None:
    task, model = blobs
    hessian, values, _ = _exact(task, model)
    exact = diagnose(task, model, top_k=3, per_layer=True, eps_steps=0)
    approx = diagnose(task, model, exact_max_params=10, lanczos_iters=200, lanczos_tol=1e-9, top_k=3,
                      per_layer=True, eps_steps=0, trace_probes=4)
    assert exact.method == "exact" and approx.method == "lanczos"
    top = values[-3:].flip(0).tolist()
    assert exact.top_eigenvalues == pytest.approx(top, rel=1e-10)
    assert approx.top_eigenvalues == pytest.approx(top, rel=1e-5)
    assert exact.top_eigenvectors is not None and exact.top_eigenvectors.shape == (3, exact.params)
    blocks = Objective(task, model).groups
    assert list(blocks) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name, block in blocks.items():
        expected = float(torch.linalg.eigvalsh(hessian[block, block])[-1])
        assert exact.group_lambda_max[name] == pytest.approx(expected, rel=1e-10)
        assert approx.group_lambda_max[name] == pytest.approx(expected, rel=1e-3, abs=1e-6)
    document = approx.to_dict()
    assert document["top_eigenvectors"] is None  # d > 64: vectors stay in memory, not in the JSON
    assert document["summary"]["lambda_max"] == approx.lambda_max


def test_negative_and_positive_fractions(blobs) -> None:
    task, model = blobs
    _, values, _ = _exact(task, model)
    exact = diagnose(task, model, eps_steps=0)
    tol = exact.tolerances["eig_tol"]
    assert exact.fraction_method == "exact"
    assert exact.negative_fraction == pytest.approx(float((values < -tol).double().mean()))
    assert exact.positive_fraction == pytest.approx(float((values > tol).double().mean()))
    assert 0 < exact.negative_fraction < exact.positive_fraction < 1
    estimate = diagnose(task, model, exact_max_params=10, eps_steps=0, trace_probes=4, density=True,
                        density_vectors=16, density_iters=40)
    assert estimate.fraction_method == "slq"
    assert estimate.negative_fraction == pytest.approx(exact.negative_fraction, abs=0.15)
    quick = diagnose(task, model, exact_max_params=10, eps_steps=0, trace_probes=4)
    assert quick.fraction_method.startswith("lanczos quadrature")
    assert 0 <= quick.negative_fraction <= 1 - quick.positive_fraction + 1e-12  # the two can sum to 1
    at_saddle = diagnose(saddle(), Parameters(torch.zeros(2, dtype=torch.float64)))
    assert (at_saddle.negative_fraction, at_saddle.positive_fraction) == (0.5, 0.5)
    summary = at_saddle.to_dict()["summary"]
    assert summary["verdict"] == "saddle" and summary["escape_loss_drop"] > 0 and summary["escape_step"] > 0


def test_group_lambda_max_of_a_single_tensor_model_is_lambda_max() -> None:
    task = saddle()
    objective = Objective(task, task.init_model(0))
    assert group_lambda_max(objective) == {"theta": pytest.approx(2.0)}


def test_settings_take_top_k_and_per_layer() -> None:
    assert DiagnoseSettings.parse("top_k=3,per_layer=true") == DiagnoseSettings(top_k=3, per_layer=True)
    with pytest.raises(SpecError, match="top_k must be"):
        DiagnoseSettings.parse("top_k=0")
    with pytest.raises(SpecError, match="per_layer must be true or false"):
        DiagnoseSettings.parse("per_layer=3")


@pytest.mark.parametrize("bad", ["0", "1", "-1e-3", "fast", "true"])
def test_the_lanczos_tolerance_is_a_setting_in_the_open_unit_interval(bad: str) -> None:
    assert DiagnoseSettings.parse("lanczos_tol=1e-6").lanczos_tol == 1e-6
    with pytest.raises(SpecError, match="lanczos_tol must be a number in"):
        DiagnoseSettings.parse(f"lanczos_tol={bad}")


def test_a_tighter_lanczos_tolerance_takes_more_iterations_and_moves_lambda_min_down(blobs) -> None:
    # a Ritz value lies inside the spectrum: more iterations can only move the smallest one down
    task, model = blobs
    loose = diagnose(task, model, exact_max_params=10, eps_steps=0, trace_probes=4, lanczos_tol=1e-2)
    tight = diagnose(task, model, exact_max_params=10, eps_steps=0, trace_probes=4, lanczos_tol=1e-8,
                     lanczos_iters=400)
    exact = diagnose(task, model, eps_steps=0)
    assert loose.cost["hvps"] < tight.cost["hvps"]
    assert exact.lambda_min - 1e-9 <= tight.lambda_min <= loose.lambda_min + 1e-12
    assert tight.lambda_min == pytest.approx(exact.lambda_min, rel=1e-5, abs=1e-9)


def test_the_package_imports_one_way_and_sits_below_the_runner() -> None:
    """Module-level imports only go to earlier layers (objective → spectrum → diagnosis → hooks → stored)."""
    import ast
    from pathlib import Path

    import optbench.curvature as package

    order = ["objective", "spectrum", "noise", "diagnosis", "hooks", "stored"]
    for position, name in enumerate(order):
        tree = ast.parse((Path(package.__file__).parent / f"{name}.py").read_text())
        imported = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
        inside = {m.rsplit(".", 1)[-1] for m in imported if m.startswith("optbench.curvature.")}
        assert inside <= set(order[:position]), (name, inside)
        assert not {m for m in imported if m.startswith(("optbench.study", "optbench.loop", "optbench.cli"))}, name


def test_trace_deflated_by_the_lanczos_basis_is_unbiased_and_tighter(blobs) -> None:
    from optbench.curvature import deflated_trace, hutchinson_trace

    task, model = blobs
    hessian, values, _ = _exact(task, model)
    objective = Objective(task, model)
    result = lanczos(objective.hvp, objective.dim, iters=20, tol=0.0)  # a partial basis: a residual is left
    basis = result.basis
    assert basis is not None and basis.shape == (20, objective.dim)
    krylov = float(result.ritz_values.sum())  # tr(T) = tr(QᵀHQ): what diagnose() uses
    assert krylov == pytest.approx(float(torch.trace(basis @ hessian @ basis.T)), rel=1e-8)
    exact = float(values.sum())
    for seed in range(3):
        deflated = deflated_trace(objective, basis, krylov, probes=32, seed=seed)
        plain = hutchinson_trace(objective, probes=32, seed=seed)
        assert abs(deflated.value - exact) < 3 * deflated.stderr
        assert 0 < deflated.stderr < plain.stderr / 2


def _power_iteration_hvps(objective: Objective, exact_max: float, accuracy: float, seed: int = 0) -> int:
    """HVPs PyHessian's power iteration (Yao et al. 2020, ``hessian.eigenvalues``: v ← Hv/‖Hv‖, λ = vᵀHv)
    needs before its estimate is within ``accuracy`` (relative) of the exact λ_max."""
    v = torch.randn(objective.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v = v / v.norm()
    for count in range(1, 2001):
        hv = objective.hvp(v).double()
        if abs(float(hv @ v) - exact_max) <= accuracy * abs(exact_max):
            return count
        v = hv / hv.norm()
    return 2001


@pytest.mark.parametrize("tol", [1e-2, 1e-3, 1e-5])
def test_lambda_max_alone_meets_its_tolerance_in_fewer_hvps_than_power_iteration(blobs, tol: float) -> None:
    from optbench.curvature.spectrum import extreme_eigenvalues

    task, model = blobs
    _, values, _ = _exact(task, model)
    exact_max = float(values[-1])
    objective = Objective(task, model)
    found = extreme_eigenvalues(objective.hvp, objective.dim, ("max",), tol=tol, iters=200)
    error = abs(found.values["max"] - exact_max)
    assert found.converged and found.iterations == objective.counts["hvp"] < objective.dim
    assert found.values["max"] <= exact_max + 1e-12  # a Ritz value: from below
    assert error <= found.bounds["max"] <= tol * abs(found.values["max"])  # the stated bound holds
    # power iteration needs more HVPs to be as accurate (the equal-accuracy comparison, counts not time)
    assert found.iterations < _power_iteration_hvps(Objective(task, model), exact_max, error / abs(exact_max))


def test_both_ends_alone_come_from_one_lanczos_run_and_give_the_verdict(blobs) -> None:
    from optbench.curvature.diagnosis import diagnose_extremes

    task, model = blobs
    _, values, _ = _exact(task, model)
    both = diagnose_extremes(task, model, "lambda_min+lambda_max", tol=1e-6, iters=200)
    full = diagnose(task, model, eps_steps=0)
    assert both.lambda_min == pytest.approx(float(values[0]), rel=1e-5)
    assert both.lambda_max == pytest.approx(float(values[-1]), rel=1e-5)
    assert both.verdict == full.verdict and both.cost["hvps"] < full.cost["hvps"]
    top = diagnose_extremes(task, model, "lambda_max", tol=1e-3)
    assert top.verdict == "not assessed" and set(top.metrics()) == {"hess_lambda_max", "diag_loss",
                                                                      "diag_grad_norm"}
    assert top.cost["hvps"] < both.cost["hvps"] and top.error_bounds["lambda_max"] <= 1e-3 * top.lambda_max


def test_only_and_its_tolerance_are_settings_with_one_line_errors() -> None:
    settings = DiagnoseSettings.parse("only=lambda_max,tol=1e-4")
    assert settings.only == "lambda_max" and settings.tol == 1e-4
    for bad, message in (("only=lambda_mx", "only must be one of"), ("tol=1e-3", "tol is the tolerance of only"),
                         ("only=lambda_max,tol=2", "tol must be a number in"),
                         ("only=lambda_max,tol=true", "tol must be a number in")):
        with pytest.raises(SpecError, match=message):
            DiagnoseSettings.parse(bad)


def test_a_trial_diagnosed_for_lambda_max_alone_records_only_what_it_measured(tmp_path) -> None:
    import optbench

    trials = optbench.run("logistic[dim=20]", "adam", steps=20, seeds="0", threads=1, out=tmp_path / "r",
                          diagnose="only=lambda_max,tol=1e-3")
    metrics = optbench.load(trials.attrs["store"]).metrics
    assert {"hess_lambda_max", "diag_loss", "diag_grad_norm"} <= set(metrics.metric)
    assert not {"hess_lambda_min", "hess_trace", "hess_trace_stderr"} & set(metrics.metric)
