"""The phoneme task end to end on a tiny generated corpus: presets, a real run, predictions, the CLI."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from test_phoneme_data import TEST_LENGTHS, make_libriphone  # same folder (pytest's rootdir-relative import)

import optbench
from optbench.cli import main
from optbench.conformance import TASK_CHECKS
from optbench.errors import SpecError
from optbench.registry import load_registry
from optbench.tasks.phoneme import corpus as C
from optbench.tasks.phoneme import task as T
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


@pytest.mark.slow
def test_diagnose_and_predict_work_on_the_readme_main_jobs_trials(with_corpus: Path, tmp_path: Path) -> None:
    """The README's main job (default phoneme budget: epochs=1, an int), then diagnose and predict its trials.

    The store reads budgets back as floats: an id that hashed ``1`` and not ``1.0`` no longer matched.
    """
    runner, store = CliRunner(), str(tmp_path / "store")
    result = runner.invoke(main, ["run", "--tasks", "phoneme", "--optims", "adam,rmsprop", "--seeds", "0",
                                  "--threads", "1", "--out", store])
    assert result.exit_code == 0, result.output
    trials = optbench.load(store).trials
    assert len(trials) == 2 and set(trials["budget_epochs"]) == {1.0} and set(trials["status"]) == {"completed"}
    for trial_id in trials["trial_id"]:
        result = runner.invoke(main, ["diagnose", store, trial_id, "--threads", "1", "--json", "--settings",
                                      "examples=64,lanczos_iters=4,trace_probes=2,eps_steps=1"])
        assert result.exit_code == 0, result.output
        assert '"verdict"' in result.output and trial_id in result.output
    out = tmp_path / "prediction.csv"
    result = runner.invoke(main, ["predict", store, trials["trial_id"].iloc[0][:8], "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == PhonemeTask().data.test_frames().n_frames


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(tmp_path), "abc"])
    assert result.exit_code == 2 and "error: no results store" in result.output
    result = runner.invoke(main, ["data", "phoneme", "--out", str(tmp_path / "c"), "--snr", "x"])
    assert result.exit_code == 2 and result.output.startswith("error: --snr must be LO:HI")
    # a relative data_dir (cwd is tmp_path); "/" is the spec's tuple separator, so the parts are re-joined
    result = runner.invoke(main, ["run", "--tasks", "phoneme[data_dir=no/such]", "--optims", "adam"])
    assert result.exit_code == 2 and "phoneme data folder no/such does not exist" in result.output


def test_declares_metrics_headline_checkpoint_and_target(with_corpus: Path, tmp_path: Path) -> None:
    task = PhonemeTask()
    metrics = task.declared_metrics()
    assert {name: m.direction for name, m in metrics.items()} == {
        "train_loss": "min", "val_acc": "max", "val_loss": "min", "val_acc_subset": "max", "val_loss_subset": "min",
        "train_acc": "max"}
    assert "cross-entropy" in metrics["val_loss"].label and "subset" in metrics["train_acc"].label
    # the subset and the whole split are different evaluation sets, so different metrics, each sized
    assert metrics["val_acc"].examples == len(task.val_frames) and "all validation frames" in metrics[
        "val_acc"].evaluated_on
    assert metrics["val_acc_subset"].examples == len(task.val_probe) and "subset" in metrics[
        "val_acc_subset"].evaluated_on
    assert (task.headline, task.checkpoint_metric) == ("val_acc", "val_acc_subset")
    assert task.eval_points is not None and task.eval_points >= 10  # ≥ 10 points per validation curve
    assert not any(hasattr(task, old) for old in ("has_accuracy", "checkpoint_mode", "describe"))
    assert "squared error" in PhonemeTask(loss="mse").declared_metrics()["val_loss"].label
    target = task.target()  # the built-in corpus: a measured per-preset value
    assert target is not None and target.metric == "val_acc_subset" and target.value == T.BUILTIN_TARGETS["medium"]
    assert PhonemeTask(preset="strong").target().value == T.BUILTIN_TARGETS["strong"]
    assert PhonemeTask(hidden=32).target() is None and PhonemeTask(loss="mse").target() is None
    folder = make_libriphone(tmp_path / "lp")  # a libriphone folder: the course's baselines
    assert [PhonemeTask(preset=p, data_dir=str(folder)).target().value for p in ("simple", "medium", "strong")] \
        == [0.458, 0.697, 0.750]


def test_each_target_says_the_split_it_was_measured_on(with_corpus: Path, tmp_path: Path) -> None:
    """The course's baselines are test-set scores: on libriphone the validation target says it is not that claim."""
    builtin = PhonemeTask().target().description  # measured here, on validation: says so, claims no test score
    assert "validation" in builtin and "built-in corpus" in builtin and "test" not in builtin
    folder = make_libriphone(tmp_path / "lp")
    for preset, value in T.LIBRIPHONE_TARGETS.items():
        described = PhonemeTask(preset=preset, data_dir=str(folder)).target().description
        assert f"{value:.3f} is a test-set score" in described and "validation is not the same claim" in described
    trials = optbench.run(f"phoneme[preset=simple,data_dir={folder}]", "sgd[lr=1e-9]", steps=2, seeds="0",
                          batch_sizes="8", threads=1, out=tmp_path / "s")
    assert "test-set score" in trials.iloc[0].target_description  # what the store (and so the page) carries


