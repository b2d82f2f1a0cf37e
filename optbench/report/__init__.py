"""HTML comparison reports: one or more results stores → one self-contained, offline HTML page.

``build_report(stores, out)`` is the public API (``optbench report`` and ``optbench run --report`` call
it). :mod:`.data` reads and derives the numbers, :mod:`.figures` draws them, :mod:`.page` assembles
the sections and renders ``page.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from optbench.errors import OptbenchError

__all__ = ["build_report", "default_report_path", "newest_store"]


def newest_store(results_dir: str | Path = "results") -> Path:
    """The most recently updated store folder under ``results_dir``."""
    root = Path(results_dir)
    candidates = [p for p in root.iterdir() if (p / "manifest.json").is_file()] if root.is_dir() else []
    if not candidates:
        raise OptbenchError(f"no results store under {root}/ (run `optbench run ...` first, or name a store)")
    return max(candidates, key=lambda p: (p / "manifest.json").stat().st_mtime)


def default_report_path(stores: Sequence[str | Path], reports_dir: str | Path = "reports") -> Path:
    """``reports/<store>.html``, or ``reports/<store1>+<store2>.html`` when comparing stores."""
    name = "+".join(Path(s).resolve().name for s in stores)
    return Path(reports_dir) / f"{name[:150]}.html"


def build_report(stores: Sequence[str | Path], out: str | Path | None = None, title: str | None = None,
                 json_out: str | Path | None = None, leaderboard: dict | None = None) -> Path:
    """Write the HTML report for ``stores`` to ``out`` (default :func:`default_report_path`) and return it.

    The report reads only the stores: what each task declares (metrics, target, 2-D surface) comes from
    their ``tasks/<key>.json``, so no plugin or registry is needed to draw it. ``json_out``: also write the
    judge's tables the page shows (:meth:`optbench.judge.Verdicts.write_json`) there. ``leaderboard``: a
    suite's score section (:func:`optbench.suite.report.leaderboard_section`), shown first.
    """
    from optbench.report.data import load_stores
    from optbench.report.page import render

    if isinstance(stores, (str, Path)):
        stores = [stores]
    data = load_stores(stores)
    html = render(data, title=title, leaderboard=leaderboard)
    if json_out is not None:
        try:
            data.verdicts.write_json(json_out)
        except OSError as exc:
            raise OptbenchError(f"cannot write {json_out}: {exc.strerror or exc}") from None
    return write_page(html, Path(out) if out is not None else default_report_path(stores))


def write_page(html: str, target: Path) -> Path:
    """Write a rendered page to ``target`` (folders made); an unwritable place is one clear error."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise OptbenchError(f"cannot write report to {target}: {exc.strerror or exc}") from None
    return target
