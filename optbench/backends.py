"""Execution backends: where a study's pending trials run. The driver alone ever writes the store.

- ``sequential``: every trial in this process, one after another (what ``runner.execute`` does).
- ``process``: a local pool of N worker processes (``--workers N``). Workers start with the ``spawn``
  context (no forked copies of torch's thread pools or of the driver's open files), each sets its torch
  threads to ``max(1, cores // N)`` so N workers don't oversubscribe the cores, and rebuilds the
  registry from the study's plugin list (a registry holds functions from plugin files, which need not
  pickle). Finished trials stream back and the driver records each as it arrives, so progress is live.
- ``ray``: each trial is a Ray task (``--backend ray --address ...``); results come back to the driver,
  which records them, so a Ray run resumes exactly like a local one (only missing trials are submitted).

Crash safety comes from the store (atomic per-trial files written by the driver): killing a worker or
the driver loses at most the trials in flight, and a rerun runs exactly those. A dead worker process
stops the study with a one-line :class:`~optbench.errors.OptbenchError` that says to rerun.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from optbench.errors import OptbenchError, SpecError, did_you_mean
from optbench.loop import run_trial
from optbench.plan import TaskCache
from optbench.registry import Registry, load_registry
from optbench.trial import Options, TrialConfig, TrialResult

BACKENDS = ("sequential", "process", "ray")
OnTrial = Callable[[TrialConfig, "TrialResult | None"], None]

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


def _init_process_worker(plugin_sources: list[str], threads: int) -> None:
    torch.set_num_threads(threads)
    _worker_registry(plugin_sources)


def _run_in_worker(config: TrialConfig, options: Options, plugin_sources: list[str]) -> TrialResult:
    registry, cache = _worker_registry(plugin_sources)
    return run_trial(config, registry, options, cache)


def _run_in_ray_task(config: TrialConfig, options: Options, plugin_sources: list[str], threads: int) -> TrialResult:
    torch.set_num_threads(threads)  # Ray reuses worker processes; set it for every task, it is cheap
    return _run_in_worker(config, options, plugin_sources)


def validate_backend(backend: str, workers: int, address: str | None) -> str:
    """Check the backend options; ``sequential`` with ``workers > 1`` means ``process``."""
    backend = backend.lower()
    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}{did_you_mean(backend, BACKENDS)} (known: {', '.join(BACKENDS)})")
    if workers < 1:
        raise SpecError(f"--workers must be >= 1, got {workers}")
    if address is not None and backend != "ray":
        raise SpecError(f"--address {address!r} is for --backend ray, not {backend!r}")
    if backend == "sequential" and workers > 1:
        return "process"
    return backend


def execute_processes(study: Any, workers: int, on_trial: OnTrial | None = None,
                      start_method: str = "spawn") -> None:
    """Run the pending trials in ``workers`` local processes, recording each as it finishes."""
    pending = study.pending()
    if not pending:
        return
    sources = portable_plugin_sources(study.registry)
    context = multiprocessing.get_context(start_method)
    # never more than the driver's own setting, so --threads 1 (or torch.set_num_threads) also holds in workers
    threads = min(threads_per_worker(workers), torch.get_num_threads())
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                initializer=_init_process_worker,
                                                initargs=(sources, threads)) as pool:
        futures = {pool.submit(_run_in_worker, config, study.options, sources): config for config in pending}
        in_flight = list(futures.values())
        if on_trial:
            on_trial(in_flight[0], None)
        try:
            for future in concurrent.futures.as_completed(futures):
                config = futures[future]
                result = future.result()
                study.record(result)
                in_flight.remove(config)
                if on_trial:
                    on_trial(config, result)
                    if in_flight:
                        on_trial(in_flight[0], None)
        except BrokenProcessPool:
            for future in futures:
                future.cancel()
            missing = len(study.pending())
            raise OptbenchError(f"a worker process died (killed, or out of memory); finished trials are in "
                                f"{study.store.path}; rerun the same command to run the {missing} missing "
                                "ones") from None


def _ray_init(address: str | None, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; returns True when this call started it (and so should stop it)."""
    try:
        import ray
    except ImportError:
        raise OptbenchError("--backend ray needs Ray: pip install 'optbench[ray]'") from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise OptbenchError(f"cannot connect to Ray at {address or 'a new local cluster'}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return True


def execute_ray(study: Any, address: str | None = None, workers: int | None = None,
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
    import ray

    started = _ray_init(address, workers)
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


def execute(study: Any, on_trial: OnTrial | None = None, backend: str = "sequential", workers: int = 1,
            address: str | None = None) -> None:
    """Run a study's pending trials on ``backend`` (see the module docstring)."""
    backend = validate_backend(backend, workers, address)
    if backend == "process":
        execute_processes(study, workers, on_trial)
    elif backend == "ray":
        execute_ray(study, address, workers if workers > 1 else None, on_trial)
    else:
        execute_sequential(study, on_trial)


def execute_sequential(study: Any, on_trial: OnTrial | None = None) -> None:
    """Every pending trial in this process, one after another."""
    cache = TaskCache(study.registry)
    for config in study.pending():
        if on_trial:
            on_trial(config, None)
        result = run_trial(config, study.registry, study.options, cache)
        study.record(result)
        if on_trial:
            on_trial(config, result)
