"""The results store: one folder per study, safe to kill and to resume.

Layout of a store folder::

    manifest.json            configuration of every run into this store, versions, machine, git commit
    trials/<trial_id>.parquet    one row per finished trial (its config, status and summary)
    metrics/<trial_id>.parquet   the trial's long-format metrics: trial_id, step, epoch, examples,
                                 time, metric, value (per step, and per evaluation)
    checkpoints/<trial_id>.pt    best model state of a trial, when the task asks for one
    tasks/<task_key>.json        what each task configuration declares (metrics, headline, target) and, for
                                 2-D surfaces, the contour grid and critical points: reports read only this

A trial is finished exactly when its ``trials/`` file exists. Its metrics file is written first; both
are written to a temporary name and renamed (atomic on POSIX), so a kill -9 at any moment loses at
most the trial in progress, and writers of different trials (processes, Ray workers) never touch
the same file. Reading concatenates the parts with pyarrow.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from optbench.errors import OptbenchError

METRIC_SCHEMA = pa.schema([("trial_id", pa.string()), ("step", pa.int64()), ("epoch", pa.float64()),
                           ("examples", pa.int64()), ("time", pa.float64()), ("metric", pa.string()),
                           ("value", pa.float64())])
METRIC_COLUMNS = METRIC_SCHEMA.names


def _atomic_write_bytes(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_parquet(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> None:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    _atomic_write_bytes(path, lambda handle: pq.write_table(table, handle))


@dataclass
class Results:
    """A store read back: the trials table, the long metrics table and the manifest."""

    path: Path
    trials: pd.DataFrame
    metrics: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    def curves(self, metric: str = "train_loss") -> pd.DataFrame:
        """Metric ``metric`` against step for every trial, joined with the trial's labels."""
        rows = self.metrics[self.metrics["metric"] == metric]
        keep = ["trial_id", "task", "optimizer", "schedule", "batch_size", "seed", "status"]
        return rows.merge(self.trials[[c for c in keep if c in self.trials]], on="trial_id")


class Store:
    """A results folder: write finished trials atomically, list them, read everything back."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.trials_dir = self.path / "trials"
        self.metrics_dir = self.path / "metrics"
        self.checkpoints_dir = self.path / "checkpoints"

    # writing ---------------------------------------------------------------------------------
    def create(self) -> Store:
        """Make the folders; an unwritable location raises a one-line :class:`OptbenchError`."""
        try:
            for directory in (self.trials_dir, self.metrics_dir, self.checkpoints_dir):
                directory.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OptbenchError(f"cannot write results to {self.path}: {exc.strerror or exc}") from None
        return self

    def write_trial(self, row: dict[str, Any], metrics: pd.DataFrame) -> None:
        """Record one finished trial: metrics first, then the trial row that marks it finished."""
        trial_id = row["trial_id"]
        _write_parquet(metrics.reindex(columns=METRIC_COLUMNS), self.metrics_dir / f"{trial_id}.parquet",
                       METRIC_SCHEMA)
        _write_parquet(pd.DataFrame([row]), self.trials_dir / f"{trial_id}.parquet")

    def write_json(self, relative: str, payload: Any) -> Path:
        """Write ``payload`` as JSON to ``relative`` inside the store, atomically (the one JSON write path)."""
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(payload, indent=1, default=str, allow_nan=True).encode()
        _atomic_write_bytes(path, lambda handle: handle.write(data))
        return path

    def write_task_info(self, task_key: str, info: dict[str, Any]) -> None:
        """Record what the task configuration ``task_key`` declares (see :meth:`read_task_infos`)."""
        self.write_json(f"tasks/{task_key}.json", info)

    def read_task_infos(self) -> dict[str, dict[str, Any]]:
        """Every task configuration's declarations by task key (empty for stores made before they existed)."""
        directory = self.path / "tasks"
        infos = {}
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            try:
                infos[path.stem] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise OptbenchError(f"{path} is not readable JSON: {exc}") from None
        return infos

    def checkpoint_path(self, trial_id: str, which: str = "best") -> Path:
        return self.checkpoints_dir / (f"{trial_id}.pt" if which == "best" else f"{trial_id}.{which}.pt")

    def write_checkpoint(self, trial_id: str, state: dict[str, Any], which: str = "best") -> None:
        """Save a model state (``best`` by the task's checkpoint metric, or ``final``)."""
        import torch

        path = self.checkpoint_path(trial_id, which)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(path, lambda handle: torch.save(state, handle))

    def read_checkpoint(self, trial_id: str, which: str = "best") -> dict[str, Any] | None:
        """A saved model state, loaded without executing code (None when there is none)."""
        import torch

        path = self.checkpoint_path(trial_id, which)
        return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None

    def write_diagnosis(self, trial_id: str, document: dict[str, Any]) -> None:
        self.write_json(f"diagnosis/{trial_id}.json", document)

    def update_manifest(self, run_config: dict[str, Any]) -> dict[str, Any]:
        """Append this run's configuration and environment to the manifest (atomically)."""
        manifest = self.read_manifest()
        manifest.setdefault("created", _now())
        manifest["updated"] = _now()
        manifest.setdefault("runs", []).append({"started": _now(), "config": run_config,
                                                "environment": environment()})
        payload = json.dumps(manifest, indent=2, default=str).encode()
        _atomic_write_bytes(self.path / "manifest.json", lambda handle: handle.write(payload))
        return manifest

    # reading ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "manifest.json").is_file() or self.trials_dir.is_dir()

    def finished_ids(self) -> set[str]:
        if not self.trials_dir.is_dir():
            return set()
        return {p.stem for p in self.trials_dir.glob("*.parquet")}

    def read_manifest(self) -> dict[str, Any]:
        path = self.path / "manifest.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise OptbenchError(f"{path} is not valid JSON: {exc}") from None

    def _read_parts(self, directory: Path, ids: set[str] | None = None) -> pd.DataFrame:
        files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
        if ids is not None:
            files = [f for f in files if f.stem in ids]
        if not files:
            return pd.DataFrame()
        tables = [pq.read_table(f) for f in files]
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()

    def read_trials(self) -> pd.DataFrame:
        return self._read_parts(self.trials_dir)

    def read_metrics(self, trial_ids: set[str] | None = None) -> pd.DataFrame:
        """The long metrics table of the given trials (default: every trial with a metrics file)."""
        files = sorted(self.metrics_dir.glob("*.parquet")) if self.metrics_dir.is_dir() else []
        if trial_ids is not None:
            files = [f for f in files if f.stem in trial_ids]
        # One schema for every part lets pyarrow read them all in one multi-threaded pass.
        table = ds.dataset([str(f) for f in files], schema=METRIC_SCHEMA, format="parquet").to_table()
        return table.to_pandas()

    def load(self) -> Results:
        if not self.exists():
            raise OptbenchError(f"no results store at {self.path} (expected manifest.json and trials/)")
        trials = self.read_trials()
        ids = set(trials["trial_id"]) if not trials.empty else set()
        return Results(self.path, trials, self.read_metrics(ids), self.read_manifest())


def load(path: str | Path) -> Results:
    """Read the store at ``path`` (trials, metrics, manifest)."""
    return Store(path).load()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Versions, machine and threads: what a reader needs to trust or reproduce the numbers."""
    import numpy
    import torch

    import optbench

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "optbench": optbench.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": numpy.__version__, "pandas": pd.__version__, "pyarrow": pa.__version__,
        "platform": platform.platform(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "gpu": gpu, "git_commit": _git_commit(),
        "hostname": platform.node(),
    }
