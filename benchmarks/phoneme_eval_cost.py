"""Benchmark: what evaluation costs a default phoneme trial, as wall time over training clock.

One training run of the default budget (medium preset unless ``--preset``, batch 512, Adam 1e-3); at
each of the runner's evaluation points (step 0, then every ceil(steps/eval_points) steps, the last at
the end) the same model state is scored twice, in alternating order:

* **before**: the evaluation as it was (whole validation split plus a 20,000-frame training probe,
  chunks of 2**21 input floats under ``no_grad``);
* **after**: ``PhonemeTask.evaluate`` now (``inference_mode``, chunks of 2**22 floats; intermediate
  points on the fixed 4,096-frame validation subset, the final one on all validation frames; train_acc
  on a fixed 2,048-frame subset).

Reported: ratio = (training clock + evaluation time) / training clock, for "before" at the old cadence
(once per epoch), "before" at 12 points, and "after" at 12 points; plus the 1-min load average at start
and end (on a shared machine the absolute seconds mean little, the ratios of work timed in the same run
do). ``--rounds`` repeats the whole run and reports the median and range of each ratio.

    python benchmarks/phoneme_eval_cost.py [--preset medium] [--threads 1] [--rounds 2] [--eval-points 12]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
from torch import nn

from optbench.tasks.phoneme.task import PhonemeTask


def old_evaluate(task: PhonemeTask, model: nn.Module, probe: torch.Tensor) -> dict[str, float]:
    """The evaluation before this change: full validation + 20k-frame train probe, 2**21-float chunks."""
    def score(frames: torch.Tensor) -> tuple[float, float]:
        labelled, total, correct = task.data.labelled, 0.0, 0
        step = min(8192, max(256, 2**21 // (39 * task.arch.concat)))
        with torch.no_grad():
            for start in range(0, len(frames), step):
                chunk = frames[start:start + step]
                logits = model(labelled.windows(chunk, task.arch.concat))
                labels = labelled.labels[chunk]
                total += float(task.criterion(logits, labels, reduction="sum"))
                correct += int((logits.argmax(dim=1) == labels).sum())
        return total / len(frames), correct / len(frames)

    val_loss, val_acc = score(task.val_frames)
    return {"val_loss": val_loss, "val_acc": val_acc, "train_acc": score(probe)[1]}


def timed(fn, *args, **kwargs) -> tuple[float, dict[str, float]]:  # noqa: ANN001 - benchmark helper
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def one_run(task: PhonemeTask, eval_points: int, seed: int) -> dict[str, float]:
    """Train the default budget once; time old and new evaluations at the same model states."""
    batch = task.default_batch_size
    steps = math.ceil(task.default_budget.epochs * math.ceil(task.n_train / batch))
    every = math.ceil(steps / eval_points)
    probe = task.train_frames[torch.randperm(task.n_train, generator=torch.Generator().manual_seed(0))[:20_000]
                              .sort().values]
    model = task.init_model(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(task.n_train, generator=torch.Generator().manual_seed(seed))
    clock, old_total, new_total, old_ends = 0.0, 0.0, 0.0, 0.0
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            model.eval()
            final = step == steps
            pair = [("old", lambda: old_evaluate(task, model, probe)),
                    ("new", lambda final=final: task.evaluate(model, final=final))]
            for name, fn in pair if step % 2 == 0 else pair[::-1]:  # alternate which runs first
                seconds, _ = timed(fn)
                if name == "old":
                    old_total += seconds
                    old_ends += seconds if step in (0, steps) else 0.0  # once per epoch: start and end
                else:
                    new_total += seconds
            model.train()
        if step == steps:
            break
        started = time.perf_counter()
        indices = order[(step * batch) % task.n_train:][:batch]
        loss = task.loss(model, task.train_batch(indices))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        clock += time.perf_counter() - started
    return {"train_s": clock, "before_per_epoch": (clock + old_ends) / clock,
            f"before_{eval_points}pts": (clock + old_total) / clock,
            f"after_{eval_points}pts": (clock + new_total) / clock}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--eval-points", type=int, default=PhonemeTask.eval_points)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = PhonemeTask(preset=args.preset)
    load_start = os.getloadavg()[0]
    runs = [one_run(task, args.eval_points, seed) for seed in range(args.rounds)]
    print(f"phoneme[preset={args.preset}] default budget {task.default_budget}, batch {task.default_batch_size}, "
          f"{args.threads} thread(s); {len(task.val_frames)} validation frames; load {load_start:.2f} -> "
          f"{os.getloadavg()[0]:.2f} (1-min), {os.cpu_count()} cores")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:>18}: median {statistics.median(values):.3f}  range {min(values):.3f}-{max(values):.3f}")


if __name__ == "__main__":
    main()
