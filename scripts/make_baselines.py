"""Make the suite's shipped baselines: run the seven builtins through the suite, then export a compact copy.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/make_baselines.py            # lecture-v1, all seven
    python scripts/make_baselines.py --export-only                             # re-export a finished store

The store (default results/baselines-<suite>) is resumable: rerun the same command after an interruption
and only the missing trials run. The compact copy lands in optbench/suite/baselines/<suite>/ with a
manifest saying how, when and on what it was made.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

BUILTINS = "sgd,momentum,adagrad,rmsprop,adam,adamw,radam"
REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="lecture-v1")
    parser.add_argument("--optims", default=BUILTINS)
    parser.add_argument("--store", action="append", default=None,
                        help="suite store (default results/baselines-<suite>); repeat with --export-only to "
                             "export several stores (e.g. optimizers run in parallel processes) as one")
    parser.add_argument("--dest", default=None, help="export folder (default optbench/suite/baselines/<suite>)")
    parser.add_argument("--workers", type=int, default=1, help="local processes (step metrics do not change)")
    parser.add_argument("--export-only", action="store_true", help="only export an existing store")
    parser.add_argument("--notes", default="", help="how the stores were made, for the manifest")
    args = parser.parse_args(argv)

    from optbench.errors import OptbenchError
    from optbench.suite.baselines import export
    from optbench.suite.definition import load_suite
    from optbench.suite.run import run_suite

    stores = [Path(s) for s in args.store or [f"results/baselines-{args.suite}"]]
    if len(stores) > 1 and not args.export_only:
        print("error: several --store only with --export-only", file=sys.stderr)
        return 2
    dest = Path(args.dest or REPO / "optbench" / "suite" / "baselines" / args.suite)
    command = "PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/make_baselines.py " + shlex.join(sys.argv[1:])
    try:
        if not args.export_only:
            started = time.perf_counter()
            run_suite(load_suite(args.suite), args.optims, stores[0], threads=1,
                      backend="process" if args.workers > 1 else "sequential", workers=args.workers,
                      say=lambda line: print(line, flush=True))
            print(f"suite run: {time.perf_counter() - started:.0f} s", flush=True)
        print(f"exported to {export(stores, dest, command, args.notes)}")
    except OptbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
