"""The store's read index: one compacted copy of the finished trials and their metrics, for fast reading.

A store holds two parquet files per trial; a 1,000-trial store is 2,000 files, and opening a parquet file
costs about a millisecond however small it is. So the writer, at the end of a study on a store big enough
for it to pay (``optbench.study.INDEX_FROM_TRIALS``), compacts what is finished into
``index/trials.parquet`` and ``index/metrics.parquet`` and records, in ``index/stamps.json`` (written
last), the stamp (size, mtime, inode) of every ``trials/`` and ``metrics/`` file it copied.

The index never decides what is finished: ``trials/`` does. A reader lists ``trials/``, takes from the
index only the trials whose two files still carry the recorded stamps, and reads every other trial (new
since the compaction, rerun with ``--force``, or written by a run that was killed before it compacted)
from its own files; index rows of trials whose ``trials/`` file is gone (quarantined) are ignored. Every
index row is a pure function of a trial id and its files' stamps, so an index left half-written by a kill
(the three files from different compactions) still yields exactly the per-file contents. An index that
cannot be read is ignored, and replaced at the next compaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

INDEX_DIR = "index"
TEXT_COLUMNS = ["trial_id", "metric"]  # the metrics table's text columns, one value repeated per row


def text_columns(table: pa.Table, dictionary: bool) -> pa.Table:
    """``table`` with its :data:`TEXT_COLUMNS` as dictionaries (pandas categoricals) or as plain strings."""
    for name in TEXT_COLUMNS:
        column = table.column(name)
        is_dictionary = pa.types.is_dictionary(column.type)
        if dictionary and not is_dictionary:
            column = pc.dictionary_encode(column)
        elif not dictionary and is_dictionary:
            column = column.cast(pa.string())
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def file_stamps(directory: Path) -> dict[str, str]:
    """``{trial_id: "size:mtime_ns:inode"}`` of every ``*.parquet`` file in ``directory`` (one scandir)."""
    if not directory.is_dir():
        return {}
    stamps = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.endswith(".parquet") and not entry.name.startswith("."):
                info = entry.stat()
                stamps[entry.name[: -len(".parquet")]] = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
    return stamps


def current_stamps(store_path: Path) -> dict[str, str]:
    """The stamp of each finished trial: its ``trials/`` file's and its ``metrics/`` file's ("-" if none)."""
    metrics = file_stamps(store_path / "metrics")
    return {trial_id: f"{stamp}|{metrics.get(trial_id, '-')}"
            for trial_id, stamp in file_stamps(store_path / "trials").items()}


def recorded_stamps(store_path: Path) -> dict[str, str] | None:
    """The stamps the last compaction recorded (None when there is no readable index)."""
    try:
        recorded = json.loads((store_path / INDEX_DIR / "stamps.json").read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def read_index(store_path: Path, stamps: dict[str, str], metric_schema: pa.Schema,
               with_metrics: bool = True) -> tuple[pa.Table | None, pa.Table | None, set[str]]:
    """The index's trials (and metrics) restricted to the trials it still covers, and those trials' ids.

    Covered: the trial is finished now and both its files carry the stamps recorded at compaction.
    Returns ``(None, None, set())`` when there is no readable index.
    """
    folder = store_path / INDEX_DIR
    recorded = recorded_stamps(store_path)
    if recorded is None:
        return None, None, set()
    try:
        trials = pq.read_table(folder / "trials.parquet")
        # its text columns as dictionaries: 10× faster to read than hundreds of thousands of strings
        metrics = pq.read_table(folder / "metrics.parquet", read_dictionary=TEXT_COLUMNS) if with_metrics else None
    except (OSError, ValueError, pa.ArrowException):
        return None, None, set()
    if "trial_id" not in trials.column_names \
            or (metrics is not None and metrics.schema.names != metric_schema.names):
        return None, None, set()
    covered = {i for i, stamp in recorded.items() if stamps.get(i) == stamp}
    covered &= set(trials.column("trial_id").to_pylist())
    keep = pa.array(sorted(covered), pa.string())
    trials = trials.filter(pc.is_in(trials.column("trial_id"), value_set=keep))
    if metrics is not None:
        metrics = metrics.filter(pc.is_in(metrics.column("trial_id"), value_set=keep))
    return trials, metrics, covered


def write_index(trials: pa.Table, metrics: pa.Table, stamps: dict[str, str],
                write_bytes: Callable[[str, bytes], Path]) -> None:
    """Write the index of ``trials``/``metrics`` (read under ``stamps``) through the store's atomic writer."""
    covered = set(trials.column("trial_id").to_pylist()) if trials.num_rows else set()
    write_bytes(f"{INDEX_DIR}/trials.parquet", _parquet_bytes(trials))
    write_bytes(f"{INDEX_DIR}/metrics.parquet", _parquet_bytes(metrics))
    write_bytes(f"{INDEX_DIR}/stamps.json",
                json.dumps({i: s for i, s in stamps.items() if i in covered}, sort_keys=True).encode())


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
