"""Execution backends: where a study's pending trials run. The driver alone ever writes the store.

- ``sequential``: every trial in this process, one after another.
- ``process``: a small explicit pool of N worker processes (``--workers N``), started once per study.
  Workers are forked from multiprocessing's *fork server* (``spawn`` where there is none; see
  :mod:`optbench.forkserver`): one clean process, started as soon as a study with workers is prepared
  (or earlier by the command line), that imports torch and optbench once -- while the driver works --
  and never runs a torch operation, so its forks share no thread pool or open file with the driver and
  start in milliseconds instead of paying ~3 s of imports each. Each worker sets its torch threads to
  ``max(1, cores // N)`` (never more than the driver's own setting), rebuilds the registry from the
  study's plugin list (a registry holds functions from plugin files, which need not pickle) and keeps it
  and its task cache for the whole study, so each task's data is loaded once per worker. The driver
  talks to each worker over its own pipe, one trial at a time, and waits on the pipes *and* the process
  sentinels together (``multiprocessing.connection.wait``), so a worker that dies is seen the moment it
  dies, without polling. Trials are handed out longest first (by planned steps), so the last to finish
  are short ones; a worker left without trials is stopped at once, and a stopped worker exits without
  the interpreter's slow teardown (it holds nothing that needs it).
- ``--workers auto`` (:func:`choose_workers`): as many processes as the machine has free cores (its cores
  minus the load average others put on it, :func:`optbench.threads.free_cores`), but only where the pool
  pays for itself: the grid's estimated work (planned steps × a per-step cost estimate, :func:`grid_work`)
  spread over the workers, plus the pool's start-up, must beat running it sequentially by a margin. A
  tiny grid, one trial, or a machine with one free core gets 1 (sequential), so asking for workers never
  costs time; the number and its reason are recorded in the manifest. An explicit ``--workers N`` is
  used as given.
- ``ray``: each trial is a Ray task (``--backend ray --address ...``); results come back to the driver,
  which records them, so a Ray run resumes exactly like a local one (only missing trials are submitted).

Crash safety comes from the store (atomic per-trial files written by the driver): killing a worker or
the driver loses at most the trials in flight, and a rerun runs exactly those. A worker that dies stops
the study: the other workers are stopped and :class:`WorkerDied` (an :class:`~optbench.errors.OptbenchError`,
so exit 2 on the CLI) names the trial it was running and says to rerun. Workers die with their driver:
on Linux the kernel kills them when their parent (the fork server, which itself exits when the driver
does) dies (``PR_SET_PDEATHSIG``), and everywhere a thread in each worker waits on a pipe that only the
driver holds open, which the OS closes when the driver dies however it dies.

This module sees the study only through :class:`StudyLike` and calls only trial-level functions; it never
imports the study module, so data flows one way: study → backends → trial.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

import torch

from optbench.errors import OptbenchError, SpecError, did_you_mean
from optbench.forkserver import START_METHOD, parent_of_workers
from optbench.loop import run_trial
from optbench.plan import TaskCache, total_steps
from optbench.registry import Registry, load_registry
from optbench.threads import free_cores, machine_load
from optbench.trial import Options, TrialConfig, TrialResult

BACKENDS = ("sequential", "process", "ray")
OnTrial = Callable[[TrialConfig, "TrialResult | None"], None]
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class StudyLike(Protocol):
    """What a backend needs of a study: its pending trials, where results go, and how trials run."""

    registry: Registry
    options: Options
    store: Any  # optbench.store.Store

    def pending(self) -> list[TrialConfig]: ...

    def record(self, result: TrialResult) -> None: ...


class WorkerDied(OptbenchError):
    """A worker process ended while running a trial (killed, out of memory, or crashed in native code)."""


# per-process state of a worker: its registry and task cache, keyed by the plugin list they came from
_worker_state: dict[tuple[str, ...], tuple[Registry, TaskCache]] = {}


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads each of ``workers`` processes gets so that together they fill, not exceed, the cores."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def portable_plugin_sources(registry: Registry) -> list[str]:
    """The registry's plugin list with file paths made absolute (workers may run in another directory)."""
    sources = []
    for source in registry.plugin_sources:
        path = Path(source)
        sources.append(str(path.resolve()) if source.endswith(".py") or path.is_file() else source)
    return sources


