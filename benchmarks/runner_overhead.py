"""Per-step cost of optbench's trial loop against a bare PyTorch loop on the same tensors, on the toy tasks.

Both sides run in this process, interleaved repeat by repeat (bare, optbench, bare, optbench, ...), with one
torch thread each (what ``--threads auto`` gives a tiny step), on the same model initialisation, batches
(the full batch, or the same permutation generator) and optimizer, so the trajectories are identical. The
bare loop is the floor: zero_grad, forward, backward, step, under one clock for the whole loop (no loss
read-back, no schedule, no records). optbench's *timed* step is its ``train_time / steps`` (the clock
covers the update only: batch, lr, forward, backward, step); its *wall* step is the whole trial (records,
evaluations, divergence monitor, summary) divided by its steps, and its *CPU* ratio the same in process
CPU time (what the bookkeeping costs, less moved by other programs than wall time). Each line gives the
median over the repeats of the per-repeat ratio optbench/bare, and its spread (min–max over the repeats);
the load average before and after is printed, since on a shared machine a loaded repeat moves both sides
of its pair.

    python benchmarks/runner_overhead.py [--steps 200] [--repeats 7] [--cases logistic,rosenbrock]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from optbench.loop import run_trial
from optbench.plan import StudySpec, TaskCache, plan
from optbench.registry import load_registry
from optbench.threads import machine_load
from optbench.trial import Options

CASES = (("quadratic", "full"), ("quadratic[dim=200,n=4096]", "64"), ("logistic", "full"), ("logistic", "32"),
         ("rosenbrock", "full"), ("double-well", "full"), ("himmelblau", "full"))
LR = {"rosenbrock": "[lr=0.001]"}  # sgd's default lr diverges there in 3 steps


def bare_loop(task: Any, config: Any, registry: Any, steps: int) -> tuple[float, float]:
    """Seconds per step (wall, CPU) of the plain update loop on the trial's model, batches and optimizer."""
    model = task.init_model(config.seed)
    model.train()
    opt = registry.get("optimizer", config.optimizer).create(list(model.parameters()), **config.optimizer_params)
    n = task.n_train
    size = n if config.batch_size == "full" else int(config.batch_size)
    order = torch.Generator().manual_seed(config.seed)
    full = task.train_batch(torch.arange(n)) if size == n else None
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while done < steps:
        perm = torch.randperm(n, generator=order) if full is None else None
        for start in range(0, n, size):
            batch = full if perm is None else task.train_batch(perm[start:start + size])
            opt.zero_grad(set_to_none=True)
            task.loss(model, batch).backward()
            opt.step()
            done += 1
            if done >= steps:
                break
    return (time.perf_counter() - started) / steps, (time.process_time() - cpu) / steps


def one_case(registry: Any, cache: TaskCache, task_spec: str, batch: str, optim: str, args: Any) -> str:
    config = plan(StudySpec(task_spec, optim, batch_sizes=batch, steps=args.steps, seeds="0"), registry, cache)[0]
    task = cache.get(config.task, config.task_params)
    options = Options(save_checkpoints=False, threads=1)
    timed, wall, cpu = [], [], []
    for _ in range(args.repeats):
        bare, bare_cpu = bare_loop(task, config, registry, args.steps)
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_trial(config, registry, options, cache)
        steps = result.row["steps"]
        timed.append(result.row["train_time"] / steps / bare)
        wall.append((time.perf_counter() - started) / steps / bare)
        cpu.append((time.process_time() - cpu_started) / steps / bare_cpu)
        if steps != args.steps:
            return f"{task_spec:<26} {batch:>4} {optim:<15} stopped at step {steps} ({result.row['status']}): skipped"
    return (f"{task_spec:<26} {batch:>4} {optim:<15} {bare * 1e6:>8.0f} µs "
            f"{statistics.median(timed):>6.2f} ({min(timed):.2f}–{max(timed):.2f}) "
            f"{statistics.median(wall):>6.2f} ({min(wall):.2f}–{max(wall):.2f}) "
            f"{statistics.median(cpu):>6.2f} ({min(cpu):.2f}–{max(cpu):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", default=None, help="comma-separated task names to keep (default: all)")
    parser.add_argument("--optims", default="sgd,adam")
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = load_registry()
    cache = TaskCache(registry)
    keep = set(args.cases.split(",")) if args.cases else None
    load = machine_load()
    print(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {args.steps} steps, {args.repeats} interleaved "
          f"repeats, 1 torch thread, load {load:.2f} at the start")
    print(f"{'task':<26} {'bs':>4} {'optim':<15} {'bare step':>11} {'timed/bare (spread)':>20} "
          f"{'wall/bare (spread)':>19} {'CPU/bare (spread)':>18}")
    for task_spec, batch in CASES:
        if keep is None or task_spec.split("[")[0] in keep:
            for optim in args.optims.split(","):
                optim += LR.get(task_spec, "") if optim == "sgd" else ""
                print(one_case(registry, cache, task_spec, batch, optim, args), flush=True)
    print(f"load {machine_load():.2f} at the end; timed = the update on optbench's clock (train_time/steps), "
          "wall = the whole trial per step, both over the bare loop's step; CPU = the whole trial's process CPU "
          "time over the bare loop's (less moved by other programs); median (min–max) over the repeats")


if __name__ == "__main__":
    main()
