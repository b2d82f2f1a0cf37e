"""Registry entries: what one optimizer, schedule or task is, made by :func:`optimizer`, :func:`schedule`, :func:`task`.

An :class:`Entry` is an immutable record (kind, name, factory, description, defaults, search space,
aliases, source, code version). A factory may be given as a ``"module:qualname"`` reference
(:class:`~optbench.lazy.LazyFactory`), imported on first use, so listing the builtins imports no torch.
Its hyperparameter defaults have one home, the factory's signature;
``Entry.defaults`` holds only the entry's deliberate departures from it (e.g. momentum's β = 0.9 on
``torch.optim.SGD``). :meth:`Entry.resolved` merges signature defaults, entry defaults and the user's
values into the full set a call uses, which is what a trial's identity hashes.

This module imports nothing of optbench but :mod:`optbench.errors` and :mod:`optbench.lazy`, so the builtin modules, the
catalogue and plugins can all import it while :mod:`optbench.registry` imports them (no circle).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from optbench.errors import SpecError
from optbench.lazy import LazyFactory, signature

Kind = Literal["optimizer", "schedule", "task"]
KINDS: tuple[Kind, ...] = ("optimizer", "schedule", "task")
#: leading positional arguments of each kind's factory that are not hyperparameters
POSITIONAL: dict[str, int] = {"optimizer": 1, "schedule": 1, "task": 0}
Scale = Literal["log", "linear"]
#: torch.optim keywords that choose an implementation, not the update rule (left out of listings, not identity)
IMPLEMENTATION_KEYWORDS = frozenset({"foreach", "fused", "capturable", "differentiable"})


@dataclass(frozen=True)
class Range:
    """A hyperparameter interval worth searching, AlgoPerf style: ``[low, high]`` on a log or linear scale.

    ``limits`` bounds how far tuning may extend the range (e.g. ``(0, 1)`` for a momentum); a log range
    is always bounded below by 0.
    """

    low: float
    high: float
    scale: Scale = "log"
    limits: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (self.low, self.high)):
            raise ValueError(f"range bounds must be finite numbers, got {self.low!r}, {self.high!r}")
        if self.scale not in ("log", "linear"):
            raise ValueError(f"range scale must be 'log' or 'linear', got {self.scale!r}")
        if not self.low < self.high or (self.scale == "log" and self.low <= 0):
            raise ValueError(f"a {self.scale} range needs {'0 < ' if self.scale == 'log' else ''}low < high, "
                             f"got ({self.low}, {self.high})")
        if self.limits is not None and not self.limits[0] <= self.low < self.high <= self.limits[1]:
            raise ValueError(f"range ({self.low}, {self.high}) lies outside its limits {self.limits}")

    def to_unit(self, value: float) -> float:
        """The unit coordinate of ``value`` (inverse of :meth:`at`; a log range maps 0 to -inf)."""
        if self.scale == "log":
            return math.log(value / self.low) / math.log(self.high / self.low) if value > 0 else -math.inf
        return (value - self.low) / (self.high - self.low)

    def clip(self, value: float) -> float:
        """``value`` within the limits (unchanged when there are none): the last step before a value is used,
        after any rounding, which could otherwise leave them (β₂ = 0.999995 rounds to 1.0)."""
        if self.limits is None:
            return value
        return min(max(value, self.limits[0]), self.limits[1])

    def at(self, u: float) -> float:
        """The value at unit coordinate ``u`` (0 → low, 1 → high; beyond extrapolates on the scale)."""
        if self.scale == "log":
            return self.low * (self.high / self.low) ** u
        return self.low + u * (self.high - self.low)

    def extended(self, side: Literal["low", "high"]) -> Range | None:
        """This range grown past ``side`` by one decade (log) or one width (linear), within its limits;
        None when it already reaches its limit on that side."""
        lo_limit, hi_limit = self.limits if self.limits is not None else (-math.inf, math.inf)
        if side == "high":
            new = self.high * 10 if self.scale == "log" else self.high + (self.high - self.low)
            new = min(new, hi_limit)
            return None if new <= self.high else Range(self.low, new, self.scale, self.limits)
        new = self.low / 10 if self.scale == "log" else self.low - (self.high - self.low)
        new = max(new, lo_limit)
        return None if new >= self.low else Range(new, self.high, self.scale, self.limits)

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "scale": self.scale,
                "limits": list(self.limits) if self.limits is not None else None}


@dataclass(frozen=True)
class Domain:
    """The values a hyperparameter may take at all (not a range worth searching, which is :class:`Range`):
    an interval, each end open or closed, e.g. ``Domain(0, 1, high_open=True)`` for a momentum, [0, 1)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not _is_number(value):
            return True  # a word where a number belongs is _check_value's to refuse
        above = value > self.low if self.low_open else value >= self.low  # type: ignore[operator]
        below = value < self.high if self.high_open else value <= self.high  # type: ignore[operator]
        return above and below

    def __str__(self) -> str:
        low = "-inf" if self.low == -math.inf else f"{self.low:g}"
        high = "inf" if self.high == math.inf else f"{self.high:g}"
        return f"{'(' if self.low_open or self.low == -math.inf else '['}{low}, {high}" \
               f"{')' if self.high_open or self.high == math.inf else ']'}"


