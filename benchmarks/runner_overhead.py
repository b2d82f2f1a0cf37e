"""Per-step overhead of optbench's trial loop against a bare PyTorch loop, on the toy tasks.

Both loops run the same model, batches (same permutation generator) and optimizer in this process; the
bare loop does only what any training loop does (zero_grad, forward, backward, step, loss.item()).
optbench additionally sets the scheduled lr, records lr, gradient norm and the task's per-step extras,
and checks for divergence. On toy tasks a step costs microseconds, so this is the worst case for the
relative overhead; on real models (see benchmarks/phoneme_throughput.py) it vanishes.

    python benchmarks/runner_overhead.py [--steps 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from optbench.loop import run_trial
from optbench.plan import TaskCache, plan
from optbench.registry import load_registry
from optbench.trial import Options


def bare_loop(task, optimizer_factory, steps: int, batch_size: int, seed: int = 0) -> float:
    model = task.init_model(seed)
    opt = optimizer_factory(list(model.parameters()))
    order = torch.Generator().manual_seed(seed)
    n = task.n_train
    done, started = 0, time.perf_counter()
    while done < steps:
        perm = torch.randperm(n, generator=order) if batch_size < n else torch.arange(n)
        for start in range(0, n, batch_size):
            batch = task.train_batch(perm[start:start + batch_size])
            opt.zero_grad(set_to_none=True)
            loss = task.loss(model, batch)
            loss.backward()
            opt.step()
            loss.item()
            done += 1
            if done >= steps:
                break
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    registry = load_registry(plugin_dir=None)
    cache = TaskCache(registry)
    print(f"{'task':<28} {'optimizer':<8} {'bare steps/s':>13} {'optbench timed':>15} {'ratio':>6} "
          f"{'optbench wall':>14} {'ratio':>6}")
    for task_spec, batch in (("quadratic", "full"), ("quadratic[dim=200,n=4096]", "64"), ("rosenbrock", "full")):
        for optim in ("sgd", "adam"):
            config = plan(task_spec, optim, batch_sizes=batch, steps=args.steps, registry=registry,
                          task_cache=cache)[0]
            task = cache.get(config.task, config.task_params)
            bs = task.n_train if batch == "full" else int(batch)
            entry = registry.get("optimizer", optim)
            bare, ours, wall = [], [], []
            for _ in range(args.repeats):  # interleaved, best of N: robust to a busy machine
                bare.append(bare_loop(task, lambda p, e=entry: e.create(p), args.steps, bs))
                started = time.perf_counter()
                result = run_trial(config, registry, Options(save_checkpoints=False), cache)
                wall.append(result.row["steps"] / (time.perf_counter() - started))
                ours.append(result.row["steps"] / result.row["train_time"])
            print(f"{task_spec:<28} {optim:<8} {max(bare):>13.0f} {max(ours):>15.0f} {max(ours) / max(bare):>6.2f} "
                  f"{max(wall):>14.0f} {max(wall) / max(bare):>6.2f}")
    print("timed = the part of each step on optbench's clock (steps_per_second in the store); wall = the whole "
          "trial including per-step bookkeeping and evaluation.")


if __name__ == "__main__":
    main()
