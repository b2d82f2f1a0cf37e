"""The store: atomic trial files, reading back, manifest contents, and clear errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import optbench
from optbench.errors import OptbenchError, StoreWarning
from optbench.store import Store, safe_slug


def test_failed_write_leaves_no_partial_trial(tmp_path, monkeypatch) -> None:
    store = Store(tmp_path / "s").create()
    metrics = pd.DataFrame({"trial_id": ["t1"], "step": [0], "epoch": [0.0], "examples": [0], "time": [0.0],
                            "metric": ["x"], "value": [1.0]})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("optbench.store.pq.write_table", broken)
    with pytest.raises(OSError):
        store.write_trial({"trial_id": "t1", "status": "completed"}, metrics)
    assert store.finished_ids() == set() and not list((tmp_path / "s").rglob("*.tmp"))


def test_results_round_trip_and_curves(tmp_path) -> None:
    trials = optbench.run("saddle", "sgd,adam", steps=10, out=tmp_path / "r", seeds="0")
    res = optbench.load(tmp_path / "r")
    assert set(res.trials.trial_id) == set(trials.trial_id)
    curves = res.curves("train_loss")
    assert set(curves.optimizer) == {"sgd", "adam"} and len(curves) == 20
    env = res.manifest["runs"][0]["environment"]
    assert {"torch", "python", "cpu", "torch_threads", "git_commit", "platform"} <= set(env)
    assert res.manifest["runs"][0]["config"]["optimizers"] == ["adam", "sgd"]


def test_loading_a_folder_that_is_not_a_store(tmp_path) -> None:
    with pytest.raises(OptbenchError, match="no results store"):
        optbench.load(tmp_path / "nothing")


# --- integrity (issue 12 items 4, 5, 8) ------------------------------------------------------------

def _small_store(path: Path, seeds: str = "0") -> pd.DataFrame:
    return optbench.run("saddle", "sgd,adam", steps=5, seeds=seeds, out=path, threads=1)


def _contents(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    res = optbench.load(path)
    trials = res.trials.drop(columns=["train_time", "eval_time", "steps_per_second", "finished_at", "wall_time",
                                      "load_avg_start"], errors="ignore")
    trials = trials.sort_values("trial_id").reset_index(drop=True)
    metrics = res.metrics.drop(columns="time").sort_values(["trial_id", "step", "metric"]).reset_index(drop=True)
    return trials, metrics


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reference") / "store"
    _small_store(path)
    return path


@pytest.mark.parametrize("damage", ["zero-byte trial", "truncated trial", "foreign trial",
                                    "truncated metrics", "zero-byte metrics"])
def test_unreadable_files_are_quarantined_and_their_trials_rerun(tmp_path: Path, damage: str,
                                                                 reference_store: Path) -> None:
    out = tmp_path / "damaged"
    trials = _small_store(out)
    victim = sorted(trials["trial_id"])[0]
    folder = "trials" if "trial" in damage.split()[-1] else "metrics"
    path = out / folder / f"{victim}.parquet"
    if damage.startswith("zero-byte"):
        path.write_bytes(b"")
    elif damage.startswith("truncated"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # another tool's parquet: a valid file without optbench's columns
        pq.write_table(pa.table({"a": [1, 2]}), path)
    with pytest.raises(OptbenchError, match=f"{victim}.parquet is .*rerunning the study moves it") as excinfo:
        optbench.load(out)
    assert "\n" not in str(excinfo.value)
    with pytest.warns(StoreWarning, match=f"moved 1 unreadable file.*{folder}/{victim}.parquet"):
        store = Store(out).create()
    assert victim not in store.finished_ids() and not (out / "metrics" / f"{victim}.parquet").exists()
    assert len(list((out / "quarantine").iterdir())) == 2  # the trial's row and metrics go together
    store.release()
    _small_store(out)  # the rerun runs exactly the quarantined trial again
    for got, want in zip(_contents(out), _contents(reference_store), strict=True):
        pd.testing.assert_frame_equal(got, want)


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "s"
    _small_store(out)
    stale = [out / "trials" / ".abc.parquet.x1y2.tmp", out / "metrics" / ".abc.parquet.k.tmp",
             out / "checkpoints" / "abc.tmp4242", out / ".manifest.json.q.tmp"]
    for path in stale:
        path.write_bytes(b"partial")
    keep = out / "checkpoints" / "notes.txt"
    keep.write_text("mine")
    Store(out).create().release()
    assert not any(path.exists() for path in stale) and keep.exists()


@pytest.mark.parametrize("content", ["[]", '{"runs": 3}', "not json"])
def test_a_manifest_that_is_not_optbench_s_gives_one_line(tmp_path: Path, content: str) -> None:
    out = tmp_path / "s"
    _small_store(out)
    (out / "manifest.json").write_text(content)
    for action in (lambda: optbench.load(out), lambda: _small_store(out)):
        with pytest.raises(OptbenchError, match="manifest.json is not") as excinfo:
            action()
        assert "\n" not in str(excinfo.value).strip()


def test_a_folder_of_another_tool_is_neither_read_nor_written(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "trials").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1]}), foreign / "trials" / "x.parquet")
    with pytest.raises(OptbenchError, match="no trial_id column"):
        optbench.load(foreign)
    busy = tmp_path / "home"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep me")
    with pytest.raises(OptbenchError, match="is not an optbench store and is not empty"):
        _small_store(busy)
    assert sorted(p.name for p in busy.iterdir()) == ["thesis.tex"]


def test_store_files_are_created_0644_respecting_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        _small_store(tmp_path / "a")
        os.umask(0o027)
        _small_store(tmp_path / "b")
    finally:
        os.umask(previous)
    for name, mode in (("a", 0o644), ("b", 0o640)):
        files = [p for p in (tmp_path / name).rglob("*") if p.is_file()]
        assert len(files) >= 5
        assert {p.relative_to(tmp_path): stat.S_IMODE(p.stat().st_mode) for p in files} == \
            {p.relative_to(tmp_path): mode for p in files}


_HOLD_LOCK = """
import sys
from optbench.store import Store
store = Store(sys.argv[1]).create()
print("locked", flush=True)
sys.stdin.read()
"""


def _lock_holder(path: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"  # a pipe, not a sleep: the lock is held from here on
    return holder


def test_a_second_writer_is_refused_with_the_holder_s_pid(tmp_path: Path) -> None:
    out = tmp_path / "s"
    holder = _lock_holder(out)
    try:
        with pytest.raises(OptbenchError, match=f"being written by another optbench process \\(pid {holder.pid}\\)"):
            _small_store(out)
        with pytest.raises(OptbenchError, match=f"pid {holder.pid}"):
            Store(out).update_manifest({"n": 1})
        cli = subprocess.run([sys.executable, "-m", "optbench", "run", "-q", "-t", "saddle", "-o", "sgd",
                              "--steps", "5", "--threads", "1", "--out", str(out)],
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2 and f"pid {holder.pid}" in cli.stderr
        assert len(cli.stderr.strip().splitlines()) == 1 and "Traceback" not in cli.stderr
    finally:
        holder.communicate("")
    assert Store(out).finished_ids() == set()
    _small_store(out)  # the holder is gone: the OS dropped its lock
    assert len(Store(out).finished_ids()) == 2


def test_manifest_keeps_every_run_of_successive_writers(tmp_path: Path) -> None:
    out = tmp_path / "s"
    for seed in range(3):
        _small_store(out, seeds=str(seed))  # each run adds trials (a no-op rerun adds no run)
        holder = _lock_holder(out)  # another process in between
        holder.communicate("")
    assert len(optbench.load(out).manifest["runs"]) == 3


def test_checkpoints_diagnoses_and_tuning_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    state = {"w": torch.arange(3.0)}
    store.write_checkpoint("t1", state)
    store.write_checkpoint("t1", {"w": torch.zeros(3)}, which="final")
    assert torch.equal(store.read_checkpoint("t1")["w"], state["w"])
    assert torch.equal(store.read_checkpoint("t1", "final")["w"], torch.zeros(3))
    assert (tmp_path / "s" / "checkpoints" / "t1.final.pt").is_file()
    with pytest.raises(OptbenchError, match="no best checkpoint"):
        store.read_checkpoint("t2")
    with pytest.raises(OptbenchError, match="checkpoint kind"):
        store.write_checkpoint("t1", state, which="worst")
    store.write_diagnosis("t1", {"lambda_max": torch.tensor(2.5).item(), "point": "final"})
    assert store.read_diagnosis("t1") == {"lambda_max": 2.5, "point": "final"} and store.read_diagnosis("x") is None
    assert store.read_diagnoses() == {"t1": {"lambda_max": 2.5, "point": "final"}}
    store.write_tuning({"choices": [{"lr": 0.1}]})
    assert store.read_tuning() == {"choices": [{"lr": 0.1}]}
    store.release()


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_holding_code_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "s").create()
    torch.save({"w": _Exploit()}, store.checkpoint_path("evil"))
    with pytest.raises(OptbenchError, match="cannot be read as a state dict"):
        store.read_checkpoint("evil")
    assert not (tmp_path / "pwned").exists()
    store.release()


@pytest.mark.parametrize("name", ["x/../../../../elsewhere/esc", "..", "/etc/passwd", "a\\..\\b", "", "....//",
                                  "quadratic[dim=5]+saddle", "Ünïcode名前"])
def test_safe_slug_stays_inside_its_folder(tmp_path: Path, name: str) -> None:
    slug = safe_slug(name)
    assert slug and "/" not in slug and "\\" not in slug and ".." not in slug and not slug.startswith(".")
    assert (tmp_path / slug).resolve().parent == tmp_path.resolve()
    assert safe_slug("quadratic[dim=5]+saddle") == "quadratic-dim=5-+saddle"


def test_a_single_write_does_not_keep_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "s"
    _small_store(out)  # run, then release at the end of execute
    Store(out).write_diagnosis("t", {"x": 1.0})  # a lone write takes the lock only while it writes
    holder = _lock_holder(out)  # another process can take it: this one holds nothing any more
    holder.communicate("")
    (out / "manifest.json").write_text("[]")
    with pytest.raises(OptbenchError, match="not an optbench manifest"):
        Store(out).create()
    (out / "manifest.json").unlink()
    holder = _lock_holder(out)  # the refused create() let go of the lock too
    holder.communicate("")


# ---------------------------------------------------------------------------------------------
# the machine refuses a write: one line, exit 2, the store intact (fault injection through the CLI)
# ---------------------------------------------------------------------------------------------

RUN = ["run", "-t", "quadratic[dim=3]", "-o", "sgd,adam", "--steps", "5", "--seeds", "0", "--threads", "1", "-q"]
# every store file is written, fsync'ed, then renamed; a disk that fills up fails the write or the fsync
FSYNC_INJECTION = """
import errno, os, sys
real_fsync = os.fsync
def failing_fsync(fd):
    if os.environ["FAIL_WHERE"] in os.readlink(f"/proc/self/fd/{fd}"):
        code = getattr(errno, os.environ["FAIL_ERRNO"])
        raise OSError(code, os.strerror(code))
    return real_fsync(fd)
