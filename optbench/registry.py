"""The registry: what optimizers, schedules and tasks exist, and where each came from.

An :class:`Entry` is an immutable record (kind, name, factory, description, defaults, learning-rate
range, aliases, source). A :class:`Registry` holds entries of the three kinds and answers look-ups
case-insensitively, suggesting the closest name on a miss. :func:`load_registry` builds one from

1. the builtins (``optbench.optimizers``, ``optbench.schedules``, ``optbench.tasks``),
2. installed packages' entry points (groups ``optbench.optimizers``, ``optbench.schedules``,
   ``optbench.tasks``), each pointing at an :class:`Entry` or a list of them,
3. ``*.py`` files in ``./plugins`` of the working directory,
4. extra plugin paths or module names (the CLI's ``--plugin``).

A plugin module registers things by defining module-level :class:`Entry` values (made with
:func:`optimizer`, :func:`schedule` or :func:`task`); the loader collects them. A plugin that fails
to import, or that is malformed, is recorded in :attr:`Registry.problems` with its file and the
problem, and every other entry keeps working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, Literal

from optbench.errors import OptbenchError, PluginError, UnknownNameError

Kind = Literal["optimizer", "schedule", "task"]
KINDS: tuple[Kind, ...] = ("optimizer", "schedule", "task")
ENTRY_POINT_GROUPS: dict[Kind, str] = {
    "optimizer": "optbench.optimizers",
    "schedule": "optbench.schedules",
    "task": "optbench.tasks",
}


@dataclass(frozen=True)
class Entry:
    """One registered optimizer, schedule or task.

    ``factory`` signatures, by kind:

    - optimizer: ``factory(params, **hparams) -> torch.optim.Optimizer``
    - schedule: ``factory(total_steps, **hparams) -> Callable[[int], float]`` (a learning-rate
      multiplier as a function of the step)
    - task: ``factory(**hparams) -> optbench.tasks.Task``

    ``defaults`` are the hyperparameters used when the user gives none; ``lr_range`` is the
    (low, high) learning-rate interval worth searching (optimizers only).
    """

    kind: Kind
    name: str
    factory: Callable[..., Any]
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    lr_range: tuple[float, float] | None = None
    aliases: tuple[str, ...] = ()
    source: str = "builtin"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an entry needs a non-empty string name")
        if any(c in self.name for c in "[],|= "):
            raise ValueError(f"name {self.name!r} may not contain any of '[],|= ' (they are spec syntax)")
        if not callable(self.factory):
            raise ValueError(f"factory of {self.name!r} is not callable: {self.factory!r}")
        if self.lr_range is not None:
            lo, hi = self.lr_range
            if not 0 < lo < hi:
                raise ValueError(f"lr_range of {self.name!r} must satisfy 0 < low < high, got {self.lr_range}")
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "aliases", tuple(a.lower() for a in self.aliases))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def create(self, *args: Any, **overrides: Any) -> Any:
        """Call the factory with the defaults updated by ``overrides``."""
        return self.factory(*args, **{**self.defaults, **overrides})


def optimizer(
    name: str,
    factory: Callable[..., Any],
    description: str,
    defaults: Mapping[str, Any] | None = None,
    lr_range: tuple[float, float] | None = None,
    aliases: Sequence[str] = (),
) -> Entry:
    """Describe an optimizer: ``factory(params, **hparams)`` returns a ``torch.optim.Optimizer``."""
    return Entry("optimizer", name, factory, description, defaults or {}, lr_range, tuple(aliases))


def schedule(
    name: str,
    factory: Callable[..., Any],
    description: str,
    defaults: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
) -> Entry:
    """Describe a schedule: ``factory(total_steps, **hparams)`` returns ``step -> lr multiplier``."""
    return Entry("schedule", name, factory, description, defaults or {}, None, tuple(aliases))


def task(
    name: str,
    factory: Callable[..., Any],
    description: str,
    defaults: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
) -> Entry:
    """Describe a task: ``factory(**hparams)`` returns an :class:`optbench.tasks.Task`."""
    return Entry("task", name, factory, description, defaults or {}, None, tuple(aliases))


class Registry:
    """Entries of the three kinds, looked up by case-insensitive name or alias."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Entry]] = {k: {} for k in KINDS}
        self._aliases: dict[Kind, dict[str, str]] = {k: {} for k in KINDS}
        self.problems: list[PluginError] = []
        self.plugin_sources: list[str] = []

    def add(self, entry: Entry) -> None:
        """Register ``entry``; a name or alias already taken raises :class:`PluginError`."""
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

    def add_module(self, module: ModuleType, source: str) -> int:
        """Register every module-level :class:`Entry` of ``module``; returns how many were added.

        Each bad entry is recorded in :attr:`problems`; the good ones are still registered.
        """
        added = 0
        for value in vars(module).values():
            entries = value if isinstance(value, (list, tuple)) else [value]
            for entry in entries:
                if isinstance(entry, Entry):
                    try:
                        self.add(_with_source(entry, source))
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


def _with_source(entry: Entry, source: str) -> Entry:
    if entry.source != "builtin":  # a plugin re-exporting someone else's entry keeps its origin
        return entry
    factory = GuardedFactory(entry.factory, source, entry.kind, entry.name)
    return Entry(**{**entry.__dict__, "factory": factory, "defaults": dict(entry.defaults), "source": source})


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
    if isinstance(exc, SyntaxError):
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    where = ""
    if path is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        if frames:
            where = f" (line {frames[-1].lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


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
            module = _import_file(path)
        else:
            module = importlib.import_module(str(target))
    except BaseException as exc:  # a plugin may raise anything, even SystemExit, on import
        if isinstance(exc, KeyboardInterrupt):
            raise
        registry.problems.append(PluginError(source, _describe_exception(exc, str(path.resolve()))))
        return
    if registry.add_module(module, source) == 0 and not any(p.origin == source for p in registry.problems):
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
            try:
                value = ep.load()
                if callable(value) and not isinstance(value, Entry):
                    value = value()
                entries = value if isinstance(value, (list, tuple)) else [value]
                for entry in entries:
                    if not isinstance(entry, Entry):
                        raise TypeError(f"expected an optbench Entry, got {type(entry).__name__}")
                    if entry.kind != kind:
                        raise TypeError(f"{entry.name!r} is a {entry.kind} but is listed in group {group}")
                    registry.add(_with_source(entry, source))
            except PluginError as exc:
                registry.problems.append(exc)
            except Exception as exc:
                registry.problems.append(PluginError(source, _describe_exception(exc)))


def builtin_entries() -> list[Entry]:
    """Every builtin optimizer, schedule and task entry."""
    from optbench import optimizers, schedules, tasks

    return [*optimizers.BUILTINS, *schedules.BUILTINS, *tasks.builtin_entries()]


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
