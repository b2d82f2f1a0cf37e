"""Running a suite: every optimizer on every workload under the suite's equal-budget tuning protocol.

For each workload, the optimizers given without a learning rate are tuned by :mod:`optbench.tune` (exactly
the same number of search trials for each, first round and refinement together; the chosen setting is rerun
on fresh seeds), and those given *with* one
(``sgd[lr=1e-5]``) are run as given on the same fresh seeds -- AlgoPerf's self-tuning track: no search
budget used. Everything lands in one store, with ``suite.json`` saying which trials answer which
workload, and ``tune.json`` holding every workload's tuning choices (what ``optbench report`` reads).

:func:`tune_workload` is the single seam to the tuning API.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from optbench.errors import SpecError
from optbench.registry import Registry, load_registry
from optbench.spec import Spec, parse_list
from optbench.store import Store
from optbench.suite.definition import ResolvedTarget, Suite, Workload

SUITE_FILE = "suite.json"
Say = Callable[[str], None]


def _budget(workload: Workload) -> dict[str, Any]:
    return {"batch_sizes": str(workload.batch_size), "steps": workload.steps, "epochs": workload.epochs,
            "eval_every": workload.eval_every}


def tune_workload(workload: Workload, optims: list[Spec], suite: Suite, target: ResolvedTarget, out: Path,
                  device: str, registry: Registry, run_study: Callable[[Any], None]) -> list[dict[str, Any]]:
    """The one adapter to :func:`optbench.tune.tune`: tune ``optims`` on ``workload``, return the choices.

    Selection is by the workload's target metric at its final value, in the direction the task declares
    (tune reads the declaration; nothing is guessed from the name).
    """
    from optbench.tune import tune

    protocol = suite_protocol(suite, target.metric)
    result = tune(workload.task, ",".join(spec.label for spec in optims), protocol, out=out, device=device,
                  registry=registry, run_study=run_study, **_budget(workload))
    return [{"optimizer": c["optimizer"], "chosen": c["chosen"], "tuned": True, "selected_by": c["score_column"],
             "direction": c["direction"], "search_trials": list(c["search_trials"]),
             "final_trials": list(c["final_trials"]), "edges": c.get("edges", []),
             "tuning": {k: v for k, v in c.items() if k not in ("search_trials", "final_trials")}}
            for c in result["choices"]]


def suite_protocol(suite: Suite, metric: str = "auto") -> Any:
    """The suite's tuning protocol (:class:`optbench.tune.Protocol`) selecting by ``metric``; what the suite
    leaves out takes the protocol's defaults. Raises :class:`SpecError` for unknown keys or bad values."""
    from dataclasses import fields

    from optbench.tune import Protocol

    known = {f.name for f in fields(Protocol)} - {"metric"}
    unknown = sorted(set(suite.protocol) - known)
    if unknown:
        raise SpecError(f"suite {suite.name!r}: unknown protocol key(s) {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(known))})")
    try:
        return Protocol(**{**suite.protocol, "metric": metric})
    except TypeError as exc:
        raise SpecError(f"suite {suite.name!r}: protocol {suite.protocol}: {exc}") from None


def _declared(registry: Registry, task_name: str, params: dict[str, Any]) -> dict[str, Any]:
    from optbench.plan import TaskCache

    return TaskCache(registry).get(task_name, params).declared_metrics()


def final_seeds(suite: Suite) -> list[int]:
    """The fresh seeds every chosen (or given) setting is rerun on: search seed + 1, + 2, ..."""
    start = int(suite.protocol.get("search_seed", 0))
    return [start + 1 + i for i in range(int(suite.protocol["seeds"]))]


def run_given(workload: Workload, spec: Spec, suite: Suite, out: Path, device: str, registry: Registry,
              run_study: Callable[[Any], None]) -> dict[str, Any]:
    """Run a fully given setting (its lr fixed) on the suite's fresh seeds, without a search."""
    from optbench.study import prepare

    study = prepare(workload.task, [spec], seeds=final_seeds(suite), out=out, device=device, registry=registry,
                    **_budget(workload))
    run_study(study)
    return {"optimizer": spec.label, "chosen": spec.label, "tuned": False, "selected_by": None, "direction": None,
            "search_trials": [], "final_trials": [c.trial_id for c in study.configs], "edges": [], "tuning": None}


def study_runner(threads: int | str, backend: str, workers: int, address: str | None,
                 save_checkpoints: bool = False, progress: bool = False) -> Callable[[Any], None]:
    """How each planned phase runs: the thread policy, backend and workers the user chose; no checkpoints;
    ``progress``: with the study's progress bars (steps and ETA) on the console."""
    from optbench.study import execute

    if progress:
        from optbench.console import run_with_progress as execute  # an observer: it executes the same study

    def run_study(study: Any) -> None:
        study.options.threads = threads  # tune's phases are planned with the defaults; the suite pins these
        study.options.workers = workers
        study.options.save_checkpoints = save_checkpoints
        execute(study, backend=backend, workers=workers, address=address)

    return run_study


