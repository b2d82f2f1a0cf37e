"""Backends: a process pool and a real local Ray cluster give the store a sequential run gives; kill -9 resumes."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import optbench
from optbench import backends, forkserver
from optbench.backends import WorkerDied, threads_per_worker, validate_backend
from optbench.errors import OptbenchError, SpecError
from optbench.study import execute, prepare

#: the bound on every wait for another process: only there so a hang fails instead of freezing the suite, so
#: generous (at load 19 on 2 cores a CLI run's start-up alone took minutes); never what a test measures
DEADLINE = 900
GRID = {"tasks": "quadratic[dim=5,n=64],saddle", "optims": "sgd[lr=0.01|0.1],adam", "steps": 40, "seeds": "0"}
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


def _wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """A bounded poll of the filesystem (or /proc): the state is what we wait for, not a guessed time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in out.split()]


def _gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for a parent that may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def _pool_workers(driver: int) -> list[int]:
    """The driver's worker processes: its children, or the fork server's children (not the helpers)."""
    workers = []
    for child in _children(driver):
        command = _cmdline(child)
        if "multiprocessing.forkserver" in command:
            workers += _children(child)
        elif "resource_tracker" not in command:
            workers.append(child)
    return workers


def _fork_server(driver: int) -> list[int]:
    return [child for child in _children(driver) if "multiprocessing.forkserver" in _cmdline(child)]


def _worker_pids() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.name.startswith("optbench-worker")]


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "optbench", "run", "-q", "--tasks", GRID["tasks"], "--optims", GRID["optims"],
            "--steps", str(GRID["steps"]), "--seeds", GRID["seeds"], "--threads", "1", "--workers", "2",
            "--out", str(out)]


