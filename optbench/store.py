"""The results store: one folder per study that owns every file in it, safe to kill and to resume.

Layout of a store folder::

    manifest.json                configuration of every run into this store, versions, machine, git commit
    .lock                        held (``flock``) by the one process writing the store; holds its pid
    trials/<trial_id>.parquet    one row per finished trial (its config, status and summary)
    metrics/<trial_id>.parquet   the trial's long-format metrics: trial_id, step, epoch, examples,
                                 time, metric, value (per step, and per evaluation)
    checkpoints/<trial_id>.pt    best model state of a trial (``<trial_id>.final.pt``: its final state)
    tasks/<task_key>.json        what each task configuration declares (metrics, headline, target) and, for
                                 2-D surfaces, the contour grid and critical points: reports read only this
    diagnosis/<name>.json        curvature diagnoses (``optbench.curvature``)
    landscape/<name>.json        loss-landscape slices (``optbench.curvature.landscape``)
    tune.json                    the tuning protocol's outcome (``optbench.tune``)
    quarantine/                  unreadable trial or metric files moved aside on open (their trials rerun)
    index/                       a compacted copy of the finished trials and metrics, written when a study
                                 of a big store ends; checked against trials/ on every read
                                 (:mod:`optbench.store_index`)

A trial is finished exactly when its ``trials/`` file exists. Its metrics file is written first; every
file is written to a temporary name, fsync'ed and renamed (atomic on POSIX), so a kill -9 at any moment
loses at most the trial in progress. One process writes a store at a time: the first write (or
:meth:`Store.create`) takes an OS lock on ``.lock`` that the OS releases when the process dies, and a
second writer is refused with one line naming the holder's pid. Opening for writing also quarantines
unreadable parquet files and removes the temporaries of killed runs, which is safe only under the lock.
A write the machine refuses (a full disk, a quota, a read-only file system) leaves no partial file and is
one line (:class:`~optbench.errors.EnvironmentFault`) saying the store is intact.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import subprocess
import tempfile
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from optbench.declaration import Declaration
from optbench.errors import EnvironmentFault, OptbenchError, StoreWarning, did_you_mean, environment_error
from optbench.store_index import current_stamps, read_index, recorded_stamps, text_columns, write_index

if TYPE_CHECKING:
    from optbench.judge import Verdicts

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; one writer is then the user's to ensure
    fcntl = None  # type: ignore[assignment]

METRIC_SCHEMA = pa.schema([("trial_id", pa.string()), ("step", pa.int64()), ("epoch", pa.float64()),
                           ("examples", pa.int64()), ("time", pa.float64()), ("metric", pa.string()),
                           ("value", pa.float64())])
METRIC_COLUMNS = METRIC_SCHEMA.names
CHECKPOINT_KINDS = ("best", "final")
# what a killed writer leaves behind: mkstemp names (".<name>.<random>.tmp") and the older "<name>.tmp<pid>"
_TEMPORARY = re.compile(r"^\..+\.tmp$|\.tmp\d+$")


# ---------------------------------------------------------------------------------------------
# the one write path
# ---------------------------------------------------------------------------------------------

def _umask() -> int:
    """The process's umask: read from /proc where there is one (setting it to read it races threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode() -> int:
    """0666 less the umask, what ``open()`` gives a new file (mkstemp alone would give 0600)."""
    return 0o666 & ~_umask()