#: common domains: learning rates and eps-like constants, decays and penalties, averaging coefficients (β, α)
POSITIVE = Domain(0.0, low_open=True)
NON_NEGATIVE = Domain(0.0)
UNIT_INTERVAL = Domain(0.0, 1.0)
AVERAGING = Domain(0.0, 1.0, high_open=True)  # β = 1 would never forget (or never update) the average


def _check_domains(domains: Mapping[str, Domain], key: str, value: Any) -> None:
    """``value`` of hyperparameter ``key`` inside its declared domain (a tuple's items as ``key.0``, ...)."""
    items = [(key, value)] if not isinstance(value, (tuple, list)) else \
        [(f"{key}.{i}", item) for i, item in enumerate(value)]
    for name, item in items:
        domain = domains.get(name)
        if domain is not None and item not in domain:
            raise SpecError(f"{name}={item} is outside its domain {domain}")


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (tuple, list)) and all(_jsonable(v) for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(key: str, value: Any, default: Any) -> None:
    """One line for a value that cannot be right whatever the factory does with it."""
    items = value if isinstance(value, (tuple, list)) else [value]
    if any(_is_number(v) and not math.isfinite(v) for v in items):
        raise SpecError(f"{key} must be a finite number, got {value}")
    if _is_number(default) and not _is_number(value):
        raise SpecError(f"{key} must be a number, got {value!r}")
    if isinstance(default, tuple) and default and all(_is_number(d) for d in default):
        if not isinstance(value, (tuple, list)) or len(value) != len(default):
            example = "/".join(str(d) for d in default)
            raise SpecError(f"{key} takes {len(default)} numbers separated by '/' (e.g. {example}), got {value!r}")
        if not all(_is_number(v) for v in value):
            raise SpecError(f"{key} must be numbers, got {value!r}")


@dataclass(frozen=True)
class Entry:
    """One registered optimizer, schedule or task.

    ``factory`` (a callable, or a ``"module:qualname"`` string, which becomes a
    :class:`~optbench.lazy.LazyFactory` imported on first use) signatures, by kind:

    - optimizer: ``factory(params, **hparams) -> torch.optim.Optimizer``
    - schedule: ``factory(total_steps, **hparams) -> Callable[[int], float]`` (a learning-rate
      multiplier as a function of the step)
    - task: ``factory(**hparams) -> optbench.tasks.Task``

    ``defaults`` override the factory's signature defaults (leave them out where the signature is
    right). ``search_space`` maps hyperparameter names to :class:`Range` s for ``optbench tune``; a
    tuple hyperparameter's items are named ``betas.0``, ``betas.1``. ``lr_range`` is the shortcut for
    ``{"lr": Range(low, high, "log")}``. ``code_version`` is filled by the loader (optbench's version,
    a plugin file's hash, a distribution's version) so a trial's identity changes with its code.
    """

    kind: Kind
    name: str
    factory: Callable[..., Any] | str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    lr_range: tuple[float, float] | None = None
    aliases: tuple[str, ...] = ()
    source: str = "builtin"
    search_space: Mapping[str, Range] = field(default_factory=dict)
    code_version: str = ""
    domains: Mapping[str, Domain] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an entry needs a non-empty string name")
        if any(c in self.name for c in "[],|= "):
            raise ValueError(f"name {self.name!r} may not contain any of '[],|= ' (they are spec syntax)")
        if isinstance(self.factory, str):
            try:
                object.__setattr__(self, "factory", LazyFactory(self.factory))
            except ValueError as exc:
                raise ValueError(f"factory of {self.name!r}: {exc}") from None
        if not callable(self.factory):
            raise ValueError(f"factory of {self.name!r} is not callable: {self.factory!r}")
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "aliases", tuple(a.lower() for a in self.aliases))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "search_space", MappingProxyType(self._space()))
        object.__setattr__(self, "domains", MappingProxyType(dict(self.domains)))
        if "lr" in self.search_space:
            lr = self.search_space["lr"]
            object.__setattr__(self, "lr_range", (lr.low, lr.high))

    def _space(self) -> dict[str, Range]:
        space = dict(self.search_space)
        for key, value in space.items():
            if not isinstance(key, str) or not key or not isinstance(value, Range):
                raise ValueError(f"search_space of {self.name!r} maps names to optbench Range values, "
                                 f"got {key!r}: {value!r}")
        if self.lr_range is not None and "lr" not in space:
            lo, hi = self.lr_range
            if not 0 < lo < hi:
                raise ValueError(f"lr_range of {self.name!r} must satisfy 0 < low < high, got {self.lr_range}")
            space = {"lr": Range(float(lo), float(hi), "log"), **space}
        return space

    def signature_defaults(self) -> dict[str, Any]:
        """The factory's own keyword defaults (JSON-able ones), hyperparameters only (a lazy factory's are
        read from its source without importing it where that is sure: :func:`optbench.lazy.signature`)."""
        try:
            params = list(signature(self.factory).parameters.values())[POSITIONAL[self.kind]:]
        except (TypeError, ValueError):
            return {}
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {p.name: p.default for p in params
                if p.kind in keyword and p.default is not p.empty and _jsonable(p.default)}

    def check(self, params: Mapping[str, Any]) -> None:
        """Refuse values that are wrong whatever the factory does: non-finite numbers, a word where the
        signature's default is a number, a tuple of the wrong length, a value outside the hyperparameter's
        declared :class:`Domain` (``domains``). Raises :class:`SpecError`."""
        signature = self.signature_defaults()
        for key, value in params.items():
            _check_value(key, value, self.defaults.get(key, signature.get(key)))
            _check_domains(self.domains, key, value)

    def resolved(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every hyperparameter a call with ``params`` uses: signature defaults, then the entry's
        defaults, then ``params`` (validated by :meth:`check`; errors name the entry); JSON-able (tuples
        serialise as lists)."""
        params = _tuples(dict(params or {}))
        try:
            self.check(params)
        except SpecError as exc:
            raise SpecError(f"{self.kind} {self.name!r}: {exc}") from None
        return {**self.signature_defaults(), **self.defaults, **params}

    def listed_defaults(self) -> dict[str, Any]:
        """The resolved defaults worth showing a reader (implementation switches left out)."""
        return {k: v for k, v in self.resolved().items() if k not in IMPLEMENTATION_KEYWORDS}

    def create(self, *args: Any, **overrides: Any) -> Any:
        """Call the factory with the entry's defaults updated by ``overrides`` (lists become tuples, as
        spec values come back from JSON)."""
        overrides = _tuples(overrides)
        self.check(overrides)
        return self.factory(*args, **{**self.defaults, **overrides})


def _tuples(params: dict[str, Any]) -> dict[str, Any]:
    # Spec tuples (betas=0.9/0.98) come back from a JSON round trip as lists; factories want tuples.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def optimizer(
    name: str,
    factory: Callable[..., Any] | str,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    lr_range: tuple[float, float] | None = None,
    aliases: Sequence[str] = (),
    search_space: Mapping[str, Range] | None = None,
    domains: Mapping[str, Domain] | None = None,
) -> Entry:
    """Describe an optimizer: ``factory(params, **hparams)`` returns a ``torch.optim.Optimizer``; ``factory``
    may be a ``"module:qualname"`` string (``"torch.optim:Adam"``), imported when first used."""
    return Entry("optimizer", name, factory, description, defaults or {}, lr_range, tuple(aliases),
                 search_space=search_space or {}, domains=domains or {})


def schedule(
    name: str,
    factory: Callable[..., Any] | str,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
    domains: Mapping[str, Domain] | None = None,
) -> Entry:
    """Describe a schedule: ``factory(total_steps, **hparams)`` returns ``step -> lr multiplier``."""
    return Entry("schedule", name, factory, description, defaults or {}, None, tuple(aliases),
                 domains=domains or {})


def task(
    name: str,
    factory: Callable[..., Any] | str,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
) -> Entry:
    """Describe a task: ``factory(**hparams)`` returns an :class:`optbench.tasks.Task`."""
    return Entry("task", name, factory, description, defaults or {}, None, tuple(aliases))
