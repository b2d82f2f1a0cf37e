"""``optbench diagnose`` on a store: stored final/best weights, the replay fallback, phoneme trials (issue 12.3b)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.curvature import DiagnoseSettings, Objective
from optbench.curvature.stored import diagnose_trial, trial_config_from_row, weights_path
from optbench.errors import OptbenchError
from optbench.plan import TaskCache
from optbench.registry import load_registry
from optbench.store import load


@pytest.fixture
def quadratic_store(tmp_path: Path) -> tuple[Path, str]:
    torch.set_num_threads(1)
    out = tmp_path / "store"
    optbench.run("quadratic[dim=5]", "sgd", steps=20, seeds="0", out=out, device="cpu")
    return out, load(out).trials["trial_id"].item()


def test_final_weights_are_read_from_the_store_not_replayed(quadratic_store: tuple[Path, str]) -> None:
    out, trial_id = quadratic_store
    row = load(out).trials.iloc[0].to_dict()
    config = trial_config_from_row(row)
    task = TaskCache(load_registry()).get(config.task, config.task_params)
    model = task.init_model(config.seed)
    with torch.no_grad():
        model.theta.fill_(0.25)  # a point the trial never visited: only reading the file can give its loss
    path = weights_path(out, trial_id, "final")
    path.parent.mkdir(exist_ok=True)
    torch.save(model.state_dict(), path)
    document = diagnose_trial(out, trial_id, settings=DiagnoseSettings())
    assert document["point"] == "final" and document["weights"] == str(path)
    assert document["loss"] == pytest.approx(Objective(task, model).loss(), rel=1e-12)
    assert (out / "diagnosis" / f"{trial_id}.json").is_file()
    again = diagnose_trial(out, trial_id)  # no settings, no --recompute: the stored document as it is
    assert again["loss"] == document["loss"]


def test_missing_final_weights_replay_the_training_and_say_so_in_one_line(quadratic_store: tuple[Path, str]) -> None:
    out, trial_id = quadratic_store
    weights_path(out, trial_id, "final").unlink()  # a store written before final weights were saved
    result = CliRunner().invoke(main, ["diagnose", str(out), trial_id, "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "replayed the training" in notes[0] and ".final.pt" in notes[0]


def test_bad_weights_and_missing_best_checkpoint_are_one_line_errors(quadratic_store: tuple[Path, str]) -> None:
    out, trial_id = quadratic_store
    best = CliRunner().invoke(main, ["diagnose", str(out), trial_id, "--at", "best"])
    assert best.exit_code == 2 and "no best checkpoint" in best.output and "Traceback" not in best.output
    path = weights_path(out, trial_id, "final")
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"not a checkpoint")
    bad = CliRunner().invoke(main, ["diagnose", str(out), trial_id, "--recompute"])
    assert bad.exit_code == 2 and "not loadable weights" in bad.output and len(bad.output.splitlines()) == 1
    with pytest.raises(OptbenchError, match="--at must be one of"):
        diagnose_trial(out, trial_id, at="middle")


@pytest.mark.slow  # a tiny phoneme run: ~10 s with the generated corpus
def test_a_stored_phoneme_trial_can_be_diagnosed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optbench.tasks.phoneme import corpus as C
    from optbench.tasks.phoneme.data import ENV_VAR

    torch.set_num_threads(1)
    corpus = C.generate(tmp_path / "corpus", C.CorpusSettings(utterances=40, seed=1))
    monkeypatch.setenv(ENV_VAR, str(corpus))
    out = tmp_path / "store"
    optbench.run("phoneme[preset=simple]", "adam", steps=20, seeds="0", out=out, device="cpu")
    row = load(out).trials.iloc[0].to_dict()
    assert row["data_source"]  # phoneme trials carry their data source in their identity
    trial_id = row["trial_id"]
    settings = DiagnoseSettings(examples=256, trace_probes=4, eps_steps=2, lanczos_iters=20)
    assert weights_path(out, trial_id, "final").is_file()  # the runner saves the final weights
    weights_path(out, trial_id, "final").unlink()  # an older store: diagnose must replay the trial
    replayed = diagnose_trial(out, trial_id, settings=settings)  # issue 12.3b: this raised "no longer hashes"
    assert replayed["weights"] == "replayed training" and replayed["examples"] == 256
    best = weights_path(out, trial_id, "best")
    assert best.is_file()  # the runner keeps the best checkpoint of tasks that declare a checkpoint metric
    shutil.copy(best, weights_path(out, trial_id, "final"))  # what the runner will write as <id>.final.pt
    stored = diagnose_trial(out, trial_id, settings=settings)
    assert stored["weights"].endswith(".final.pt") and stored["lambda_max"] > 0
    assert diagnose_trial(out, trial_id, at="best", settings=settings)["loss"] == pytest.approx(stored["loss"])


def test_the_table_shows_top_k_per_tensor_and_fractions(tmp_path: Path) -> None:
    out = tmp_path / "store"
    optbench.run("saddle[x0=0,y0=0]", "sgd", steps=5, seeds="0", out=out, device="cpu")
    trial_id = load(out).trials["trial_id"].item()
    result = CliRunner().invoke(main, ["diagnose", str(out), trial_id, "--at", "init",
                                       "--settings", "top_k=2,per_layer=true", "--threads", "1"])
    assert result.exit_code == 0, result.output
    for text in ("saddle", "top eigenvalues", "λ_max · theta", "negative / positive eigenvalues", "0.5 / 0.5"):
        assert text in result.output, text
