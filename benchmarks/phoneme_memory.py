"""Benchmark: peak memory of the phoneme task's context windows for concat = 1, 19, 61.

Each concat runs in a fresh subprocess that loads the corpus, builds the task (which holds ONE (N, 39)
feature tensor plus per-frame utterance bounds), trains 20 steps of batch 512 and runs one full evaluation
(validation + train probe, in chunks). Its peak RSS (``ru_maxrss``) is reported next to the baseline of
a process that only imports optbench and loads the same features, and next to what the homework's sample
code would allocate for the materialised (N, 39·concat) training matrix. The claim under test: peak
memory does not grow with concat.

    python benchmarks/phoneme_memory.py [--data-dir DIR] [--concats 1,19,61]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, torch
torch.set_num_threads(1)
from optbench.tasks.phoneme.task import PhonemeTask
concat = int(sys.argv[1])
data_dir = sys.argv[2] or None
if concat == 0:  # baseline: just the loaded features
    from optbench.tasks.phoneme import data as D
    frames = D.load(D.resolve_root(data_dir)).labelled
    n = frames.n_frames
else:
    task = PhonemeTask(preset="simple", concat=concat, hidden=256, data_dir=data_dir)
    model = task.init_model(0)
    opt = torch.optim.Adam(model.parameters())
    for i in range(20):
        batch = task.train_batch(torch.randint(task.n_train, (512,)))
        opt.zero_grad(); task.loss(model, batch).backward(); opt.step()
    model.eval()
    with torch.no_grad():
        task.evaluate(model)
    n = task.n_train
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n_train": n}))
"""


def measure(concat: int, data_dir: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(concat), data_dir], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="", help="libriphone folder (default: $OPTBENCH_PHONEME_DIR or "
                        "the built-in corpus)")
    parser.add_argument("--concats", default="1,19,61")
    args = parser.parse_args()
    base = measure(0, args.data_dir)
    print(f"baseline (import + load features): peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"{'concat':>6} {'peak RSS MB':>12} {'over baseline MB':>17} {'HW2 sample matrix MB':>21}")
    for concat in (int(c) for c in args.concats.split(",")):
        got = measure(concat, args.data_dir)
        naive_mb = got["n_train"] * 39 * concat * 4 / 2**20  # float32 (N, 39·concat) of the training frames
        print(f"{concat:>6} {got['peak_rss_mb']:>12.0f} {got['peak_rss_mb'] - base['peak_rss_mb']:>17.0f} "
              f"{naive_mb:>21.0f}")


if __name__ == "__main__":
    main()