def _launch(out: Path, wait_for: int) -> subprocess.Popen:
    """Start the CLI run in its own session and return once ``wait_for`` trials are in the store."""
    proc = subprocess.Popen(_cli(out), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_until(lambda: _finished(out) >= wait_for or proc.poll() is not None, DEADLINE, f"{wait_for} trial files")
    return proc


def _run_in_thread(target: Callable[[], None], seconds: float = DEADLINE) -> BaseException | None:
    """Run ``target`` with a deadline, so a hang fails the test instead of freezing the suite."""
    caught: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the study hung for {seconds} s after a worker was killed"
    return caught[0] if caught else None


def _kill_a_worker_during(out: Path, rng: random.Random) -> tuple[BaseException | None, set[str]]:
    """Run the grid on 2 workers and SIGKILL a random worker at a random trial event."""
    study = prepare(**GRID, out=out, threads=1)
    kill_at = rng.randrange(2 * len(study.configs) - 1)
    events: list[int] = []
    in_flight: set[str] = set()

    def on_trial(config, result) -> None:
        (in_flight.discard if result else in_flight.add)(config.trial_id)
        events.append(1)
        if len(events) == kill_at + 1:
            _kill_one_of(_worker_pids(), rng)

    return _run_in_thread(lambda: execute(study, on_trial, workers=2)), in_flight


def test_a_dead_worker_stops_the_study_naming_its_trial(sequential_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    study = prepare(**GRID, out=out, threads=1)
    in_flight: set[str] = set()

    def on_trial(config, result) -> None:
        (in_flight.discard if result else in_flight.add)(config.trial_id)
        if result is not None and _finished(out) == 1:
            for pid in _worker_pids():  # both: the busy one is found dead, the idle one on its next trial
                os.kill(pid, signal.SIGKILL)

    error = _run_in_thread(lambda: execute(study, on_trial, workers=2))
    assert isinstance(error, WorkerDied) and isinstance(error, OptbenchError)
    named = re.search(r"while running trial (\w+) \(", str(error))
    assert named and named.group(1) in in_flight and "killed by signal 9" in str(error)
    assert "rerun the same command" in str(error) and _finished(out) < len(study.configs)
    _wait_until(lambda: not _worker_pids(), DEADLINE, "the pool's processes to be reaped")
    execute(prepare(**GRID, out=out, threads=1))
    _assert_same_store(sequential_store, out)


def test_long_trials_are_handed_out_first(tmp_path: Path) -> None:
    study = prepare(tasks="saddle", optims="sgd,adam", steps=10, seeds="0-1", out=tmp_path / "s", threads=1)
    planned = [7, 30, None, 30]  # None: a time budget, length unknown, goes first
    study.planned_steps = {c.trial_id: steps for c, steps in zip(study.configs, planned, strict=True)}
    order = [study.configs.index(c) for c in backends.longest_first(study)]
    assert order == [2, 1, 3, 0]  # ties keep the plan's order


def test_workers_are_forks_of_a_warm_fork_server(tmp_path: Path) -> None:
    """The point of the fork server: workers do not each import torch (and torch._dynamo) again."""
    if forkserver.START_METHOD != "forkserver":
        pytest.skip("no fork server on this platform: workers are spawned")
    study = prepare(**GRID, out=tmp_path / "s", threads=1, workers=2)  # prepare starts the fork server
    parents: set[int] = set()

    def on_trial(config, result) -> None:
        if result is None:
            parents.update(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                           for pid in _worker_pids() if not _gone(pid))

    execute(study, on_trial, workers=2)
    server = forkserver.parent_of_workers("forkserver")
    assert parents == {server} and server != os.getpid()
    assert forkserver.PRELOAD == ["optbench.forkserver", "optbench.pool_server"]  # pool_server: torch._dynamo too


def test_backends_need_only_the_study_protocol(tmp_path: Path) -> None:
    """pending/record/registry/options/store is all a backend uses: a stand-in study runs."""
    study = prepare(**GRID, out=tmp_path / "s", threads=1)
    recorded: list[str] = []
    stand_in = SimpleNamespace(registry=study.registry, options=study.options, store=study.store,
                               pending=study.pending, record=lambda result: recorded.append(result.row["trial_id"]))
    backends.execute(stand_in)
    assert sorted(recorded) == sorted(c.trial_id for c in study.configs)


def test_worker_errors_cross_the_pipe_intact() -> None:
    user = backends._portable_error(SpecError("bad lr"))
    assert type(user) is SpecError and str(user) == "bad lr"

    class Local(Exception):  # a class defined in a function does not pickle
        pass

    try:
        raise Local("deep bug")
    except Local as exc:
        bug = backends._portable_error(exc)
    assert isinstance(bug, RuntimeError) and "deep bug" in str(bug) and "Traceback" in str(bug)


@pytest.mark.slow
def test_twenty_worker_kills_never_hang_lose_or_duplicate(sequential_store: Path, tmp_path: Path) -> None:
    rng = random.Random(12)
    outcomes = []
    for kill in range(20):
        out = tmp_path / f"kill{kill}"
        error, _ = _kill_a_worker_during(out, rng)
        assert error is None or isinstance(error, WorkerDied), error
        outcomes.append(type(error).__name__)
        execute(prepare(**GRID, out=out, threads=1))  # the rerun completes the store
        _assert_same_store(sequential_store, out)
    assert "WorkerDied" in outcomes


# An optimizer whose first step, in a pool worker (or a Ray worker), records the worker's pid and waits
# for a gate file the test controls: a victim chosen from these markers is certainly alive and busy when
# it is killed (a worker picked from the process table may have finished its last trial and exited in
# between: the old flake). The gate is read from the environment, so the file, and so the trials'
# identity, is the same in every run.
GATE_PLUGIN = """
import multiprocessing, os, pathlib, time, torch, optbench


class Gated(torch.optim.SGD):
    def step(self, closure=None):
        gate = os.environ.get("OPTBENCH_TEST_GATE")
        worker = multiprocessing.parent_process() is not None or "RAY_RAYLET_PID" in os.environ  # pool or Ray
        if gate and worker and not self.state.get("passed"):
            pathlib.Path(gate, f"waiting-{os.getpid()}").write_text("")
            while not pathlib.Path(gate, "open").exists():  # until the test opens it (or kills us)
                time.sleep(0.02)
            self.state["passed"] = True
        return super().step(closure)


gated = optbench.optimizer("gated", lambda params, lr=0.1: Gated(params, lr=lr), "SGD behind a gate (tests)")
"""
# 6 trials; the 2 gated ones never finish while the gate is closed, the others may finish before the kill
GATED_GRID = {**GRID, "optims": "sgd[lr=0.01],gated[lr=0.1],adam"}


@pytest.fixture(scope="module")
def gate_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plugin = tmp_path_factory.mktemp("gate") / "gate.py"
    plugin.write_text(GATE_PLUGIN)
    return plugin


@pytest.fixture(scope="module")
def gated_sequential_store(gate_plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gated-sequential") / "store"
    execute(prepare(**GATED_GRID, out=out, plugins=[str(gate_plugin)]))  # the gate only stops pool workers
    return out


def _gated_cli(out: Path, plugin: Path) -> list[str]:
    command = _cli(out)
    command[command.index(GRID["optims"])] = GATED_GRID["optims"]
    return [*command, "--plugin", str(plugin)]


def _launch_gated(out: Path, plugin: Path, gate: Path, waiting: int) -> tuple[subprocess.Popen, list[int]]:
    """Start the gated CLI run; return once ``waiting`` workers wait at the gate, with their pids."""
    gate.mkdir(exist_ok=True)
    env = {**os.environ, "OPTBENCH_TEST_GATE": str(gate)}
    proc = subprocess.Popen(_gated_cli(out, plugin), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    markers = lambda: sorted(gate.glob("waiting-*"))  # noqa: E731
    _wait_until(lambda: len(markers()) >= waiting or proc.poll() is not None, DEADLINE,
                f"{waiting} workers at the gate")
    assert proc.poll() is None, proc.communicate()
    return proc, [int(path.name.split("-")[1]) for path in markers()]


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["driver", "worker", "fork server"])
def test_kill_9_then_rerun_loses_and_duplicates_nothing(victim: str, gate_plugin: Path, gated_sequential_store: Path,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc, waiting = _launch_gated(out, gate_plugin, tmp_path / "gate", waiting=1)
    if victim == "driver":
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run dies mid-study, as on an OOM kill or power loss
        proc.wait(timeout=DEADLINE)
    else:  # a worker waiting at the gate (alive until the gate opens), or the fork server it came from
        victims = waiting[:1] if victim == "worker" else _fork_server(proc.pid)
        assert len(victims) == 1
        os.kill(victims[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 2 and b"worker process died" in err and b"Traceback" not in err
        assert b"while running trial " in err and len(err.strip().splitlines()) == 1
    assert _finished(out) < 6
    subprocess.run(_gated_cli(out, gate_plugin), check=True, capture_output=True, timeout=DEADLINE)  # no gate now
    _assert_same_store(gated_sequential_store, out)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_killing_the_driver_ends_its_workers(gate_plugin: Path, tmp_path: Path) -> None:
    proc, workers = _launch_gated(tmp_path / "orphans", gate_plugin, tmp_path / "gate", waiting=2)
    assert len(workers) == 2 and sorted(workers) == sorted(_pool_workers(proc.pid))  # both busy at the gate
    children = _children(proc.pid) + workers  # and multiprocessing's resource tracker and fork server
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, not its process group
    proc.wait(timeout=DEADLINE)
    try:
        _wait_until(lambda: all(_gone(pid) for pid in children), DEADLINE, f"the driver's children {children} to exit")
    finally:
        for pid in children:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def _kill_one_of(pids: list[int], rng: random.Random) -> bool:
    """SIGKILL a random one of ``pids`` that is still alive; False when all had exited already (a worker
    stops as soon as it has no trial left, so any pid read from the process table may be gone by now)."""
    for pid in rng.sample(pids, len(pids)):
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            continue
    return False


@pytest.mark.slow
def test_chaos_twenty_random_kills_of_driver_or_worker(sequential_store: Path, tmp_path: Path) -> None:
    rng = random.Random(2026)
    out, kills, stores = tmp_path / "chaos0", 0, 0
    while kills < 20:
        proc = _launch(out, wait_for=min(_finished(out) + rng.choice([0, 1, 1, 2]), 5))
        if proc.poll() is None:
            victim = rng.choice(["driver", "worker"])
            if victim == "worker" and _kill_one_of(_pool_workers(proc.pid), rng):
                kills += 1
            elif proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)  # the driver waits for its workers: alive until killed
                kills += 1
        proc.communicate(timeout=DEADLINE)
        assert proc.returncode in (0, 2, -signal.SIGKILL), proc.returncode
        if _finished(out) == 6:  # done: it must equal an uninterrupted run; go on with a fresh store
            subprocess.run(_cli(out), check=True, capture_output=True, timeout=DEADLINE)  # a no-op rerun
            _assert_same_store(sequential_store, out)
            stores += 1
            out = tmp_path / f"chaos{stores}"
    subprocess.run(_cli(out), check=True, capture_output=True, timeout=DEADLINE)
    _assert_same_store(sequential_store, out)


@pytest.mark.slow
def test_local_ray_cluster_gives_the_sequential_store_and_resumes(sequential_store: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'optbench[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        out = tmp_path / "ray"
        partial = prepare(tasks="saddle", optims=GRID["optims"], steps=GRID["steps"], seeds=GRID["seeds"], out=out)
        execute(partial, backend="ray")
        first = set(optbench.load(out).trials["trial_id"])
        study = prepare(**GRID, out=out)
        assert len(study.pending()) == len(study.configs) - len(first)  # resumes: only the missing trials
        execute(study, backend="ray")
        _assert_same_store(sequential_store, out)
    finally:
        ray.shutdown()


HANG_PLUGIN = """
import multiprocessing, pathlib, time, torch, optbench


class Hang(torch.optim.SGD):
    def step(self, closure=None):
        if multiprocessing.parent_process() is None:  # the driver's planning probes a step: let it pass
            return super().step(closure)
        pathlib.Path({marker!r}).write_text("started")
        while True:  # until Ctrl-C stops the run
            time.sleep(0.05)


hang = optbench.optimizer("hang", lambda params, lr=0.1: Hang(params, lr=lr), "never finishes a step")
"""


@pytest.mark.slow
def test_ctrl_c_stops_the_pool_and_its_fork_server(tmp_path: Path) -> None:
    marker, plugin, out = tmp_path / "started", tmp_path / "hang.py", tmp_path / "s"
    plugin.write_text(HANG_PLUGIN.format(marker=str(marker)))
    command = [sys.executable, "-m", "optbench", "run", "-q", "-t", "saddle", "-o", "sgd,hang", "--seeds", "0",
               "--steps", "5", "--threads", "1", "--workers", "2", "--plugin", str(plugin), "--out", str(out)]
    # a test runner started as a background job inherits SIGINT ignored: restore what a terminal gives
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_until(lambda: (marker.exists() and _finished(out) == 1) or proc.poll() is not None, DEADLINE,
                    "the sgd trial to finish and the hanging one to start")
        assert proc.poll() is None, proc.communicate()
        helpers = _children(proc.pid) + _pool_workers(proc.pid)  # fork server, resource tracker, workers
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
        _, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert b"rerun the same command" in err and b"Traceback" not in err
    assert _finished(out) == 1
    _wait_until(lambda: all(_gone(pid) for pid in helpers), DEADLINE, f"the run's helper processes {helpers} to exit")


# --workers auto: the decision is pure (load, cores, estimated work in -> a number out); no timing here
def test_auto_workers_take_the_free_cores_when_the_work_repays_the_pool() -> None:
    from optbench.backends import choose_workers

    big = [2.0] * 30  # 60 s of work in 30 trials
    assert choose_workers(big, load=0.0, cores=2).workers == 2
    assert choose_workers(big, load=0.2, cores=8).workers == 8
    assert choose_workers(big, load=3.0, cores=8).workers == 5  # three cores are others'


def test_auto_workers_stay_sequential_where_a_pool_cannot_pay() -> None:
    from optbench.backends import POOL_STARTUP_S, choose_workers

    one_busy = choose_workers([2.0] * 30, load=1.0, cores=2)  # one CPU-bound process beside us
    assert one_busy.workers == 1 and "one free core" in one_busy.reason
    tiny = choose_workers([0.05] * 8, load=0.0, cores=2)  # 0.4 s of work: the start-up alone costs more
    assert tiny.workers == 1 and "not be repaid" in tiny.reason
    assert choose_workers([100.0], load=0.0, cores=16).workers == 1  # one trial: nothing to share
    # at the break-even point the pool is not chosen; well past it, it is
    assert choose_workers([POOL_STARTUP_S] * 2, load=0.0, cores=2).workers == 1  # 2 × start-up of work
    assert choose_workers([POOL_STARTUP_S] * 20, load=0.0, cores=2).workers == 2


def test_auto_workers_count_the_longest_trial_not_only_the_total() -> None:
    from optbench.backends import choose_workers

    # one 60 s trial and a few short ones: a second worker saves at most the short ones' 3 s
    assert choose_workers([60.0, 1.0, 1.0, 1.0], load=0.0, cores=2).workers == 1
    assert choose_workers([1.0] * 60, load=0.0, cores=4).workers == 4


def test_explicit_workers_stay_as_given_and_bad_values_are_user_errors() -> None:
    from optbench.backends import parse_workers, resolve_workers

    assert resolve_workers(3, [0.01], cores=2, load=5.0).workers == 3
    assert resolve_workers("auto", [0.01], cores=2, load=0.0).workers == 1
    assert parse_workers(" Auto ") == "auto" and parse_workers("4") == 4
    for bad in ("0", "-1", "two", "1.5", True):
        with pytest.raises(SpecError, match="--workers"):
            parse_workers(bad)


def test_the_work_estimate_grows_with_steps_and_model_size() -> None:
    from optbench.backends import grid_work, trial_work
    from optbench.plan import StudySpec, TaskCache, plan
    from optbench.registry import load_registry

    assert trial_work(1000, None, 10**6) > trial_work(1000, None, 10) > trial_work(10, None, 10) > 0
    assert trial_work(10**9, 5.0, 10) <= 5.1  # a time budget bounds it
    registry = load_registry()
    cache = TaskCache(registry)
    configs = plan(StudySpec("quadratic[dim=5,n=64],quadratic[dim=200,n=64]", "sgd", steps=100, seeds="0"),
                   registry, cache)
    small, large = grid_work(configs, cache)
    assert large > small > 0


def test_auto_workers_are_decided_at_prepare_and_recorded_with_their_reason(tmp_path: Path) -> None:
    study = prepare(**GRID, out=tmp_path / "auto", workers="auto", threads=1)
    manifest = optbench.load(tmp_path / "auto").manifest["runs"][-1]["config"]
    assert study.options.workers == manifest["workers"] == 1  # a 40-step toy grid: never worth a pool
    assert "not be repaid" in manifest["workers_reason"] or "one free core" in manifest["workers_reason"]
    given = prepare(**GRID, out=tmp_path / "two", workers=2, threads=1)
    assert given.options.workers == 2 and given.run_config["workers_reason"] == "as asked (--workers)"
    with pytest.raises(SpecError, match="--workers"):
        prepare(**GRID, out=tmp_path / "bad", workers="many")


def test_a_ray_start_that_fails_is_one_line_and_leaves_nothing_running(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """ray.init raising (as it does when its processes start too slowly on a loaded machine): one line, exit 2,
    and ray.shutdown() called for what the half-finished start left running."""
    from click.testing import CliRunner

    from optbench.cli import main

    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'optbench[ray]')")
    shutdowns: list[bool] = []

    def timed_out(*args: object, **kwargs: object) -> None:
        raise Exception("The current node timed out during startup. This could happen because ...\nmore")

    monkeypatch.setattr(ray, "init", timed_out)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "shutdown", lambda: shutdowns.append(True))
    result = CliRunner().invoke(main, ["run", "-t", "quadratic[dim=3]", "-o", "sgd", "--steps", "5", "--seeds", "0",
                                       "--threads", "1", "-q", "--backend", "ray", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: cannot start a local Ray: The current node timed out during startup")
    assert result.output.count("\n") == 1 and "nothing was run" in result.output and shutdowns == [True]


# ---------------------------------------------------------------------------------------------
# the fork server dies with its driver at every point of its start-up
# ---------------------------------------------------------------------------------------------

# a preload module that records where the server got to (and its pid), then either goes on or blocks for ever
MARKER = """import os, threading
with open(os.path.join(os.environ["OPTBENCH_TEST_MARKS"], "{name}.tmp"), "w") as f:
    f.write(str(os.getpid()))
os.rename(os.path.join(os.environ["OPTBENCH_TEST_MARKS"], "{name}.tmp"),
          os.path.join(os.environ["OPTBENCH_TEST_MARKS"], "{name}"))
if {block}:
    threading.Event().wait()  # an import that never ends
"""
# where the server is when the driver is killed: the preloads it is given, and the marker to wait for
START_UP_POINTS = {
    "importing torch": ["optbench.forkserver", "mark_before_torch", "optbench.pool_server"],
    "stuck in an import": ["optbench.forkserver", "mark_stuck"],
    "serving": ["optbench.forkserver", "optbench.pool_server", "mark_ready"],
}
DRIVER = """import sys
import optbench.forkserver as fs
fs.PRELOAD[:] = sys.argv[1:]
fs.start_pool_early(2)
sys.stdin.read()  # until killed
"""


@pytest.mark.parametrize("point", list(START_UP_POINTS))
def test_the_fork_server_dies_with_its_driver_at_any_point_of_its_start_up(point: str, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    for name, block in (("mark_before_torch", False), ("mark_stuck", True), ("mark_ready", False)):
        (tmp_path / f"{name}.py").write_text(MARKER.format(name=name, block=block))
    preload = START_UP_POINTS[point]
    env = {**os.environ, "OPTBENCH_TEST_MARKS": str(marks),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(optbench.__file__).parents[1])])}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, *preload], env=env, stdin=subprocess.PIPE,
                              start_new_session=True)
    marker = marks / preload[-1 if point != "importing torch" else 1]
    server = None
    try:
        _wait_until(lambda: marker.exists() or driver.poll() is not None, DEADLINE, f"the fork server to reach {point}")
        assert driver.poll() is None, "the driver ended before the server reached the point"
        server = int(marker.read_text())
        assert not _gone(server)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=DEADLINE)
        _wait_until(lambda: _gone(server), DEADLINE, f"the fork server (pid {server}) to exit after its driver died")
    finally:  # what a failure left behind: the processes this test started, by pid
        for pid in (driver.pid, server):
            if pid is not None and not _gone(pid):
                os.kill(pid, signal.SIGKILL)