def split_optims(optims: str, registry: Registry) -> tuple[list[Spec], list[Spec]]:
    """(to tune, given as is): a spec that fixes ``lr`` is run as given; the others are tuned."""
    tuned, given = [], []
    for spec in parse_list(optims):
        entry = registry.get("optimizer", spec.name)
        if "lr" in spec.params:
            given.append(spec)
        elif entry.lr_range is None and not getattr(entry, "search_space", None):
            raise SpecError(f"optimizer {entry.name!r} ({entry.source}) declares no search space; give its "
                            f"lr to run it as given, e.g. {entry.name}[lr=0.01]")
        else:
            tuned.append(spec)
    labels = [s.label for s in tuned + given]
    if len(set(labels)) != len(labels):
        raise SpecError(f"--optims names an optimizer twice: {optims!r}")
    return tuned, given


def run_suite(suite: Suite, optims: str, out: str | Path, *, workloads: str | None = None,
              registry: Registry | None = None, threads: int | str = 1, backend: str = "sequential",
              workers: int = 1, address: str | None = None, device: str = "cpu", say: Say | None = None,
              progress: bool = False) -> Path:
    """Run ``optims`` through ``suite`` (or the ``workloads`` it matches) into the store at ``out``.

    Returns the store's path. Resumable: rerun to go on. The store records the whole suite's definition."""
    registry = registry or load_registry()
    say = say or (lambda _line: None)
    tuned, given = split_optims(optims, registry)
    out = Path(out)
    chosen = suite.select(workloads).workloads
    if tuned:
        suite_protocol(suite)  # a bad protocol fails before any training
    targets = {w.id: w.resolve_target(registry) for w in chosen}  # every target checked before training
    run_study = study_runner(threads, backend, workers, address, progress=progress)
    record = _start_record(suite, out)
    record["definition"] = suite.to_json()
    record["runs"].append({"optims": optims, "threads": threads, "backend": backend, "workers": workers,
                           "started": _now(), "load_avg_start": list(os.getloadavg())})
    started = time.perf_counter()
    for number, workload in enumerate(chosen, 1):
        say(f"workload {number}/{len(chosen)}: {workload.id}")
        clock = time.perf_counter()
        choices = (tune_workload(workload, tuned, suite, targets[workload.id], out, device, registry, run_study)
                   if tuned else [])
        choices += [run_given(workload, spec, suite, out, device, registry, run_study) for spec in given]
        _merge_workload(record, workload, targets[workload.id], choices, time.perf_counter() - clock)
        _write_record(out, record, time.perf_counter() - started)
        say(f"{workload.id}: {', '.join(c['chosen'] for c in choices)} ({time.perf_counter() - clock:.0f} s)")
    return out


def _start_record(suite: Suite, out: Path) -> dict[str, Any]:
    """The store's suite record so far (a rerun adds optimizers to it), checked to be the same suite."""
    path = out / SUITE_FILE
    if path.is_file():
        record = json.loads(path.read_text())
        if (record["suite"], record["version"]) != (suite.name, suite.version):
            raise SpecError(f"{out} holds suite {record['suite']} v{record['version']}, not {suite.name} "
                            f"v{suite.version}; use another --out")
        return record
    return {"suite": suite.name, "version": suite.version, "definition": suite.to_json(),
            "final_seeds": final_seeds(suite), "workloads": {}, "runs": []}


def _merge_workload(record: dict[str, Any], workload: Workload, target: ResolvedTarget,
                    choices: list[dict[str, Any]], seconds: float) -> None:
    fresh = {"task": workload.task, "definition": workload.__dict__, "target": target.__dict__, "choices": {}}
    entry = record["workloads"].get(workload.id)
    if entry is None or {k: entry.get(k) for k in ("definition", "target")} != {k: fresh[k] for k in
                                                                              ("definition", "target")}:
        entry = record["workloads"][workload.id] = fresh  # a changed workload's old choices answer another question
    for choice in choices:
        entry["choices"][choice["optimizer"]] = {**choice, "wall_seconds": round(seconds / len(choices), 2)}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_record(out: Path, record: dict[str, Any], elapsed: float) -> None:
    """``suite.json`` plus a merged ``tune.json`` (every workload's choices) for the report."""
    store = Store(out)
    record["runs"][-1].update(finished=_now(), elapsed_s=round(elapsed, 1), load_avg_end=list(os.getloadavg()))
    store.write_json(SUITE_FILE, record)
    choices = [{**c["tuning"], "search_trials": c["search_trials"], "final_trials": c["final_trials"]}
               for w in record["workloads"].values() for c in w["choices"].values() if c["tuned"]]
    from optbench.tune import significance  # the judge's verdict on each workload's fresh seeds, as tune writes

    store.write_json("tune.json", {"protocol": record["definition"]["protocol"], "final_seeds": record["final_seeds"],
                                   "store": str(out), "choices": choices, "suite": record["suite"],
                                   "significance": significance(store, choices) if choices else []})
