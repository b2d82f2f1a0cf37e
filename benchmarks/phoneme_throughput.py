"""Benchmark: training throughput on the phoneme task, optbench's runner vs a bare PyTorch loop.

Same process, same task object, same model initialisation, same batches (the runner's seeded permutation)
and the same number of Adam steps. The bare loop is the minimum work: gather the batch, forward, backward,
step, and ``loss.item()`` (any training loop reads its loss). The runner additionally records per-step
metrics (loss, lr, gradient norm) and evaluates before and after; evaluation time is subtracted since the
bare loop does none, everything else the runner does counts against it. Rounds alternate the two and the
median is reported. Batch assembly (context-window gather) is timed separately, per batch, and as a share
of the bare step.

    python benchmarks/phoneme_throughput.py [--preset medium] [--steps 300] [--rounds 3] [--threads 1]

``--threads 1`` is the default because on a shared 2-core machine, torch's spinning intra-op threads can
make small-MLP steps tens of times slower when another process holds a core (give --threads 2 on an idle
machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optbench.loop import run_trial
from optbench.plan import TaskCache, plan
from optbench.registry import load_registry
from optbench.trial import Options


def bare_loop(task, config, steps: int) -> float:  # noqa: ANN001 - benchmark-local helper
    batch_size = int(config.batch_size)
    torch.manual_seed(config.seed)
    model = task.init_model(config.seed)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), **config.optimizer_params)
    order = torch.Generator().manual_seed(config.seed)
    permutation = torch.randperm(task.n_train, generator=order)
    started = time.perf_counter()
    for step in range(steps):
        start = (step * batch_size) % (task.n_train - batch_size)
        batch = task.train_batch(permutation[start:start + batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss(model, batch)
        loss.backward()
        optimizer.step()
        loss.item()
    return time.perf_counter() - started


def assembly_time(task, batch_size: int, batches: int = 200) -> float:  # noqa: ANN001
    permutation = torch.randperm(task.n_train)
    started = time.perf_counter()
    for i in range(batches):
        start = (i * batch_size) % (task.n_train - batch_size)
        task.train_batch(permutation[start:start + batch_size])
    return (time.perf_counter() - started) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry(plugin_dir=None, entry_points=False)
    cache = TaskCache(registry)
    (config,) = plan(f"phoneme[preset={args.preset}]", "adam[lr=0.001]", steps=args.steps,
                     batch_sizes=str(args.batch_size), registry=registry, task_cache=cache)
    task = cache.get(config.task, config.task_params)
    options = Options(save_checkpoints=False)
    bare_rates, runner_rates, runner_clock_rates = [], [], []
    for _ in range(args.rounds):
        bare_rates.append(args.steps * args.batch_size / bare_loop(task, config, args.steps))
        started = time.perf_counter()
        result = run_trial(config, registry, options, cache)
        wall = time.perf_counter() - started - result.row["eval_time"]
        assert result.row["status"] == "completed" and result.row["steps"] == args.steps, result.row["error"]
        runner_rates.append(args.steps * args.batch_size / wall)
        runner_clock_rates.append(args.steps * args.batch_size / result.row["train_time"])
    bare, runner = statistics.median(bare_rates), statistics.median(runner_rates)
    assembly = assembly_time(task, args.batch_size)
    step_time = args.batch_size / bare
    print(f"phoneme[preset={args.preset}] concat={task.arch.concat}, batch {args.batch_size}, {args.steps} Adam steps, "
          f"{torch.get_num_threads()} thread(s), {args.rounds} rounds (median)")
    print(f"bare PyTorch loop      : {bare:10.0f} examples/s")
    print(f"optbench runner (wall) : {runner:10.0f} examples/s   ratio {runner / bare:.3f}")
    print(f"runner's own clock     : {statistics.median(runner_clock_rates):10.0f} examples/s (training step only)")
    print(f"batch assembly         : {assembly * 1e3:10.3f} ms/batch = {assembly / step_time:.1%} of a bare step")


if __name__ == "__main__":
    main()
