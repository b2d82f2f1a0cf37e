"""``optbench run --track DIR``: each finished trial's records in TensorBoard event files, read back with
TensorBoard's own reader and compared with the store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import optbench
from optbench.errors import OptbenchError

pytest.importorskip("tensorboard")  # the test extra installs it; a plain install does not need it

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optbench", "run", "--tasks", "quadratic[kappa=10]", "--optims",
                           "sgd[lr=0.1|3]", "--seeds", "0", "--steps", "20", "--threads", "1",
                           "--out", str(tmp_path / "store"), *extra], capture_output=True, text=True)


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "progress"])
def test_every_recorded_value_reads_back_from_tensorboard(tmp_path: Path, quiet: bool) -> None:
    done = _run(tmp_path, "--track", str(tmp_path / "tb"), *(["--quiet"] if quiet else []))
    assert done.returncode == 0, done.stderr
    results = optbench.load(tmp_path / "store")
    runs = sorted(p for p in (tmp_path / "tb").glob("*/*") if p.is_dir())
    assert len(runs) == len(results.trials) == 2  # one run per trial, the diverged one included
    for run in runs:
        trial_id = run.name.rsplit("-", 1)[1]
        events = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
        mine = results.metrics[results.metrics["trial_id"] == trial_id]
        assert set(events.Tags()["scalars"]) == set(mine["metric"])
        for name, rows in mine.groupby("metric"):
            logged = events.Scalars(name)
            assert [e.step for e in logged] == rows["step"].tolist()
            assert [e.value for e in logged] == pytest.approx(rows["value"].astype("float32").tolist(), nan_ok=True)


def test_without_tensorboard_it_is_one_line_before_training(tmp_path: Path, monkeypatch) -> None:
    from optbench import tracking

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(OptbenchError, match=r"pip install 'optbench\[tensorboard\]'"):
        tracking.TensorBoardTracker(tmp_path / "tb")
    assert not (tmp_path / "tb").exists()


def test_an_unwritable_track_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = _run(tmp_path, "--quiet", "--track", str(tmp_path / "file" / "tb"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot write TensorBoard logs") and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "store" / "trials").is_dir() or not any((tmp_path / "store" / "trials").iterdir())
