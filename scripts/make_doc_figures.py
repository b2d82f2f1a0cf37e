"""Render the figures of docs/notebook.md from a small store this script builds (so they never go stale).

    python scripts/make_doc_figures.py            # -> docs/figures/plot_*.png (a few seconds of training)

The store: two quadratics (κ = 10, 100), sgd at four learning rates (the largest diverges) and
momentum at two, two seeds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import optbench  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"
DPI = 60  # small PNGs (each well under 100 KB)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        optbench.run("quadratic[kappa=10|100]", "sgd[lr=0.1|0.3|1|3],momentum[lr=0.1|0.3]", steps=300, seeds="0-1",
                     out=store, threads=1)
        results = optbench.load(store)
        figures = {"plot_curves": results.plot_curves("rel_dist_to_opt"), "plot_profile": results.plot_profile(),
                   "plot_kappa": results.plot_kappa(), "plot_sensitivity": results.plot_sensitivity()}
        for name, grid in figures.items():
            path = OUT / f"{name}.png"
            grid.savefig(path, dpi=DPI)
            print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
