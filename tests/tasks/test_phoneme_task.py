"""The phoneme task end to end on a tiny generated corpus: presets, a real run, predictions, the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.conformance import TASK_CHECKS
from optbench.errors import SpecError
from optbench.registry import load_registry
from optbench.tasks.phoneme import corpus as C
from optbench.tasks.phoneme.data import ENV_VAR
from optbench.tasks.phoneme.task import PhonemeTask, architecture


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return C.generate(tmp_path_factory.mktemp("phoneme") / "corpus", C.CorpusSettings(utterances=40, seed=1))


@pytest.fixture
def with_corpus(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(corpus))
    return corpus


def test_presets_and_overrides() -> None:
    assert architecture("simple", None, None, None, None, None).concat == 1
    strong = architecture("strong", None, None, None, None, None)
    assert strong.bn and strong.dropout > 0 and strong.concat == 19
    custom = architecture("strong", 5, 1, 64, 0, 0.0)
    assert (custom.concat, custom.layers, custom.hidden, custom.bn, custom.dropout) == (5, 1, 64, False, 0.0)
    with pytest.raises(SpecError, match="did you mean 'strong'"):
        architecture("strnog", None, None, None, None, None)
    with pytest.raises(SpecError, match="concat must be odd"):
        architecture("simple", 4, None, None, None, None)


def test_model_shapes_and_mse_option(with_corpus: Path) -> None:
    task = PhonemeTask(preset="strong", concat=7, hidden=32, loss="mse")
    model = task.init_model(0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 task.init_model(0).state_dict().values(), strict=True))
    inputs, labels = task.train_batch(torch.arange(16))
    assert inputs.shape == (16, 7 * 39) and model(inputs).shape == (16, 41)
    assert torch.equal(labels, task.data.labelled.labels[task.train_frames[:16]])
    loss = task.loss(model, (inputs, labels))
    assert 0 < loss.item() <= 2  # squared error of a probability vector against a one-hot
    with pytest.raises(SpecError, match="loss must be one of ce, mse"):
        PhonemeTask(loss="hinge")


@pytest.mark.parametrize("check", sorted(TASK_CHECKS))
def test_passes_the_conformance_suite(with_corpus: Path, check: str) -> None:
    TASK_CHECKS[check](load_registry(plugin_dir=None, entry_points=False).get("task", "phoneme"))


@pytest.mark.slow
def test_real_training_run_then_predict(with_corpus: Path, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:  # one thread: on a shared 2-core machine, spinning intra-op threads make small MLPs 50x slower
        trials = optbench.run("phoneme[preset=simple,hidden=64]", "adam[lr=0.003],sgd[lr=1e-9]", epochs=2,
                              out=tmp_path / "store", batch_sizes="256", threads=1, seeds="0")
    finally:
        torch.set_num_threads(threads)
    assert set(trials["status"]) == {"completed"}
    acc = trials.set_index("optimizer")["best_val_acc"]
    assert acc["adam"] > 0.35 and acc["adam"] > acc["sgd"] + 0.1  # it learns; a frozen model does not
    assert {"final_val_loss", "final_train_acc"} <= set(trials.columns)
    trial_id = trials.set_index("optimizer").loc["adam", "trial_id"]
    result = CliRunner().invoke(main, ["predict", str(tmp_path / "store"), trial_id[:8], "--out",
                                       str(tmp_path / "prediction.csv")])
    assert result.exit_code == 0, result.output
    csv = (tmp_path / "prediction.csv").read_text().splitlines()
    assert csv[0] == "Id,Class"
    frame = pd.read_csv(tmp_path / "prediction.csv")
    task = PhonemeTask(preset="simple", hidden=64)
    test = task.data.test_frames()
    assert frame["Id"].tolist() == list(range(test.n_frames))
    model = task.init_model(0)
    model.load_state_dict(torch.load(tmp_path / "store" / "checkpoints" / f"{trial_id}.pt", weights_only=True))
    model.eval()
    expected = model(test.features).argmax(dim=1)  # concat=1: windows are the frames themselves
    assert frame["Class"].tolist() == expected.tolist()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(tmp_path), "abc"])
    assert result.exit_code == 2 and "error: no results store" in result.output
    result = runner.invoke(main, ["data", "phoneme", "--out", str(tmp_path / "c"), "--snr", "x"])
    assert result.exit_code == 2 and result.output.startswith("error: --snr must be LO:HI")
    # a relative data_dir (cwd is tmp_path); "/" is the spec's tuple separator, so the parts are re-joined
    result = runner.invoke(main, ["run", "--tasks", "phoneme[data_dir=no/such]", "--optims", "adam"])
    assert result.exit_code == 2 and "phoneme data folder no/such does not exist" in result.output
