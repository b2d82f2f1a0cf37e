"""Run optbench's conformance suite over the whole pytorch-optimizer catalogue and write the results table.

Usage: python scripts/catalogue_conformance.py [--kind optimizer|schedule] [--out table.md] [--only NAME ...]

Prints (and writes with --out) a markdown table: one row per catalogue entry, pass or the failed checks
with their reasons, then the pass count. Needs the 'catalogue' extra (pip install -e ".[catalogue]").
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from optbench import catalogue
from optbench.conformance import check_entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["optimizer", "schedule"], default="optimizer")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--only", nargs="*", default=None, help="catalogue names (without tpo.) to check")
    args = parser.parse_args(argv)
    if not catalogue.available():
        print("pytorch-optimizer is not installed: pip install -e '.[catalogue]'", file=sys.stderr)
        return 2
    entries = [e for e in catalogue.entries(args.kind)
               if args.only is None or e.name.removeprefix(catalogue.PREFIX) in args.only]
    lines = [f"| {args.kind} | result | failed checks (reason) |", "|---|---|---|"]
    passed = 0
    started = time.perf_counter()
    for entry in entries:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # catalogue classes warn about experimental status etc.
            results = check_entry(entry)
        failures = [r for r in results if not r.passed]
        passed += not failures
        ran = [r for r in failures if not r.reason.startswith("not run")]
        # the first failure's reason, then the names of the other failed checks (often the same exception)
        detail = f"**{ran[0].check}**: {ran[0].reason}" if ran else ""
        if len(ran) > 1:
            detail += f" (also failed: {', '.join(r.check for r in ran[1:])})"
        reason = detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{entry.name}` | {'pass' if not failures else 'FAIL'} | {reason} |")
        print(lines[-1], flush=True)
    version = catalogue._source().removeprefix("catalogue ")
    summary = (f"\n{passed} of {len(entries)} {args.kind}s of {version} pass all conformance checks "
               f"({time.perf_counter() - started:.0f} s).")
    lines.append(summary)
    print(summary)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