os.fsync = failing_fsync
"""


def _fail_fsync(monkeypatch: pytest.MonkeyPatch, where: str, code: str) -> None:
    monkeypatch.setenv("FAIL_WHERE", where)
    monkeypatch.setenv("FAIL_ERRNO", code)
    namespace: dict = {}  # the same code the subprocess below runs, without replacing os.fsync for good
    exec(FSYNC_INJECTION.replace("os.fsync = failing_fsync", ""), namespace)
    monkeypatch.setattr(os, "fsync", namespace["failing_fsync"])


@pytest.mark.parametrize("where,code,cause", [
    ("/tasks/", "ENOSPC", "no space left on the device"),  # write_task_info, while preparing
    ("/checkpoints/", "EDQUOT", "disk quota exceeded"),    # write_checkpoint, after the first trial
    ("/trials/", "EROFS", "the file system is read-only"),
    ("manifest.json", "ENOSPC", "no space left on the device"),
])
def test_a_refused_write_is_one_line_and_the_store_stays_intact(where: str, code: str, cause: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from optbench.cli import main

    out = tmp_path / "s"
    with monkeypatch.context() as faulty:
        _fail_fsync(faulty, where, code)
        result = CliRunner().invoke(main, [*RUN, "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"error: {cause} writing {out}") and f"({code})" in line
    assert f"the store {out} is intact" in line
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no partial file left
    again = CliRunner().invoke(main, [*RUN, "--out", str(out)])  # space freed: the same command completes it
    assert again.exit_code == 0, again.output
    assert len(optbench.load(out).trials) == 2


def test_a_full_disk_with_workers_leaves_nothing_running(tmp_path: Path) -> None:
    """The process backend: the driver's write fails, its workers and fork server go with it."""
    out = tmp_path / "s"
    code = FSYNC_INJECTION + "from optbench.cli import main\nsys.exit(main())\n"
    env = {**os.environ, "FAIL_WHERE": "/trials/", "FAIL_ERRNO": "ENOSPC",
           "PYTHONPATH": str(Path(optbench.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", code, *RUN, "--workers", "2", "--out", str(out)], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert err.decode().strip().startswith("error: no space left on the device writing") and b"Traceback" not in err

    def session_is_empty() -> bool:  # the driver's session: its fork server, workers and resource tracker
        return not subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()

    deadline = time.monotonic() + 60  # a bounded poll for a state, not a guessed time
    while not session_is_empty():
        assert time.monotonic() < deadline, "processes of the failed run are still running"
        time.sleep(0.05)
