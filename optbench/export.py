"""Export a store as tidy tables other tools read: CSV, JSON lines or Parquet, one file per table.

``export(store, fmt, out)`` writes into the folder ``out``:

- ``trials.<ext>``: one row per finished trial, the store's own rows (:func:`optbench.load`'s ``trials``);
- ``curves.<ext>``: one row per trial, metric and step (the store's long metrics table: trial_id, step,
  epoch, examples, time, metric, value) -- metrics and traces alike; ``declarations.json`` says which is which;
- ``verdict_trials.<ext>``, ``verdict_configs.<ext>``, ``verdict_tasks.<ext>``: the judge's tables
  (:meth:`optbench.store.Results.verdicts`), copied, never recomputed here;
- ``declarations.json``: every task configuration's declaration by task key (metric directions, labels,
  units, evaluation sets, traces, target), as the store keeps them.

Non-finite numbers keep their meaning (``inf`` in a steps-to-target column is "never", NaN is "no number"):
CSV spells them ``Inf``/``-Inf`` and an empty field (read by pandas and R's readr), JSON lines as
``Infinity``/``NaN`` (read by pandas and Python's json; strict JSON parsers want the CSV or Parquet form),
Parquet as IEEE floats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.errors import OptbenchError

FORMATS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
TABLES = ("trials", "curves", "verdict_trials", "verdict_configs", "verdict_tasks")
DECLARATIONS = "declarations.json"


def tables(store: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The export's tables by name, and the declarations as JSON (see the module docstring)."""
    from optbench.store import load

    results = load(store)
    verdicts = results.verdicts()
    # the tasks table's *_vs_leader columns are dicts; the configs table holds the same per row (tidy)
    task_table = verdicts.tasks.drop(columns=[c for c in verdicts.tasks if c.endswith("_vs_leader")])
    frames = {"trials": results.trials, "curves": results.metrics, "verdict_trials": verdicts.trials,
              "verdict_configs": verdicts.configs, "verdict_tasks": task_table}
    declarations = {key: decl.to_json() for key, decl in results.declarations().items()}
    return frames, declarations


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    numeric = frame.select_dtypes("number").columns
    spelled = frame.astype({c: object for c in numeric})
    for column in numeric:  # readr reads "Inf"; pandas reads both spellings
        values = frame[column].to_numpy(dtype=float)
        spelled.loc[np.isposinf(values), column] = "Inf"
        spelled.loc[np.isneginf(values), column] = "-Inf"
    spelled.to_csv(path, index=False)


def _json_value(value: Any) -> Any:
    """numpy scalars as Python numbers (NaN and inf as json writes them), anything else unchanged."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    columns = list(frame.columns)
    with path.open("w") as handle:
        for row in frame.itertuples(index=False, name=None):
            record = {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
            handle.write(json.dumps(record, default=str) + "\n")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


WRITERS = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}


def _check_out(out: Path) -> None:
    """The folder ``out`` must be new, empty or a previous export (whose files are replaced)."""
    ours = {f"{name}.{ext}" for name in TABLES for ext in FORMATS.values()} | {DECLARATIONS}
    if out.exists() and not out.is_dir():
        raise OptbenchError(f"--out {out} is a file; give a folder (the export writes one file per table)")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours) if out.is_dir() else []
    if foreign:
        raise OptbenchError(f"--out {out} holds files that are not an export ({', '.join(foreign[:3])}); "
                            "choose a new or empty folder")


def export(store: str | Path, fmt: str, out: str | Path) -> list[Path]:
    """Write the store's tables in ``fmt`` (csv, jsonl or parquet) into the folder ``out``; the paths written."""
    if fmt not in FORMATS:
        raise OptbenchError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out = Path(out)
    _check_out(out)
    frames, declarations = tables(store)  # read (and refused) before anything is written
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            path = out / f"{name}.{FORMATS[fmt]}"
            WRITERS[fmt](frame, path)
            written.append(path)
        path = out / DECLARATIONS
        path.write_text(json.dumps(declarations, indent=1, default=str))
    except OSError as exc:
        raise OptbenchError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
    return [*written, path]
