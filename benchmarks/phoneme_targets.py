"""Experiment: the per-preset val_acc a tuned builtin reaches in the phoneme task's default budget.

The measurement behind ``BUILTIN_TARGETS`` in optbench/tasks/phoneme/task.py: for each preset, Adam and
AdamW at a few learning rates, 2 seeds, the task's default budget (1 epoch, batch 512) on the built-in
corpus; prints final (= full-validation) val_acc per configuration with min/max over seeds and the
1-min load average. The target is set a little below the best configuration's worst seed (see
docs/phoneme.md for the figures and the margin).

    python benchmarks/phoneme_targets.py [--presets simple,medium,strong] [--lrs 1e-3,3e-3,1e-2]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import optbench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="simple,medium,strong")
    parser.add_argument("--lrs", default="1e-3,3e-3,1e-2")
    parser.add_argument("--optims", default="adam,adamw")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    lrs = "|".join(args.lrs.split(","))
    optims = ",".join(f"{name}[lr={lrs}]" for name in args.optims.split(","))
    for preset in args.presets.split(","):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as out:
            trials = optbench.run(f"phoneme[preset={preset}]", optims, seeds=args.seeds, threads=args.threads,
                                  out=out, save_checkpoints=False)
        table = trials.groupby(["optimizer", "optimizer_params"])["final_val_acc"].agg(["min", "max", "count"])
        print(f"preset {preset} (default budget, load {load:.2f} -> {os.getloadavg()[0]:.2f}):")
        print(table.sort_values("max", ascending=False).to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()