def test_intermediate_evaluations_use_a_fixed_subset_the_final_one_all_frames(
        with_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(T, "VAL_SUBSET_FRAMES", 300)
    monkeypatch.setattr(T, "TRAIN_ACC_FRAMES", 200)
    task = PhonemeTask(preset="simple", concat=5, hidden=16)
    assert len(task.val_probe) == 300 and len(task.train_probe) == 200
    assert torch.equal(task.val_probe, PhonemeTask(preset="simple").val_probe)  # the same frames every time
    assert set(task.val_probe.tolist()) <= set(task.val_frames.tolist())
    model = task.init_model(0).eval()
    labelled = task.data.labelled

    def reference(frames: torch.Tensor) -> tuple[float, float]:  # one batch, no chunks, plain no_grad
        with torch.no_grad():
            logits = model(labelled.windows(frames, 5))
        labels = labelled.labels[frames]
        return float(F.cross_entropy(logits, labels)), float((logits.argmax(1) == labels).double().mean())

    monkeypatch.setattr(T, "EVAL_CHUNK_VALUES", 39 * 5 * 256)  # force several chunks
    final, partial = task.evaluate(model), task.evaluate(model, final=False)
    assert "val_acc" not in partial  # a subset score never stands in for the whole split
    for result, suffix, frames in ((final, "", task.val_frames), (partial, "_subset", task.val_probe),
                                   (final, "_subset", task.val_probe)):
        loss, acc = reference(frames)
        assert result[f"val_loss{suffix}"] == pytest.approx(loss, rel=1e-5)
        assert result[f"val_acc{suffix}"] == pytest.approx(acc)
    assert final["train_acc"] == partial["train_acc"] == pytest.approx(reference(task.train_probe)[1])


def test_bf16_is_opt_in_and_refused_without_cpu_support(with_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SpecError, match="precision must be one of fp32, bf16"):
        PhonemeTask(precision="fp16")
    monkeypatch.setattr(T, "bf16_supported", lambda: False)
    with pytest.raises(SpecError, match="precision=bf16 needs a CPU with native bf16 support"):
        PhonemeTask(precision="bf16")
    monkeypatch.setattr(T, "bf16_supported", lambda: True)  # emulated here: slow but correct
    task = PhonemeTask(preset="simple", hidden=16, precision="bf16")
    model, batch = task.init_model(0), task.train_batch(torch.arange(64))
    seen: list[torch.dtype] = []
    model[0][0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    loss = task.loss(model, batch)
    loss.backward()
    assert seen == [torch.bfloat16] and loss.dtype == torch.float32 and torch.isfinite(loss)
    assert model[0][0].weight.grad.dtype == torch.float32  # parameters and optimizer state stay fp32
    assert "precision" in inspect.signature(PhonemeTask).parameters  # a task parameter: in the trial id


@pytest.mark.slow
def test_predict_uses_the_trials_own_data_and_refuses_bad_out(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    make_libriphone(tmp_path / "lp")
    trials = optbench.run("phoneme[preset=simple,hidden=8,data_dir=lp]", "adam", steps=2, batch_sizes="full",
                          out=tmp_path / "store", threads=1)
    trial_id = trials["trial_id"].iloc[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the relative data_dir no longer resolves: the stored data source must
    runner, store = CliRunner(), str(tmp_path / "store")
    result = runner.invoke(main, ["predict", store, trial_id[:8], "--out", "p.csv"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv("p.csv")) == sum(TEST_LENGTHS.values())  # the folder's test frames, not the corpus'
    for out, message in ((str(elsewhere), "is a directory"), ("p.csv/x.csv", "cannot write in")):
        result = runner.invoke(main, ["predict", store, trial_id[:8], "--out", out])
        assert result.exit_code == 2 and message in result.output and len(result.output.splitlines()) == 1
    (tmp_path / "lp").rename(tmp_path / "moved")
    result = runner.invoke(main, ["predict", store, trial_id[:8], "--out", "q.csv"])
    assert result.exit_code == 2 and "no longer exists" in result.output, result.output
    assert len(result.output.splitlines()) == 1 and not Path("q.csv").exists()
    result = runner.invoke(main, ["predict", store, trial_id[:8], "--out", "q.csv", "--data-dir",
                                  str(tmp_path / "moved")])
    assert result.exit_code == 0 and len(pd.read_csv("q.csv")) == sum(TEST_LENGTHS.values())
