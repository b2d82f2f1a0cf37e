"""Backends: a process pool and a real local Ray cluster give the store a sequential run gives; kill -9 resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import optbench
from optbench.backends import threads_per_worker, validate_backend
from optbench.errors import SpecError
from optbench.study import execute, prepare

GRID = {"tasks": "quadratic[dim=5,n=64],saddle", "optims": "sgd[lr=0.01|0.1],adam", "steps": 40}
VOLATILE_TRIAL_COLUMNS = ["train_time", "eval_time", "wall_time", "steps_per_second", "finished_at", "threads",
                          "threads_reason", "load_avg_start", "time_to_target"]


def _contents(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Store contents without wall-clock numbers, in a canonical order."""
    results = optbench.load(path)
    trials = results.trials.drop(columns=VOLATILE_TRIAL_COLUMNS).sort_values("trial_id", kind="stable")
    metrics = results.metrics.drop(columns="time").sort_values(["trial_id", "step", "metric"], kind="stable")
    return trials.reset_index(drop=True), metrics.reset_index(drop=True)


def _assert_same_store(a: Path, b: Path) -> None:
    trials_a, metrics_a = _contents(a)
    trials_b, metrics_b = _contents(b)
    assert len(trials_a) == len(set(trials_a["trial_id"]))
    pd.testing.assert_frame_equal(trials_a, trials_b, check_exact=True)
    pd.testing.assert_frame_equal(metrics_a, metrics_b, check_exact=True)


@pytest.fixture(scope="module")
def sequential_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sequential") / "store"
    execute(prepare(**GRID, out=out))
    return out


def test_threads_per_worker_fills_but_does_not_oversubscribe() -> None:
    assert threads_per_worker(2, cores=2) == 1
    assert threads_per_worker(3, cores=16) == 5
    assert threads_per_worker(8, cores=2) == 1


def test_backend_options_are_validated() -> None:
    assert validate_backend("sequential", 2, None) == "process"
    with pytest.raises(SpecError, match="did you mean 'process'"):
        validate_backend("proces", 1, None)
    with pytest.raises(SpecError, match="--address"):
        validate_backend("process", 2, "auto")
    with pytest.raises(SpecError, match="--workers"):
        validate_backend("process", 0, None)


def test_process_pool_gives_the_sequential_store(sequential_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "pool"
    seen: list[str] = []
    study = prepare(**GRID, out=out)
    execute(study, lambda config, result: seen.append(config.trial_id) if result else None, workers=2)
    _assert_same_store(sequential_store, out)
    assert sorted(seen) == sorted(c.trial_id for c in study.configs)
    assert set(optbench.load(out).trials["threads"]) == {threads_per_worker(2)}


def _finished(out: Path) -> int:
    return len(list((out / "trials").glob("*.parquet"))) if (out / "trials").is_dir() else 0


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["driver", "worker"])
def test_kill_9_then_rerun_loses_and_duplicates_nothing(victim: str, sequential_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "optbench", "run", "-q", "--tasks", GRID["tasks"], "--optims", GRID["optims"],
               "--steps", str(GRID["steps"]), "--workers", "2", "--out", str(out)]
    # a new session, so the driver and its workers form one process group we can kill at once
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _finished(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed; make the grid longer"
    killed_at = _finished(out)
    if victim == "driver":
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run dies mid-study, as on an OOM kill or power loss
        proc.wait(timeout=30)
    else:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        workers = [int(pid) for pid in children]
        assert workers
        os.kill(workers[-1], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and b"worker process died" in err and b"Traceback" not in err
    assert killed_at < 6 and _finished(out) < 6
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    _assert_same_store(sequential_store, out)


@pytest.mark.slow
def test_local_ray_cluster_gives_the_sequential_store_and_resumes(sequential_store: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'optbench[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        out = tmp_path / "ray"
        partial = prepare(tasks="saddle", optims=GRID["optims"], steps=GRID["steps"], out=out)
        execute(partial, backend="ray")
        first = set(optbench.load(out).trials["trial_id"])
        study = prepare(**GRID, out=out)
        assert len(study.pending()) == len(study.configs) - len(first)  # resumes: only the missing trials
        execute(study, backend="ray")
        _assert_same_store(sequential_store, out)
    finally:
        ray.shutdown()