def _atomic_write_bytes(path: Path, write: Callable[[Any], Any]) -> None:
    """Write through ``write(handle)`` to a temporary file, fsync it, rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a write() says no file: name the one it was for
            exc.filename = str(path)
        raise


def _write_parquet(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> None:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    _atomic_write_bytes(path, lambda handle: pq.write_table(table, handle))


def _json_default(value: Any) -> Any:
    """numpy/torch scalars become numbers, anything else its string (paths, timestamps)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def safe_slug(text: str, max_length: int = 60) -> str:
    """A folder name made from user-controlled ``text``: ASCII letters, digits, ``.-_+=,`` only.

    Separators and ``..`` cannot survive, so a store named after a plugin's task (``x/../../esc``) stays
    inside its results folder. Never empty, never starts with a dot.
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9.+=,_-]+", "-", ascii_text)
    slug = re.sub(r"\.{2,}", ".", slug).strip(".-")[:max_length].strip(".-")
    return slug or "study"


# ---------------------------------------------------------------------------------------------
# one writer at a time
# ---------------------------------------------------------------------------------------------

_held_locks: dict[Path, list[int]] = {}  # resolved store path -> [lock fd, Store objects holding it]


def _acquire_lock(store_path: Path) -> bool:
    """Take (or share, within this process) the store's write lock; True when newly taken here."""
    key = store_path.resolve()
    if key in _held_locks:
        _held_locks[key][1] += 1
        return False
    if fcntl is None:  # pragma: no cover
        _held_locks[key] = [-1, 1]
        return True
    fd = os.open(store_path / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OptbenchError(f"{store_path} is being written by another optbench process (pid {holder}); "
                            "wait for it to finish or write to another store folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held_locks[key] = [fd, 1]
    return True


def _release_lock(store_path: Path) -> None:
    key = store_path.resolve()
    held = _held_locks.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _held_locks[key]
        if held[0] >= 0:
            os.close(held[0])  # closing the last descriptor drops the flock; the file stays (no unlink race)


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

    def find_trial(self, wanted: str) -> dict[str, Any]:
        """The row whose trial id is ``wanted`` or starts with it (unique), else a one-line error."""
        if self.trials.empty:
            raise OptbenchError(f"no finished trials in {self.path}")
        ids = self.trials["trial_id"].tolist()
        matches = [i for i in ids if i.startswith(wanted)]
        if len(matches) > 1:
            raise OptbenchError(f"trial id prefix {wanted!r} is ambiguous in {self.path}: {', '.join(matches[:5])}")
        if not matches:
            raise OptbenchError(f"no trial {wanted!r} in {self.path}{did_you_mean(wanted, ids, cutoff=0.3)} "
                                f"({len(ids)} trials)")
        return self.trials[self.trials["trial_id"] == matches[0]].iloc[0].to_dict()

    def declarations(self) -> dict[str, Declaration]:
        """What every task configuration of the store declares, by task key."""
        return Store(self.path).read_declarations()

    def verdicts(self) -> Verdicts:
        """The judge's verdicts on this store (:func:`optbench.judge.judge`): tidy frames per trial,
        per configuration and per task, the same ones the console, the report and ``--json`` show."""
        from optbench.judge import judge

        return judge(self.trials, self.declarations(), self.metrics)

    # seaborn figures for notebooks (optbench.plots); each returns the seaborn FacetGrid
    def plot_curves(self, metric: str | None = None, x: str = "step") -> Any:
        """``metric`` (default: each task's headline) per configuration: seed median, min–max band, target."""
        from optbench.plots import plot_curves

        return plot_curves(self, metric, x)

    def plot_profile(self, by: str = "steps") -> Any:
        """The performance profile ρ(τ) over the store's tasks with a target (``by``: steps or time)."""
        from optbench.plots import plot_profile

        return plot_profile(self, by)

    def plot_kappa(self) -> Any:
        """Steps to target against κ, log-log, with each optimizer's fitted slope."""
        from optbench.plots import plot_kappa

        return plot_kappa(self)

    def plot_sensitivity(self) -> Any:
        """Final headline value against the learning rate, per lr grid."""
        from optbench.plots import plot_sensitivity

        return plot_sensitivity(self)


def _trial_file_problem(path: Path) -> str | None:
    """Why ``trials/<id>.parquet`` cannot be read as that trial's row (None when it can)."""
    try:
        table = pq.read_table(path, columns=["trial_id"]) if "trial_id" in pq.read_schema(path).names else None
    except (OSError, pa.ArrowException) as exc:
        return f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if table is None:
        return "not an optbench trial file (no trial_id column)"
    if table.column("trial_id").to_pylist() != [path.stem]:
        return "holds another trial's row"
    return None


def _metric_file_problem(path: Path) -> str | None:
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        return f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    missing = [c for c in METRIC_COLUMNS if c not in names]
    return f"not an optbench metrics file (no {', '.join(missing)} column)" if missing else None


class Store:
    """A results folder: the one reader and writer of every file in it (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.trials_dir = self.path / "trials"
        self.metrics_dir = self.path / "metrics"
        self.checkpoints_dir = self.path / "checkpoints"
        self.quarantine_dir = self.path / "quarantine"
        self._locked = False

    # opening for writing ---------------------------------------------------------------------
    def create(self) -> Store:
        """Make the folders, take the write lock, quarantine unreadable files and remove stale temporaries.

        Raises a one-line :class:`OptbenchError` for an unwritable location, a non-empty folder that is not
        a store, a store another process is writing, or a manifest that is not optbench's.
        """
        if self.path.is_dir() and not self.exists() and not (self.path / ".lock").exists() \
                and any(self.path.iterdir()):
            raise OptbenchError(f"{self.path} is not an optbench store and is not empty; "
                                "choose a new or empty folder for the results")
        try:
            for directory in (self.trials_dir, self.metrics_dir, self.checkpoints_dir):
                directory.mkdir(parents=True, exist_ok=True)
            fresh = self._writer()
        except OSError as exc:
            raise OptbenchError(f"cannot write results to {self.path}: {exc.strerror or exc}") from None
        if fresh:
            try:
                self.read_manifest()  # a foreign manifest refuses before anything is written
                self._remove_temporaries()
                self._quarantine_unreadable()
            except BaseException:
                self.release()
                raise
        return self

    def _writer(self) -> bool:
        """Hold the store's write lock until :meth:`release`; True when this call took it for the process."""
        if self._locked:
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        fresh = _acquire_lock(self.path)
        self._locked = True
        return fresh

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock around one write: the held one, or taken just for this write (a long-lived process
        that wrote a diagnosis must not keep other writers out afterwards)."""
        try:
            if self._locked:
                yield
                return
            self._writer()
            try:
                yield
            finally:
                self.release()
        except OSError as exc:  # a full disk or a read-only file system: the file being written was not
            problem = environment_error(exc, f"the store {self.path} is intact (finished trials are kept); "
                                        "free space or make it writable, then rerun the same command")
            if problem is None:
                raise
            raise EnvironmentFault(problem) from None

    def release(self) -> None:
        """Give up the write lock (the OS also drops it when the process ends, however it ends)."""
        if self._locked:
            self._locked = False
            _release_lock(self.path)

    def __enter__(self) -> Store:
        return self.create()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _remove_temporaries(self) -> None:
        for directory in (self.path, self.trials_dir, self.metrics_dir, self.checkpoints_dir,
                          self.path / "tasks", self.path / "diagnosis", self.path / "landscape",
                          self.path / "index"):
            for path in directory.iterdir() if directory.is_dir() else []:
                if _TEMPORARY.search(path.name) and path.is_file():
                    path.unlink(missing_ok=True)

    def _quarantine_unreadable(self) -> None:
        """Move aside trial/metric files that cannot be read back, so their trials count as unfinished."""
        bad: dict[str, str] = {}
        for path in sorted(self.metrics_dir.glob("*.parquet")):
            problem = _metric_file_problem(path)
            if problem:
                bad[path.stem] = f"metrics/{path.name}: {problem}"
        for path in sorted(self.trials_dir.glob("*.parquet")):
            problem = _trial_file_problem(path) if path.stem not in bad else None
            if problem:
                bad[path.stem] = f"trials/{path.name}: {problem}"
        if not bad:
            return
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        for trial_id in bad:
            for directory in (self.trials_dir, self.metrics_dir):
                source = directory / f"{trial_id}.parquet"
                if source.exists():
                    os.replace(source, self.quarantine_dir / f"{stamp}-{directory.name}-{source.name}")
        warnings.warn(StoreWarning(f"{self.path}: moved {len(bad)} unreadable file(s) to {self.quarantine_dir} "
                                   f"and will rerun their trials: {'; '.join(bad.values())}"), stacklevel=3)

    # writing ---------------------------------------------------------------------------------
    def write_trial(self, row: dict[str, Any], metrics: pd.DataFrame) -> None:
        """Record one finished trial: metrics first, then the trial row that marks it finished."""
        trial_id = row["trial_id"]
        with self._writing():
            _write_parquet(metrics.reindex(columns=METRIC_COLUMNS), self.metrics_dir / f"{trial_id}.parquet",
                           METRIC_SCHEMA)
            _write_parquet(pd.DataFrame([row]), self.trials_dir / f"{trial_id}.parquet")

    def write_bytes(self, relative: str, data: bytes) -> Path:
        """Write ``data`` to ``relative`` inside the store, atomically and under the lock."""
        path = self.path / relative
        with self._writing():
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_bytes(path, lambda handle: handle.write(data))
        return path

    def write_json(self, relative: str, payload: Any) -> Path:
        """Write ``payload`` as JSON to ``relative`` inside the store, atomically (the one JSON write path)."""
        return self.write_bytes(relative, json.dumps(payload, indent=1, default=_json_default).encode())

    def write_task_info(self, task_key: str, info: dict[str, Any]) -> None:
        """Record what the task configuration ``task_key`` declares (see :meth:`read_task_infos`)."""
        self.write_json(f"tasks/{task_key}.json", info)

    def write_checkpoint(self, trial_id: str, state: dict[str, Any], which: str = "best") -> Path:
        """Save a trial's ``best`` or ``final`` model state dict (read back with :meth:`read_checkpoint`)."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        return self.write_bytes(str(self.checkpoint_path(trial_id, which).relative_to(self.path)),
                                buffer.getvalue())

    def write_diagnosis(self, name: str, document: dict[str, Any]) -> Path:
        """Write ``diagnosis/<name>.json`` (``name``: the trial id, or ``<trial_id>-<point>``)."""
        return self.write_json(f"diagnosis/{name}.json", document)

    def write_landscape(self, name: str, document: dict[str, Any]) -> Path:
        """Write ``landscape/<name>.json`` (``name``: the trial id, or ``<trial_id>-<point>``)."""
        return self.write_json(f"landscape/{name}.json", document)

    def write_tuning(self, document: dict[str, Any]) -> Path:
        """Write ``tune.json``, the tuning protocol's outcome."""
        return self.write_json("tune.json", document)

    def update_manifest(self, run_config: dict[str, Any]) -> dict[str, Any]:
        """Append this run's configuration and environment to the manifest (atomically, under the lock)."""
        with self._writing():  # read, append and write under one lock: no run's entry is lost
            manifest = self.read_manifest()
            manifest.setdefault("created", _now())
            manifest["updated"] = _now()
            manifest.setdefault("runs", []).append({"started": _now(), "config": run_config,
                                                    "environment": environment()})
            self.write_bytes("manifest.json", json.dumps(manifest, indent=2, default=str).encode())
        return manifest

    # reading ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "manifest.json").is_file() or self.trials_dir.is_dir()

    def finished_ids(self) -> set[str]:
        if not self.trials_dir.is_dir():
            return set()
        return {p.stem for p in self.trials_dir.glob("*.parquet")}

    def checkpoint_path(self, trial_id: str, which: str = "best") -> Path:
        if which not in CHECKPOINT_KINDS:
            raise OptbenchError(f"checkpoint kind must be one of {', '.join(CHECKPOINT_KINDS)}, got {which!r}")
        return self.checkpoints_dir / (f"{trial_id}.pt" if which == "best" else f"{trial_id}.final.pt")

    def read_checkpoint(self, trial_id: str, which: str = "best") -> dict[str, Any]:
        """A trial's stored state dict, loaded with ``weights_only=True`` (a pickle with code never runs)."""
        import torch

        path = self.checkpoint_path(trial_id, which)
        if not path.is_file():
            raise OptbenchError(f"trial {trial_id} has no {which} checkpoint ({path} is missing)")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated, not a torch file, or a pickle that wants to run code
            raise OptbenchError(f"{path} cannot be read as a state dict: "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                                ) from None

    def _read_json(self, path: Path, what: str) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OptbenchError(f"{path} is not readable {what}: {exc}") from None

    def read_task_infos(self) -> dict[str, dict[str, Any]]:
        """Every task configuration's declarations by task key, as stored (JSON; see :meth:`read_declarations`)."""
        directory = self.path / "tasks"
        files = sorted(directory.glob("*.json")) if directory.is_dir() else []
        return {path.stem: self._read_json(path, "JSON") for path in files}

    def read_declarations(self) -> dict[str, Declaration]:
        """Every task configuration's :class:`~optbench.declaration.Declaration` by task key."""
        return {key: Declaration.from_json(doc) for key, doc in self.read_task_infos().items()}

    def read_diagnosis(self, name: str) -> dict[str, Any] | None:
        """``diagnosis/<name>.json``, or None when there is none."""
        path = self.path / "diagnosis" / f"{name}.json"
        return self._read_json(path, "JSON") if path.is_file() else None

    def read_diagnoses(self) -> dict[str, dict[str, Any]]:
        """Every diagnosis of the store, keyed by name (the trial id for end-of-trial ones)."""
        directory = self.path / "diagnosis"
        files = sorted(directory.glob("*.json")) if directory.is_dir() else []
        return {path.stem: self._read_json(path, "JSON") for path in files}

    def read_landscapes(self) -> dict[str, dict[str, Any]]:
        """Every landscape document of the store, keyed by name (the trial id for final weights)."""
        directory = self.path / "landscape"
        files = sorted(directory.glob("*.json")) if directory.is_dir() else []
        return {path.stem: self._read_json(path, "JSON") for path in files}

    def read_tuning(self) -> dict[str, Any] | None:
        """``tune.json``, or None when the store holds no tuning run."""
        path = self.path / "tune.json"
        return self._read_json(path, "JSON") if path.is_file() else None

    def read_manifest(self) -> dict[str, Any]:
        path = self.path / "manifest.json"
        if not path.is_file():
            return {}
        manifest = self._read_json(path, "JSON")
        if not isinstance(manifest, dict) or not isinstance(manifest.get("runs", []), list):
            raise OptbenchError(f"{path} is not an optbench manifest (a JSON {type(manifest).__name__}, "
                                "expected an object with a list of runs); is this folder an optbench store?")
        return manifest

    def _unreadable(self, path: Path, reason: str) -> OptbenchError:
        return OptbenchError(f"{path} is {reason}; rerunning the study moves it to "
                             f"{self.quarantine_dir.name}/ and reruns that trial")

    def _trial_tables(self, trial_ids: set[str]) -> pa.Table | None:
        """The rows of the given finished trials, read from their own ``trials/`` files."""
        tables = []
        for trial_id in sorted(trial_ids):
            path = self.trials_dir / f"{trial_id}.parquet"
            try:
                tables.append(pq.ParquetFile(path).read())
            except (OSError, pa.ArrowException):
                raise self._unreadable(path, _trial_file_problem(path) or "unreadable") from None
            if "trial_id" not in tables[-1].column_names:
                raise self._unreadable(path, "not an optbench trial file (no trial_id column)")
        return pa.concat_tables(tables, promote_options="permissive") if tables else None

    def _metric_tables(self, trial_ids: set[str]) -> pa.Table:
        """The long metrics of the given trials that have a ``metrics/`` file, read from those files."""
        files = [self.metrics_dir / f"{i}.parquet" for i in sorted(trial_ids)]
        files = [f for f in files if f.is_file()]
        # One schema for every part lets pyarrow read them all in one multi-threaded pass.
        try:
            return ds.dataset([str(f) for f in files], schema=METRIC_SCHEMA, format="parquet").to_table()
        except (OSError, pa.ArrowException):
            for path in files:
                reason = _metric_file_problem(path)
                if reason:
                    raise self._unreadable(path, reason) from None
            raise

    def _tables(self, with_metrics: bool = True,
                categorical: bool = False) -> tuple[pa.Table | None, pa.Table | None, dict[str, str]]:
        """Every finished trial's row (and metrics), from the read index where it still holds, and the
        stamps they were read under; rows in trial-id order, as if read file by file. ``categorical``:
        the metrics' text columns as dictionaries."""
        stamps = current_stamps(self.path)
        indexed_trials, indexed_metrics, covered = read_index(self.path, stamps, METRIC_SCHEMA, with_metrics)
        rest = set(stamps) - covered
        two_sources = bool(covered and rest)
        parts = [t for t in (indexed_trials, self._trial_tables(rest)) if t is not None and t.num_rows]
        trials = pa.concat_tables(parts, promote_options="permissive") if parts else None
        if two_sources and trials is not None:  # restore the file-by-file (trial id) order
            trials = trials.sort_by("trial_id")
        if not with_metrics:
            return trials, None, stamps
        parts = [text_columns(t, categorical and not two_sources)
                 for t in (indexed_metrics, self._metric_tables(rest)) if t is not None and t.num_rows]
        metrics = pa.concat_tables(parts) if parts else METRIC_SCHEMA.empty_table()
        if two_sources:
            metrics = metrics.sort_by("trial_id")
        return trials, text_columns(metrics, categorical), stamps

    def read_trials(self) -> pd.DataFrame:
        """One row per finished trial."""
        trials, _, _ = self._tables(with_metrics=False)
        return trials.to_pandas() if trials is not None else pd.DataFrame()

    def read_metrics(self, trial_ids: set[str] | None = None) -> pd.DataFrame:
        """The long metrics table of the given trials (default: every trial with a metrics file)."""
        if trial_ids is None:
            trial_ids = {p.stem for p in self.metrics_dir.glob("*.parquet")} if self.metrics_dir.is_dir() else set()
        return self._metric_tables(trial_ids).to_pandas()

    def compact(self) -> None:
        """Rewrite the read index from every finished trial (see :mod:`optbench.store_index`), unless a
        readable index already holds exactly what is finished: what a study on a big store does when it
        ends, so the next report opens 3 files instead of two per trial."""
        with self._writing():
            stamps = current_stamps(self.path)
            if recorded_stamps(self.path) == stamps and read_index(self.path, stamps, METRIC_SCHEMA)[2] == set(stamps):
                return  # e.g. a rerun that ran nothing
            trials, metrics, stamps = self._tables()
            if trials is not None and metrics is not None:
                write_index(trials, metrics, stamps, self.write_bytes)

    def load(self, categorical: bool = False) -> Results:
        """Every finished trial and its metrics; ``categorical``: the metrics' trial ids and names as pandas
        categoricals (what a reader selecting rows of hundreds of thousands of them wants)."""
        if not self.exists():
            raise OptbenchError(f"no results store at {self.path} (expected manifest.json and trials/)")
        manifest = self.read_manifest()
        trials, metrics, _ = self._tables(categorical=categorical)
        assert metrics is not None
        if trials is None:
            return Results(self.path, pd.DataFrame(), metrics.to_pandas(), manifest)
        return Results(self.path, trials.to_pandas(), metrics.to_pandas(), manifest)


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
