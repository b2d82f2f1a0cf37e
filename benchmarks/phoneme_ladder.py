"""Experiment: the HW2 accuracy ladder on the phoneme task (the lecture's story, measured).

Starts from the homework's sample settings (1 frame, one hidden layer of 256 after the input block,
AdamW lr 1e-4, batch 512) and adds one ingredient at a time: context frames, depth/width, batch norm,
dropout; then the three named presets with AdamW lr 1e-3. Each row is one real optbench trial (the runner,
the store, best validation accuracy over per-epoch evaluations). Compare with the course's 0.458 / 0.697 /
0.750 (simple / medium / strong baselines on the real libriphone data).

    python benchmarks/phoneme_ladder.py [--epochs 3] [--data-dir DIR] [--threads 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import optbench

LADDER: list[tuple[str, str, str]] = [
    ("HW2 sample settings", "preset=simple", "adamw[lr=1e-4]"),
    ("+ context (concat 11)", "preset=simple,concat=11", "adamw[lr=1e-4]"),
    ("+ depth and width (3 layers of 512)", "preset=simple,concat=11,layers=3,hidden=512", "adamw[lr=1e-4]"),
    ("+ batch norm", "preset=simple,concat=11,layers=3,hidden=512,bn=1", "adamw[lr=1e-4]"),
    ("+ dropout 0.25", "preset=simple,concat=11,layers=3,hidden=512,bn=1,dropout=0.25", "adamw[lr=1e-4]"),
    ("preset simple", "preset=simple", "adamw[lr=1e-3]"),
    ("preset medium", "preset=medium", "adamw[lr=1e-3]"),
    ("preset strong", "preset=strong", "adamw[lr=1e-3]"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="results store (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="phoneme-ladder-")
    print(f"{'configuration':38} {'optimizer':16} {'train acc':>9} {'val acc':>8} {'train s':>8}")
    if args.data_dir:  # the env var is the reliable route for absolute paths ("/" splits spec values)
        os.environ["OPTBENCH_PHONEME_DIR"] = args.data_dir
    for label, params, optim in LADDER:
        row = optbench.run(f"phoneme[{params}]", optim, epochs=args.epochs, out=out, threads=args.threads,
                           save_checkpoints=False, seeds="0").iloc[0]
        print(f"{label:38} {optim:16} {row['final_train_acc']:9.3f} {row['best_val_acc']:8.3f} "
              f"{row['train_time']:8.1f}", flush=True)
    print(f"store: {out}")


if __name__ == "__main__":
    main()
