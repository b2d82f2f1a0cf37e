"""Experiment: end-of-training sharpness against batch size on the phoneme task (Keskar et al. 2017's claim).

Runs the same study through the runner with ``--diagnose`` and ``--noise-scale`` (so it also exercises the
runner integration end to end): the phoneme ``medium`` MLP trained with SGD (momentum 0.9, constant lr) for
the same number of epochs at several batch sizes, then diagnosed at its final parameters on 4096 training
frames. Prints one row per batch size: steps, final training loss, validation accuracy, λ_max (sharpness),
λ_min, trace, Keskar's ε-sharpness and the median gradient noise scale B_simple over training.

    python benchmarks/curvature_sharpness_batch.py [--batch-sizes 64,256,1024,4096] [--epochs 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile

import pandas as pd

from optbench.curvature import DiagnoseSettings, NoiseScaleSettings
from optbench.registry import load_registry, task
from optbench.store import load
from optbench.study import execute, prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="64,256,1024,4096")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--optim", default="momentum[lr=0.05,momentum=0.9]")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    registry = load_registry(plugin_dir=None, entry_points=False)
    if ("task", "phoneme") not in registry:  # the phoneme helper registers it; until then, add it here
        from optbench.tasks.phoneme.task import PhonemeTask

        registry.add(task("phoneme", PhonemeTask, "HW2 framewise phoneme MLP", {"preset": "medium"}))
    out = args.out or tempfile.mkdtemp(prefix="optbench-sharpness-")
    study = prepare("phoneme", args.optim, batch_sizes=args.batch_sizes, seeds=args.seeds, epochs=args.epochs,
                    out=out, device="cpu", registry=registry, save_checkpoints=False)
    study.options.diagnose = DiagnoseSettings(examples=4096)
    study.options.noise_scale = NoiseScaleSettings(every=25, small=64)
    execute(study)
    results = load(out)
    noise = (results.metrics[results.metrics["metric"] == "grad_noise_scale"]
             .groupby("trial_id")["value"].median().rename("median_B_simple"))
    table = results.trials.set_index("trial_id").join(noise)
    columns = ["batch_size_value", "seed", "steps", "final_train_loss", "best_val_acc", "final_hess_lambda_max",
               "final_hess_lambda_min", "final_hess_trace", "final_eps_sharpness", "median_B_simple", "status"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[[c for c in columns if c in table]].sort_values("batch_size_value").to_string())
    print(f"store: {out}")


if __name__ == "__main__":
    main()
