"""The registry: what optimizers, schedules and tasks exist, and where each came from.

Entries (:class:`~optbench.entries.Entry`, made with :func:`optimizer`, :func:`schedule`, :func:`task`)
live in :mod:`optbench.entries` and are re-exported here for plugins. A :class:`Registry` holds entries
of the three kinds and answers look-ups
case-insensitively, suggesting the closest name on a miss. :func:`load_registry` builds one from

1. the builtins (``optbench.optimizers``, ``optbench.schedules``, ``optbench.tasks``),
2. installed packages' entry points (groups ``optbench.optimizers``, ``optbench.schedules``,
   ``optbench.tasks``), each pointing at an :class:`Entry` or a list of them,
3. ``*.py`` files in ``./plugins`` of the working directory,
4. extra plugin paths or module names (the CLI's ``--plugin``).

A plugin module registers things by defining module-level :class:`Entry` values (made with
:func:`optimizer`, :func:`schedule` or :func:`task`); the loader collects them. Loading a plugin runs
it (its own imports are its cost); a factory named ``"module:name"`` is imported only when first used, and
one that fails to import then names its plugin. A plugin that fails to import, or that is malformed, is
recorded in :attr:`Registry.problems` with its file and the problem, and every other entry keeps working.
A plugin (file, module or entry point) that does not finish importing within :func:`plugin_timeout`
seconds (30; ``$OPTBENCH_PLUGIN_TIMEOUT``) is recorded the same way and skipped, so a plugin stuck in a
loop or on a lock cannot hang every command (:func:`bounded_import` says how).

The loader stamps each entry's ``code_version``: ``optbench <version> torch <version>`` for builtins (a
torch upgrade changes their numbers; builtin modules whose numbers changed within a version add a revision
tag, e.g. the 2-D surfaces' exact noise), the first 16 hex digits of the sha256 of a plugin file (or of a
plugin module's file), ``<dist> <version>`` for an entry point; a factory named ``"module:name"`` outside
optbench adds the hash of that module's file (:func:`optbench.lazy.code_version`), also for an entry added
by hand, so a trial's identity changes when the code behind it does. Stores written before keep loading:
their trials simply carry the older strings and match no new id. Imports point one way: this module
imports the builtin modules and the catalogue (lazily); they import :mod:`optbench.entries`, not this.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from optbench.entries import KINDS, Entry, Kind, Range, optimizer, schedule, task
from optbench.errors import OptbenchError, PluginError, UnknownNameError
from optbench.lazy import LazyFactory, unwrap
from optbench.lazy import code_version as lazy_code_version

ENTRY_POINT_GROUPS: dict[Kind, str] = {
    "optimizer": "optbench.optimizers",
    "schedule": "optbench.schedules",
    "task": "optbench.tasks",
}
__all__ = ["ENTRY_POINT_GROUPS", "KINDS", "Entry", "Kind", "Range", "Registry", "load_plugin", "load_registry",
           "optimizer", "schedule", "task"]


class Registry:
    """Entries of the three kinds, looked up by case-insensitive name or alias."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Entry]] = {k: {} for k in KINDS}
        self._aliases: dict[Kind, dict[str, str]] = {k: {} for k in KINDS}
        self.problems: list[PluginError] = []
        self.plugin_sources: list[str] = []

    def add(self, entry: Entry) -> None:
        """Register ``entry``; a name or alias already taken raises :class:`PluginError`. An entry no loader
        stamped (made by hand) gets its lazy factory's module hash as its code version."""
        if not entry.code_version and entry.source == "builtin":
            own = unwrap(entry.factory) is not None  # optbench's own module: its version stands for it
            version = lazy_code_version(entry.factory) or (optbench_code_version() if own else "")
            entry = replace(entry, code_version=version)
        taken = self._entries[entry.kind]
        for key in (entry.name, *entry.aliases):
            if key in taken or key in self._aliases[entry.kind]:
                owner = taken.get(key) or taken[self._aliases[entry.kind][key]]
                raise PluginError(
                    entry.source, f"{entry.kind} name {key!r} is already registered by {owner.source}"
                )
        taken[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[entry.kind][alias] = entry.name

    def get(self, kind: Kind, name: str) -> Entry:
        """The entry called ``name`` (or aliased so); unknown names raise with a suggestion."""
        key = name.strip().lower()
        key = self._aliases[kind].get(key, key)
        try:
            return self._entries[kind][key]
        except KeyError:
            pass
        # Catalogue names (``tpo.*``) resolve on first use, so listing never pays for importing the catalogue.
        from optbench import catalogue

        lazy = catalogue.resolve(kind, key)
        if lazy is not None:
            self.add(lazy)
            return lazy
        known = [*self._entries[kind], *self._aliases[kind]]
        raise UnknownNameError(kind, name, known) from None

    def __contains__(self, item: tuple[Kind, str]) -> bool:
        kind, name = item
        key = name.lower()
        return key in self._entries[kind] or key in self._aliases[kind]

    def list(self, kind: Kind) -> list[Entry]:
        """All entries of ``kind`` in registration order (builtins first)."""
        return list(self._entries[kind].values())

    def add_module(self, module: ModuleType, source: str, code_version: str = "") -> int:
        """Register every module-level :class:`Entry` of ``module``; returns how many were added.

        Each bad entry is recorded in :attr:`problems`; the good ones are still registered.
        """
        added = 0
        for value in vars(module).values():
            entries = value if isinstance(value, (list, tuple)) else [value]
            for entry in entries:
                if isinstance(entry, Entry):
                    try:
                        self.add(_with_source(entry, source, code_version))
                        added += 1
                    except PluginError as exc:
                        self.problems.append(exc)
        return added


class GuardedFactory:
    """A plugin's factory whose unexpected exceptions become a :class:`PluginError` naming the plugin.

    User errors the plugin raises itself (:class:`OptbenchError`) pass through unchanged. ``__wrapped__``
    keeps ``inspect.signature`` (and so hyperparameter validation) seeing the plugin's own signature.
    """

    def __init__(self, factory: Callable[..., Any], source: str, kind: Kind, name: str):
        self.__wrapped__ = factory
        self.source, self.kind, self.name = source, kind, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.__wrapped__(*args, **kwargs)
        except OptbenchError:
            raise
        except Exception as exc:
            raise PluginError(self.source, f"{self.kind} {self.name!r}: factory raised "
                              f"{type(exc).__name__}: {exc}") from exc


def _with_source(entry: Entry, source: str, code_version: str) -> Entry:
    if entry.source != "builtin":  # a plugin re-exporting someone else's entry keeps its origin
        return entry
    factory = entry.factory
    if isinstance(factory, LazyFactory):  # one that fails to import names the plugin
        factory = LazyFactory(factory.reference, origin=source)
    factory = GuardedFactory(factory, source, entry.kind, entry.name)
    version = "; ".join(v for v in (code_version, lazy_code_version(entry.factory)) if v)
    return replace(entry, factory=factory, source=source, code_version=version)


def file_code_version(path: str | Path) -> str:
    """A plugin file's code identity: the first 16 hex digits of the sha256 of its source."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _module_code_version(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    return file_code_version(file) if file and Path(file).is_file() else f"module {module.__name__}"


def optbench_code_version() -> str:
    """The builtins' code identity: ``optbench <version> torch <version>``."""
    # read from the package object already being imported, so this module does not import optbench's root
    return f"optbench {getattr(sys.modules.get('optbench'), '__version__', 'unknown')} torch {torch_version()}"


@functools.cache
def torch_version() -> str:
    """``torch.__version__``, read from the installed distribution so listing entries imports no torch."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        import torch

        return str(torch.__version__)


def _import_file(path: Path) -> ModuleType:
    module_name = f"optbench_plugin_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _describe_exception(exc: BaseException, path: str | None = None) -> str:
    if isinstance(exc, PluginTimeout):
        return (f"did not finish importing within {exc.args[0]:g} s (${PLUGIN_TIMEOUT_VARIABLE} sets the limit); "
                "skipped")
    if isinstance(exc, SyntaxError):
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    where = ""
    if path is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        if frames:
            where = f" (line {frames[-1].lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


#: seconds a plugin may take to import before it is reported and skipped (one home; the environment
#: variable below overrides it, e.g. for tests)
PLUGIN_TIMEOUT = 30.0
PLUGIN_TIMEOUT_VARIABLE = "OPTBENCH_PLUGIN_TIMEOUT"


def plugin_timeout() -> float:
    """Seconds a plugin may take to import: ``$OPTBENCH_PLUGIN_TIMEOUT`` if set to a positive number, else 30."""
    try:
        value = float(os.environ.get(PLUGIN_TIMEOUT_VARIABLE, PLUGIN_TIMEOUT))
    except ValueError:
        return PLUGIN_TIMEOUT
    return value if math.isfinite(value) and value > 0 else PLUGIN_TIMEOUT


class PluginTimeout(BaseException):
    """Raised inside a plugin's import when its time is up (a BaseException, so ``except Exception`` in the
    plugin does not swallow it)."""


def bounded_import(load: Callable[[], Any], seconds: float | None = None) -> Any:
    """``load()`` (a plugin's import), interrupted after ``seconds`` with :class:`PluginTimeout`.

    In the main thread of a POSIX process a real-time timer (``setitimer``) raises in the import itself:
    the import stops, nothing keeps running, and it costs two system calls, so ``optbench list`` stays fast
    (a subprocess pre-check would cost a Python start-up per plugin). A thread with a timeout was not
    chosen: it would return on time but leave the import running (a busy loop would keep a core and the
    GIL for the whole command). The timer interrupts Python code and blocking calls (a read, a lock, a
    sleep); a C extension spinning without returning to Python cannot be interrupted in-process at all.
    Elsewhere (another thread, Windows) the import runs in a daemon thread and is abandoned on time."""
    seconds = plugin_timeout() if seconds is None else seconds
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _import_under_timer(load, seconds)
    return _import_in_thread(load, seconds)


def _import_under_timer(load: Callable[[], Any], seconds: float) -> Any:
    def expire(signum: int, frame: Any) -> None:
        raise PluginTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    # one shot: a repeating timer could outlive this call by a race and raise somewhere else later (so a
    # plugin that catches BaseException and loops on is not interrupted twice: documented, not solved)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        return load()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # disarmed before our handler goes, never the other way round
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer_delay > 0:  # someone else's timer (a test harness's): give back what is left of it
            left = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def _import_in_thread(load: Callable[[], Any], seconds: float) -> Any:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = load()
        except BaseException as exc:  # handed to the caller, which reports it
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="optbench-plugin-import")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise PluginTimeout(seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def load_plugin(registry: Registry, target: str | Path) -> None:
    """Load one plugin, a ``.py`` file or an importable module name, recording problems."""
    path = Path(target)
    is_file = str(target).endswith(".py") or path.is_file()
    source = f"file {path}" if is_file else f"module {target}"
    registry.plugin_sources.append(str(target))
    try:
        if is_file:
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            module = bounded_import(lambda: _import_file(path))
            code_version = file_code_version(path)
        else:
            module = bounded_import(lambda: importlib.import_module(str(target)))
            code_version = _module_code_version(module)
    except BaseException as exc:  # a plugin may raise anything, even SystemExit, on import
        if isinstance(exc, KeyboardInterrupt):
            raise
        registry.problems.append(PluginError(source, _describe_exception(exc, str(path.resolve()))))
        return
    added = registry.add_module(module, source, code_version)
    if added == 0 and not any(p.origin == source for p in registry.problems):
        registry.problems.append(
            PluginError(source, "defines no optbench entries (make module-level values with "
                        "optbench.optimizer(...), optbench.schedule(...) or optbench.task(...))")
        )


def load_entry_points(registry: Registry) -> None:
    """Register the entries that installed packages expose under optbench's entry-point groups."""
    for kind, group in ENTRY_POINT_GROUPS.items():
        for ep in importlib.metadata.entry_points(group=group):
            dist = ep.dist.name if ep.dist is not None else "?"
            source = f"entry point {dist}:{ep.name}"
            code_version = f"{dist} {ep.dist.version if ep.dist is not None else '?'}"
            try:
                value = bounded_import(ep.load)
                if callable(value) and not isinstance(value, Entry):
                    value = value()
                entries = value if isinstance(value, (list, tuple)) else [value]
                for entry in entries:
                    if not isinstance(entry, Entry):
                        raise TypeError(f"expected an optbench Entry, got {type(entry).__name__}")
                    if entry.kind != kind:
                        raise TypeError(f"{entry.name!r} is a {entry.kind} but is listed in group {group}")
                    registry.add(_with_source(entry, source, code_version))
            except PluginError as exc:
                registry.problems.append(exc)
            except (Exception, PluginTimeout) as exc:
                registry.problems.append(PluginError(source, _describe_exception(exc)))


def builtin_entries() -> list[Entry]:
    """Every builtin optimizer, schedule and task entry, stamped with optbench's version."""
    from optbench import optimizers, schedules, tasks

    version = optbench_code_version()
    entries = [*optimizers.BUILTINS, *schedules.BUILTINS, *tasks.builtin_entries()]
    # an entry's own code_version here is a revision tag (e.g. "surfaces 2"), kept after optbench's version
    return [replace(entry, code_version=" ".join(v for v in (version, entry.code_version) if v))
            for entry in entries]


def load_registry(
    plugins: Iterable[str | Path] = (),
    plugin_dir: str | Path | None = "plugins",
    entry_points: bool = True,
) -> Registry:
    """Build a registry: builtins, then entry points, then ``plugin_dir/*.py``, then ``plugins``."""
    registry = Registry()
    for entry in builtin_entries():
        registry.add(entry)
    if entry_points:
        load_entry_points(registry)
    if plugin_dir is not None and Path(plugin_dir).is_dir():
        for path in sorted(Path(plugin_dir).glob("*.py")):
            if not path.name.startswith("_"):
                load_plugin(registry, path)
    for target in plugins:
        load_plugin(registry, target)
    return registry
