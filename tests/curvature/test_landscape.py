"""Loss-landscape slices checked against what is known: exact surfaces, a saddle's negative curvature, λ_max
of a trained phoneme MLP, the trajectory replay, the store round trip and the command's one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.curvature.landscape import (
    Evaluator,
    LandscapeSettings,
    filter_normalised,
    flat_weights,
    landscape,
)
from optbench.curvature.landscape_stored import landscape_trial, parse_settings
from optbench.curvature.objective import Objective
from optbench.errors import SpecError
from optbench.plan import TaskCache
from optbench.registry import load_registry
from optbench.store import Store, load
from optbench.tasks.base import Parameters


def _surface_task(name: str, **params: float):
    return TaskCache(load_registry()).get(name, params)


def _at(task, x: float, y: float) -> torch.nn.Module:
    return Parameters(torch.tensor([x, y], dtype=torch.float64))


@pytest.mark.parametrize(("name", "x", "y"), [("saddle", 0.3, -0.2), ("rosenbrock", -0.5, 0.7),
                                             ("himmelblau", 1.0, 1.5), ("double-well", 0.0, 0.4)])
def test_the_axes_plane_of_a_2d_surface_is_the_exact_surface(name: str, x: float, y: float) -> None:
    task = _surface_task(name)
    document = landscape(task, _at(task, x, y), 0, LandscapeSettings(grid=11, radius=0.8, trajectory=False))
    plane = document["planes"][0]
    assert plane["key"] == "axes"  # the default for d = 2
    xs, ys = torch.tensor(plane["x"], dtype=torch.float64), torch.tensor(plane["y"], dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(x + xs, y + ys, indexing="xy")
    exact = task.surface(grid_x, grid_y)
    measured = torch.tensor(plane["loss"], dtype=torch.float64)
    assert torch.allclose(measured, exact, rtol=1e-12, atol=1e-12)
    assert measured.shape == (11, 11) and not torch.allclose(measured, measured[0, 0])


@pytest.mark.parametrize(("name", "x", "y", "lambda_min"), [
    ("double-well", 0.0, 0.0, -1.0),  # y⁴/4 − y²/2: concave only near 0, so the step size matters
    ("himmelblau", 0.086678, 2.884255, None),  # a saddle with tilted eigenvectors, λ_min from its Hessian
])
def test_at_a_saddle_the_bottom_line_is_concave_with_lambda_min(name: str, x: float, y: float,
                                                                lambda_min: float | None) -> None:
    task = _surface_task(name)
    model = _at(task, x, y)
    if lambda_min is None:
        hessian = torch.autograd.functional.hessian(lambda t: task.surface(t[0], t[1]), model.theta.detach())
        lambda_min = float(torch.linalg.eigvalsh(hessian)[0])
    document = landscape(task, model, 0, LandscapeSettings(radius=0.3, trajectory=False))
    bottom = next(line for line in document["lines"] if line["key"] == "bottom")
    assert bottom["eigenvalue"] == pytest.approx(lambda_min, rel=1e-6)
    assert bottom["curvature_at_0"] == pytest.approx(lambda_min, rel=0.01)
    loss = torch.tensor(bottom["loss"], dtype=torch.float64)
    assert bool((loss[2:] - 2 * loss[1:-1] + loss[:-2] < 0).all())  # concave along the whole line
    assert float(loss[len(loss) // 2]) == pytest.approx(max(bottom["loss"]), rel=1e-7)  # the top of the ridge
    top = next(line for line in document["lines"] if line["key"] == "top")
    assert top["eigenvalue"] > 0 and top["curvature_at_0"] == pytest.approx(top["eigenvalue"], rel=0.01)


def test_filter_normalised_directions_match_each_filters_norm_and_zero_the_biases() -> None:
    from blobs import Blobs

    task = Blobs()
    model = task.init_model(0)
    objective = Objective(task, model)
    direction, notes = filter_normalised(objective, torch.Generator().manual_seed(0))
    assert notes == []
    for (name, p), piece in zip(model.named_parameters(), direction.split(objective.numels), strict=True):
        if p.ndim >= 2:
            assert torch.allclose(piece.view(p.shape[0], -1).norm(dim=1),
                                  p.detach().double().view(p.shape[0], -1).norm(dim=1), rtol=1e-9), name
        else:
            assert bool((piece == 0).all()), name  # Li et al.'s default for biases and batch-norm


def test_batched_evaluation_equals_one_point_at_a_time(blobs) -> None:
    task, model = blobs
    objective = Objective(task, model)
    basis = torch.randn(2, objective.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    coords = torch.randn(37, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.1
    batched = Evaluator(objective, chunk=8)(objective.theta.double(), basis, coords)
    single = [objective.loss((objective.theta.double() + c @ basis).to(objective.theta)) for c in coords]
    assert torch.allclose(batched, torch.tensor(single, dtype=torch.float64), rtol=1e-5)


def test_interpolation_ends_at_the_init_and_final_losses(blobs) -> None:
    task, model = blobs
    init = flat_weights(task.init_model(0))
    document = landscape(task, model, 0, LandscapeSettings(trajectory=False, grid=5), init=init)
    interp = document["interpolation"]
    objective = Objective(task, model)
    alpha = torch.tensor(interp["alpha"])
    at_zero, at_one = int((alpha - 0).abs().argmin()), int((alpha - 1).abs().argmin())
    assert interp["loss"][at_zero] == pytest.approx(objective.loss(init), rel=1e-5)
    assert interp["loss"][at_one] == pytest.approx(document["loss"], rel=1e-5)
    assert interp["init_to_final"] == pytest.approx(float((flat_weights(model) - init).norm()), rel=1e-6)


@pytest.fixture
def saddle_store(tmp_path: Path) -> tuple[Path, str]:
    torch.set_num_threads(1)
    out = tmp_path / "store"
    optbench.run("double-well[x0=0.8,y0=0.05]", "momentum[lr=0.05]", steps=60, seeds="0", out=out, device="cpu")
    return out, load(out).trials["trial_id"].item()


def test_the_trajectory_plane_comes_from_a_replay_that_ends_at_the_stored_weights(saddle_store) -> None:
    out, trial_id = saddle_store
    document = landscape_trial(out, trial_id, settings=LandscapeSettings(snapshots=12, grid=7), threads=1)
    pca = next(p for p in document["planes"] if p["key"] == "pca")
    path = pca["trajectory"]
    assert path["steps"][0] == 0 and path["steps"][-1] == 60 and len(path["steps"]) == 13
    assert path["x"][-1] == pytest.approx(0, abs=1e-12) and path["y"][-1] == pytest.approx(0, abs=1e-12)
    assert path["x"][0] < 0  # the walk runs left to right
    assert sum(pca["explained"]) == pytest.approx(1.0, abs=1e-9)  # d = 2: the plane holds the whole walk
    assert max(path["off_plane"]) < 1e-9
    assert "ends 0 (relative) from the stored final weights" in document["notes"][0]
    # the trajectory's recorded x, y are the metrics the runner logged at those steps
    metrics = load(out).metrics
    xs = metrics[metrics["metric"] == "x"].set_index("step")["value"]
    final = Store(out).read_checkpoint(trial_id, "final")["theta"].double()
    assert float(final[0]) == pytest.approx(float(xs.loc[60]), abs=1e-12)
    stored = Store(out).read_landscapes()
    assert set(stored) == {trial_id} and stored[trial_id]["planes"][1]["key"] == "pca"


def test_the_command_prints_a_table_stores_json_and_refuses_bad_input_in_one_line(saddle_store) -> None:
    out, trial_id = saddle_store
    runner = CliRunner()
    result = runner.invoke(main, ["landscape", str(out), trial_id[:6], "--at", "init", "--threads", "1",
                                  "--settings", "trajectory=false,grid=5,plane=eigen"])
    assert result.exit_code == 0, result.output
    for text in ("landscape", "eigenvector of λ_max", "plane: eigen", "init → final", "f''(0) measured"):
        assert text in result.output, text
    assert f"{trial_id}-init" in Store(out).read_landscapes()
    as_json = runner.invoke(main, ["landscape", str(out), trial_id, "--threads", "1", "--json",
                                   "--settings", "trajectory=false,grid=3"])
    assert json.loads(as_json.output)["planes"][0]["key"] == "axes"
    for args, message in ((["--settings", "grid=1"], "grid must be an integer >= 3"),
                          (["--settings", "plane=diagonal"], "plane must be one of"),
                          (["--settings", "gird=5"], "did you mean 'grid'"),
                          (["--at", "best"], "no best checkpoint")):
        bad = runner.invoke(main, ["landscape", str(out), trial_id, *args])
        assert bad.exit_code == 2 and message in bad.output and len(bad.output.splitlines()) == 1, bad.output
        assert "Traceback" not in bad.output


def test_settings_are_checked_before_any_work() -> None:
    assert parse_settings("grid=31,span=0.5").grid == 31
    with pytest.raises(SpecError, match="radius must be a positive number"):
        parse_settings("radius=-1")
    with pytest.raises(SpecError, match="trajectory must be true or false"):
        parse_settings("trajectory=3")


def test_diagnose_landscape_true_writes_the_slices_during_the_run(tmp_path: Path) -> None:
    out = tmp_path / "store"
    runner = CliRunner()
    result = runner.invoke(main, ["run", "-t", "saddle[x0=0.5,y0=0.01]", "-o", "sgd", "--steps", "10",
                                  "--seeds", "0", "--threads", "1", "--out", str(out),
                                  "--diagnose", "landscape=true"])
    assert result.exit_code == 0, result.output
    trial_id = load(out).trials["trial_id"].item()
    document = Store(out).read_landscapes()[trial_id]
    assert {line["key"] for line in document["lines"]} == {"top", "bottom"}
    assert document["interpolation"]["init_to_final"] > 0
    assert "landscape" not in Store(out).read_diagnosis(trial_id)  # its own file, not inside the diagnosis
    assert any("no trajectory plane" in note for note in document["notes"])


@pytest.mark.slow  # a small phoneme MLP: ~15 s with a generated 40-utterance corpus
def test_on_a_phoneme_mlp_the_second_derivative_along_the_top_eigenvector_is_lambda_max(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optbench.tasks.phoneme import corpus as C
    from optbench.tasks.phoneme.data import ENV_VAR

    torch.set_num_threads(1)
    corpus = C.generate(tmp_path / "corpus", C.CorpusSettings(utterances=40, seed=1))
    monkeypatch.setenv(ENV_VAR, str(corpus))
    task = TaskCache(load_registry()).get("phoneme", {"preset": "simple", "hidden": 64})
    model = task.init_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):  # a partly trained network: curvature well away from zero
        batch = task.train_batch(torch.randint(0, task.n_train, (256,), generator=generator))
        optimizer.zero_grad()
        task.loss(model, batch).backward()
        optimizer.step()
    document = landscape(task, model, 0, LandscapeSettings(examples=1024, grid=5, trajectory=False,
                                                           exact_max_params=0, lanczos_tol=1e-6))
    top = next(line for line in document["lines"] if line["key"] == "top")
    assert document["method"] == "lanczos" and top["eigenvalue"] > 0
    assert top["curvature_at_0"] == pytest.approx(top["eigenvalue"], rel=0.02)
    bottom = next(line for line in document["lines"] if line["key"] == "bottom")
    assert bottom["curvature_at_0"] == pytest.approx(bottom["eigenvalue"], abs=0.02 * top["eigenvalue"])
    plane = document["planes"][0]
    assert plane["key"] == "random" and plane["filter_norms"][0] > 0