def _worker_registry(plugin_sources: Sequence[str]) -> tuple[Registry, TaskCache]:
    key = tuple(plugin_sources)
    if key not in _worker_state:
        # plugin_dir=None: the driver's ./plugins files are already in its plugin list (as absolute paths)
        registry = load_registry(plugins=plugin_sources, plugin_dir=None)
        _worker_state[key] = (registry, TaskCache(registry))
    return _worker_state[key]


#: what starting the pool costs before its first trial (fork server imports, each worker's first task
#: load): 1.5-2.8 s measured on 2 cores (docs/scale.md, benchmarks/parallel_backends.py)
POOL_STARTUP_S = 2.0
#: a pool must beat sequential by this share of the sequential time to be chosen (the estimate is rough)
POOL_MARGIN = 0.1
#: per-step cost estimate on one idle core: a fixed part (a toy step with its records and evaluations:
#: 32 toy trials × 400 steps took ≈ 6 s of trial time), and seconds per parameter × example (forward +
#: backward ≈ 6 flop at a few Gflop/s); plus set-up and writing per trial
STEP_S, PRODUCT_S, TRIAL_S = 4e-4, 2e-9, 0.05


@dataclass(frozen=True)
class WorkerChoice:
    workers: int
    reason: str


def parse_workers(value: int | str) -> int | str:
    """``auto`` or a whole number >= 1 (``--workers``); anything else is a user error."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SpecError(f"--workers must be 'auto' or a whole number >= 1, got {value!r}") from None
    if isinstance(value, bool) or number < 1 or str(number) != str(value).strip():
        raise SpecError(f"--workers must be 'auto' or a whole number >= 1, got {value!r}")
    return number


def trial_work(steps: int | None, seconds: float | None, step_size: int) -> float:
    """Estimated seconds of one trial on one idle core (``seconds`` when a time budget bounds it)."""
    estimate = TRIAL_S + (steps or 0) * (STEP_S + PRODUCT_S * step_size)
    return min(estimate, seconds + TRIAL_S) if seconds is not None else estimate


def choose_workers(work: list[float], load: float, cores: int, startup: float = POOL_STARTUP_S) -> WorkerChoice:
    """Processes for trials of estimated ``work`` seconds each, on ``cores`` with ``load`` (pure).

    Expected time with n workers: ``startup`` plus the longest worker's share when the trials are handed
    out longest first; n > 1 only where that beats sequential by :data:`POOL_MARGIN`, and never more
    workers than free cores (others' load counted) or trials."""
    total, free = sum(work), free_cores(1, cores, load).threads
    limit = min(free, len(work))
    where = f"load {load:.1f} on {cores} cores, {len(work)} trials, ~{total:.1f} s of work"
    best, best_time = 1, total
    for n in range(2, limit + 1):
        expected = startup + _makespan(work, n)
        if expected <= (1 - POOL_MARGIN) * total and expected < best_time:
            best, best_time = n, expected
    if best > 1:
        return WorkerChoice(best, f"{where}: {best} workers, ~{best_time:.1f} s expected")
    if limit <= 1:
        why = "one trial" if len(work) <= 1 else "one free core"
        return WorkerChoice(1, f"{where}: sequential ({why})")
    return WorkerChoice(1, f"{where}: sequential (a pool's ~{startup:g} s start-up would not be repaid)")


def _makespan(work: list[float], n: int) -> float:
    """The longest of ``n`` workers' loads when trials are handed out longest first to the least loaded."""
    loads = [0.0] * n
    for seconds in sorted(work, reverse=True):
        loads[loads.index(min(loads))] += seconds
    return max(loads)


def grid_work(configs: Sequence[TrialConfig], cache: TaskCache) -> list[float]:
    """Each trial's estimated seconds (:func:`trial_work`), from its task's size and its planned steps."""
    sizes: dict[str, int] = {}
    work = []
    for config in configs:
        task = cache.get(config.task, config.task_params)
        if config.task_key not in sizes:  # one model per task configuration, only to count its parameters
            sizes[config.task_key] = sum(p.numel() for p in task.init_model(0).parameters() if p.requires_grad)
        batch = task.n_train if config.batch_size == "full" else min(int(config.batch_size), task.n_train)
        steps = total_steps(config.budget, -(-task.n_train // batch))
        work.append(trial_work(steps if steps < 10**12 else None, config.budget.seconds,
                               sizes[config.task_key] * batch))
    return work


def decide_workers(requested: int | str, pending: Sequence[TrialConfig], cache: TaskCache) -> WorkerChoice:
    """The study's worker count: as given, or for ``auto`` from its pending trials and this machine now."""
    requested = parse_workers(requested)
    if requested != "auto":
        return WorkerChoice(int(requested), "as asked (--workers)")
    return resolve_workers("auto", grid_work(pending, cache))


def resolve_workers(requested: int | str, work: list[float], cores: int | None = None,
                    load: float | None = None) -> WorkerChoice:
    """``--workers`` as given, or for ``auto`` :func:`choose_workers` on this machine now."""
    requested = parse_workers(requested)
    if requested != "auto":
        return WorkerChoice(int(requested), "as asked (--workers)")
    cores = cores or os.cpu_count() or 1
    return choose_workers(work, machine_load() if load is None else load, cores)


def validate_backend(backend: str, workers: int, address: str | None) -> str:
    """Check the backend options; ``sequential`` with ``workers > 1`` means ``process``."""
    backend = backend.lower()
    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}{did_you_mean(backend, BACKENDS)} (known: {', '.join(BACKENDS)})")
    if workers < 1:
        raise SpecError(f"--workers must be >= 1, got {workers}")
    if address is not None and backend != "ray":
        raise SpecError(f"--address {address!r} is for --backend ray, not {backend!r}")
    _ray_host_port(address)
    if backend == "sequential" and workers > 1:
        return "process"
    return backend


# ---------------------------------------------------------------------------------------------
# sequential
# ---------------------------------------------------------------------------------------------

def execute_sequential(study: StudyLike, on_trial: OnTrial | None = None) -> None:
    """Run the pending trials one after another in this process, recording each as it ends."""
    cache = TaskCache(study.registry)
    for config in study.pending():
        if on_trial:
            on_trial(config, None)
        result = run_trial(config, study.registry, study.options, cache)
        study.record(result)
        if on_trial:
            on_trial(config, result)


# ---------------------------------------------------------------------------------------------
# the worker side of the process pool
# ---------------------------------------------------------------------------------------------

def _exit_when_parent_dies(parent_pid: int | None) -> None:
    """Make this worker end with its driver: the kernel's parent-death signal, and a watcher thread.

    ``parent_pid``: the process that forked this one (the fork server, or the driver under spawn)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the thread below still ends the worker
        if parent_pid is not None and os.getppid() != parent_pid:  # it died before prctl took effect
            os._exit(1)
    driver = multiprocessing.parent_process()  # the driver, under spawn and fork server alike
    if driver is None:
        return
    # the sentinel is a pipe whose other end only the driver holds: readable (EOF) once the driver is gone
    threading.Thread(target=lambda: (wait([driver.sentinel]), os._exit(1)), daemon=True,
                     name="optbench-parent-watch").start()


def exit_without_teardown() -> None:
    """End this process now, streams flushed, skipping the interpreter's teardown (~0.7 s with torch).

    For processes that hold nothing the teardown must finish: a stopped worker (no file of the store)
    and the pool's fork server (:mod:`optbench.pool_server`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def _portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it pickles (user errors keep their type and one-line message), else a RuntimeError."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"in an optbench worker:\n{text}")
    if not isinstance(exc, OptbenchError) and hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(f"in an optbench worker:\n{text}")
    return exc


def _worker_main(conn: Connection, plugin_sources: list[str], threads: int, parent_pid: int | None) -> None:
    """A worker: load the registry once, then run trials sent over ``conn`` until told to stop."""
    _exit_when_parent_dies(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops us
    torch.set_num_threads(threads)
    try:
        registry, cache = _worker_registry(plugin_sources)
        startup_error: BaseException | None = None
    except Exception as exc:  # reported with the first trial, where the driver is listening
        startup_error = exc
    while True:
        try:
            message = conn.recv()
        except EOFError:
            exit_without_teardown()
        if message is None:
            exit_without_teardown()
        config, options = message
        try:
            if startup_error is not None:
                raise startup_error
            reply: tuple[str, Any] = ("result", run_trial(config, registry, options, cache))
        except Exception as exc:
            reply = ("error", _portable_error(exc))
        conn.send(reply)


# ---------------------------------------------------------------------------------------------
# the driver side of the process pool
# ---------------------------------------------------------------------------------------------

class _Worker:
    """One worker process, its pipe, and the trial it is running (None when idle)."""

    def __init__(self, context: Any, plugin_sources: list[str], threads: int, number: int):
        self.conn, child = context.Pipe()
        parent_pid = parent_of_workers(context.get_start_method())
        self.process = context.Process(target=_worker_main, args=(child, plugin_sources, threads, parent_pid),
                                       name=f"optbench-worker-{number}", daemon=True)
        self.process.start()
        child.close()  # the worker holds the only other end: its death is EOF here
        self.trial: TrialConfig | None = None

    def start(self, config: TrialConfig, options: Options) -> bool:
        """Hand ``config`` to the worker; False when the worker is already gone."""
        self.trial = config
        try:
            self.conn.send((config, options))
        except OSError:  # BrokenPipeError: it died while idle
            return False
        return True

    def reply(self) -> tuple[str, Any] | None:
        """The worker's answer for its trial, or None when it died without one."""
        try:
            if self.conn.poll():  # an answer sent just before dying still counts
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        return None

    def death(self, store_path: Path, missing: int) -> WorkerDied:
        self.process.join(timeout=10)  # it is dead or dying: this reaps it and gives its exit code
        code = self.process.exitcode
        how = (f"killed by signal {-code}" if code is not None and code < 0
               else f"exit code {code}" if code is not None else "no exit code")
        trial = self.trial
        what = f"trial {trial.trial_id} ({trial.label})" if trial else "no trial"
        return WorkerDied(f"a worker process died ({how}; pid {self.process.pid}) while running {what}; "
                          f"finished trials are in {store_path}; rerun the same command to run the "
                          f"{missing} missing ones")

    def stop(self, graceful: bool) -> None:
        if graceful and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
        else:
            self.process.kill()

    def close(self) -> None:
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        self.process.close()


def longest_first(study: StudyLike) -> list[TrialConfig]:
    """The pending trials, those with the most planned steps first (time budgets, unknown, lead).

    Handing out long trials first leaves short ones for the end, so workers finish close together. The
    order is stable (plan order among equals) and changes no trial's numbers: each is seeded alone."""
    planned: dict[str, int | None] = getattr(study, "planned_steps", None) or {}
    return sorted(study.pending(), key=lambda config: -(planned.get(config.trial_id) or 10**18))


def _hand_out(worker: _Worker, queue: deque[TrialConfig], study: StudyLike, on_trial: OnTrial | None) -> None:
    if not queue:
        worker.trial = None
        worker.stop(graceful=True)  # nothing left for it: let it exit while the others finish
        return
    config = queue.popleft()
    if on_trial:
        on_trial(config, None)
    if not worker.start(config, study.options):
        raise worker.death(study.store.path, len(study.pending()))


def _collect(pool: list[_Worker], queue: deque[TrialConfig], study: StudyLike, on_trial: OnTrial | None) -> None:
    """Wait until some worker answers or dies; record answers and hand out the next trials."""
    busy = [w for w in pool if w.trial is not None]
    ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
    for worker in busy:
        if worker.conn not in ready and worker.process.sentinel not in ready:
            continue
        answer = worker.reply()
        if answer is None:
            raise worker.death(study.store.path, len(study.pending()))
        kind, payload = answer
        if kind == "error":
            raise payload
        config, worker.trial = worker.trial, None
        study.record(payload)
        if on_trial:
            on_trial(config, payload)  # type: ignore[arg-type]
        _hand_out(worker, queue, study, on_trial)


def execute_processes(study: StudyLike, workers: int, on_trial: OnTrial | None = None,
                      start_method: str = START_METHOD) -> None:
    """Run the pending trials in ``workers`` local processes (started once), recording each as it ends."""
    queue = deque(longest_first(study))
    if not queue:
        return
    sources = portable_plugin_sources(study.registry)
    context = multiprocessing.get_context(start_method)
    # never more than the driver's own setting, so --threads 1 (or torch.set_num_threads) also holds in workers
    threads = min(threads_per_worker(workers), torch.get_num_threads())
    pool: list[_Worker] = []
    finished = False
    try:
        for number in range(min(workers, len(queue))):
            pool.append(_Worker(context, sources, threads, number))
        for worker in pool:
            _hand_out(worker, queue, study, on_trial)
        while any(w.trial is not None for w in pool):
            _collect(pool, queue, study, on_trial)
        finished = True
    finally:
        for worker in pool:
            worker.stop(graceful=finished)  # on any error the trials in flight are lost anyway
        for worker in pool:
            worker.close()


def _run_in_ray_task(config: TrialConfig, options: Options, plugin_sources: list[str], threads: int) -> TrialResult:
    torch.set_num_threads(threads)  # Ray reuses worker processes; set it for every task, it is cheap
    registry, cache = _worker_registry(plugin_sources)
    return run_trial(config, registry, options, cache)


def _ray_init(address: str | None, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; returns True when this call started it (and so should stop it)."""
    try:
        import ray
    except ImportError:
        raise OptbenchError("--backend ray needs Ray: pip install 'optbench[ray]'") from None
    if ray.is_initialized():
        return False
    _check_reachable(address)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # Ray raises bare Exception (and TimeoutError) when its processes start too slowly
        _shut_down_ray(ray)  # what a half-finished start left running (GCS, raylet) must not outlive us
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptbenchError(f"cannot {'connect to Ray at ' + address if address else 'start a local Ray'}: "
                            f"{first} ({type(exc).__name__}); nothing was run and no Ray process is left "
                            "running; rerun when the machine is less loaded, or give --address of a running "
                            "cluster") from None
    return True


#: seconds to wait for a Ray head's port to accept a connection before saying it cannot be reached (ray.init
#: itself retries an unreachable GCS for minutes, printing a warning every few seconds)
RAY_CONNECT_TIMEOUT = 10.0


def _ray_host_port(address: str | None) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` address; None for none, ``auto`` and ``ray://`` (Ray's to find)."""
    if not address or address == "auto" or "://" in address:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SpecError(f"--address must be auto, host:port or ray://host:port, got {address!r}")
    return host, int(port)


def _check_reachable(address: str | None) -> None:
    """Refuse at once a ``host:port`` nothing listens on."""
    import socket

    where = _ray_host_port(address)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=RAY_CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise OptbenchError(f"cannot connect to Ray at {address}: {exc.strerror or exc or 'timed out'} (is "
                            "`ray start --head` running there?); nothing was run") from None


def _shut_down_ray(ray: Any) -> None:
    """``ray.shutdown()``, which must not turn one failure into two."""
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001 - already reporting the failure that matters
        pass


def execute_ray(study: StudyLike, address: str | None = None, workers: int | None = None,
                on_trial: OnTrial | None = None, threads: int = 1) -> None:
    """Run every pending trial as a Ray task (1 CPU each) and record results as they come back.

    ``address``: an existing cluster (``auto``, ``host:port`` or ``ray://host:port``); without it an
    already initialised Ray is used, else a local one is started with ``workers`` CPUs (and stopped after).
    Workers must be able to import optbench and read the plugin files (same paths) -- true on one machine;
    on a cluster, install optbench on the nodes (or ship it with a Ray runtime_env).
    """
    pending = study.pending()
    if not pending:
        return
    started = _ray_init(address, workers)  # first: it says how to install Ray when it is missing
    import ray

    try:
        sources = portable_plugin_sources(study.registry)
        remote = ray.remote(num_cpus=1, max_retries=2)(_run_in_ray_task)
        options_ref = ray.put(study.options)
        refs = {remote.remote(config, options_ref, sources, threads): config for config in pending}
        waiting = list(refs)
        if on_trial:
            on_trial(pending[0], None)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            config = refs[done[0]]
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                for ref in waiting:
                    ray.cancel(ref, force=True)
                raise OptbenchError(f"Ray task for trial {config.trial_id} failed "
                                    f"({type(exc).__name__}); finished trials are in {study.store.path}; "
                                    "rerun the same command to run the missing ones") from None
            study.record(result)
            if on_trial:
                on_trial(config, result)
                if waiting:
                    on_trial(refs[waiting[0]], None)
    finally:
        if started:
            ray.shutdown()


def execute(study: StudyLike, on_trial: OnTrial | None = None, backend: str = "sequential", workers: int = 1,
            address: str | None = None) -> None:
    """Run a study's pending trials on ``backend`` (see the module docstring), then release the store's lock."""
    backend = validate_backend(backend, workers, address)
    try:
        if backend == "process":
            execute_processes(study, workers, on_trial)
        elif backend == "ray":
            execute_ray(study, address, workers if workers > 1 else None, on_trial)
        else:
            execute_sequential(study, on_trial)
    finally:
        release = getattr(study.store, "release", None)
        if release is not None:
            release()
