"""Benchmark: ``phoneme[precision=bf16]`` (CPU autocast) against fp32, training steps per second.

Same task data, same model initialisation and the same batches; rounds alternate fp32 and bf16 steps and
the median time per step of each is reported with the ratio fp32/bf16 (> 1: bf16 is faster) and the
1-min load average. On a CPU without native bf16 (no AVX512-BF16/AMX) the task refuses precision=bf16;
``--force`` measures the emulated path anyway, to show why it is refused.

    python benchmarks/phoneme_bf16.py [--preset medium] [--steps 30] [--rounds 3] [--threads 1] [--force]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from optbench.tasks.phoneme import task as T


def seconds_per_step(task: T.PhonemeTask, steps: int) -> float:
    model = task.init_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(task.n_train, generator=torch.Generator().manual_seed(0))
    batch = task.default_batch_size
    started = time.perf_counter()
    for step in range(steps):
        loss = task.loss(model, task.train_batch(order[step * batch:(step + 1) * batch]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="measure emulated bf16 where it is refused")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    native = T.bf16_supported()
    print(f"native bf16: {native}; cpu capability {torch.backends.cpu.get_cpu_capability()}")
    if not native and not args.force:
        print("precision=bf16 is refused on this CPU (give --force to time the emulated path)")
        return
    T.bf16_supported = lambda: True  # type: ignore[assignment]  # --force: bypass the refusal
    tasks = {p: T.PhonemeTask(preset=args.preset, precision=p) for p in ("fp32", "bf16")}
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {p: [] for p in tasks}
    for r in range(args.rounds):
        for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            times[precision].append(seconds_per_step(tasks[precision], args.steps))
    fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
    print(f"phoneme[preset={args.preset}], batch 512, {args.threads} thread(s), load {load:.2f} -> "
          f"{os.getloadavg()[0]:.2f}: fp32 {fp32 * 1e3:.1f} ms/step (range {min(times['fp32']) * 1e3:.1f}-"
          f"{max(times['fp32']) * 1e3:.1f}), bf16 {bf16 * 1e3:.1f} ms/step (range {min(times['bf16']) * 1e3:.1f}-"
          f"{max(times['bf16']) * 1e3:.1f}); speed-up fp32/bf16 = {fp32 / bf16:.2f}x{'' if native else ' (emulated)'}")


if __name__ == "__main__":
    main()
