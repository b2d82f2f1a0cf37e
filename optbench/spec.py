"""Specification strings: ``name[key=value,key2=a|b]`` → configurations and grids.

Syntax (the same for optimizers, schedules and tasks)::

    adam                                  defaults
    adam[lr=3e-4,betas=0.9/0.98]          overrides; '/' separates the items of a tuple
    sgd[lr=0.1|0.03|0.01]                 a grid: '|' separates alternatives (Cartesian product)
    adam[lr=1e-3|1e-4],sgd                a list: commas outside brackets separate entries

Values are parsed as int, float, ``true``/``false``, ``none``, tuples of those (with '/'), else strings
(so ``data_dir=/data/libriphone`` is a path). A Unicode minus (``1e−3``, as pasted from papers) reads as
'-'; ``nan`` and ``inf`` are refused (no hyperparameter means them). Whether a value has the right type
for its hyperparameter is the entry's to say (:meth:`optbench.entries.Entry.check`).

Seeds are non-negative integers below 2**63 (what the store's int64 column holds), at most
:data:`MAX_SEEDS` of them; batch sizes are positive integers or ``full``.

The size limits of a study live here (:data:`MAX_TRIALS`, :data:`MAX_STEPS`), and the number of trials a study
asks for is counted from the spec strings (:func:`count_specs`) before any grid is expanded: a
10⁶-combination grid is refused in milliseconds instead of being planned for minutes at ~1 GB.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optbench.errors import SpecError

UNICODE_MINUS = "\u2212"
#: seeds must fit the store's int64 column
SEED_LIMIT = 2**63
#: the most seeds one study may ask for (a typo like 0-100000000 is refused before anything is allocated)
MAX_SEEDS = 100_000
#: the most trials one study may expand to: planning costs ~1 ms and ~1 kB a trial, and a store of 10⁵ trials
#: is already more than a report reads comfortably; a bigger study is split into several runs (one store)
MAX_TRIALS = 100_000
#: the most optimizer steps one trial may be given without a time budget or an explicit ``insist``: a typo
#: like --steps 1000000000000 would otherwise run for ever (10⁷ steps of the smallest task take minutes)
MAX_STEPS = 10_000_000


@dataclass(frozen=True)
class Spec:
    """One configured entry: a registry name and the hyperparameters the user set."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The canonical spec string, e.g. ``adam[lr=0.0003]``: only user-set parameters appear."""
        if not self.params:
            return self.name
        return f"{self.name}[{','.join(f'{k}={format_value(v)}' for k, v in sorted(self.params.items()))}]"


def format_number(value: Any, digits: int = 4) -> str:
    """A number as a person reads it: ``—`` when missing, ``never`` for +inf, ``digits`` significant digits."""
    if value is None:
        return "—"
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "never" if number > 0 else "-inf"
    return str(int(value)) if isinstance(value, numbers.Integral) else f"{number:.{digits}g}"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "/".join(format_value(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def parse_value(text: str) -> Any:
    """One spec value: a number, bool, none, a '/'-tuple of those, or a string."""
    text = text.strip().replace(UNICODE_MINUS, "-")
    if "/" in text:
        # 0.9/0.98 is a tuple of numbers; anything else with a slash (a path) stays a string.
        parts = text.split("/")
        if all(p.strip() for p in parts):
            items = tuple(parse_value(p) for p in parts)
            if not any(isinstance(i, str) for i in items):
                return items
        return text
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            number = convert(text)
        except ValueError:
            continue
        if not math.isfinite(number):
            raise SpecError(f"values must be finite numbers, got {text!r}")
        return number
    if not text:
        raise SpecError("empty value")
    return text


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside square brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise SpecError(f"unbalanced ']' in {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise SpecError(f"unclosed '[' in {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_one(text: str) -> list[Spec]:
    """Parse one ``name[...]`` into the specs of its grid (one spec when there is no '|')."""
    text = text.strip()
    if "[" not in text:
        if "]" in text or "=" in text:
            raise SpecError(f"malformed spec {text!r}: write name[key=value,...]")
        return [Spec(text.lower())]
    name, _, rest = text.partition("[")
    if not rest.endswith("]") or "[" in rest:
        raise SpecError(f"malformed spec {text!r}: write name[key=value,...]")
    name = name.strip().lower()
    if not name:
        raise SpecError(f"malformed spec {text!r}: missing a name before '['")
    axes: dict[str, list[Any]] = {}
    for item in split_top_level(rest[:-1]):
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not key or not values.strip():
            raise SpecError(f"malformed parameter {item!r} in {text!r}: write key=value")
        if key in axes:
            raise SpecError(f"parameter {key!r} given twice in {text!r}")
        try:
            axes[key] = [parse_value(v) for v in values.split("|")]
        except SpecError as exc:
            raise SpecError(f"malformed value for {key!r} in {text!r}: {exc}") from None
    keys = list(axes)
    check_trial_count({f"configurations of {name!r}": math.prod(len(v) for v in axes.values())})
    return [Spec(name, dict(zip(keys, combo, strict=True))) for combo in itertools.product(*axes.values())]


def count_one(text: str) -> int:
    """How many specs ``name[...]`` expands to (the product of its '|' alternatives), without expanding it."""
    _, _, rest = text.strip().partition("[")
    count = 1
    for item in split_top_level(rest[:-1]) if rest.endswith("]") else []:
        count *= item.count("|") + 1
    return count


def count_specs(value: str | Spec | Iterable[str | Spec]) -> int:
    """How many specs a list (a string, a :class:`Spec` or an iterable of either) expands to, unexpanded."""
    if isinstance(value, Spec):
        return 1
    if isinstance(value, str):
        return sum(count_one(item) for item in split_top_level(value))
    return sum(count_specs(item) for item in value)


def check_trial_count(factors: Mapping[str, int]) -> int:
    """The product of ``factors`` (e.g. ``{"optimizer configurations": 1000, "seeds": 3}``), refused with
    one line above :data:`MAX_TRIALS`; a study is counted before it is expanded."""
    total = math.prod(factors.values())
    if total > MAX_TRIALS:
        parts = " × ".join(f"{n:,} {what}" for what, n in factors.items())
        raise SpecError(f"the study expands to {total:,} trials ({parts}), more than the limit of {MAX_TRIALS:,}; "
                        "split it into several runs of fewer values (they may share one --out store)")
    return total


def check_steps(steps: int, what: str, insist: bool = False) -> None:
    """Refuse a step budget above :data:`MAX_STEPS` (unless ``insist``): a run that long is almost surely a
    typo and would run for hours or for ever."""
    if steps > MAX_STEPS and not insist:
        raise SpecError(f"{what} asks for {steps:,} steps per trial, more than the limit of {MAX_STEPS:,} "
                        "(hours to years of training); give a time budget (--time) to bound it, or --insist "
                        "to run it anyway")


def parse_list(text: str | Iterable[str]) -> list[Spec]:
    """Parse a comma-separated list of specs (or an iterable of them) into a flat list."""
    items = split_top_level(text) if isinstance(text, str) else [t for s in text for t in split_top_level(s)]
    if not items:
        raise SpecError("empty list")
    return [spec for item in items for spec in parse_one(item)]


def parse_batch_sizes(text: str | Iterable[str | int]) -> list[int | str]:
    """``"1,16,full"`` → ``[1, 16, "full"]``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[int | str] = []
    for item in items:
        item = str(item).strip().lower()
        if item == "full":
            out.append("full")
            continue
        try:
            value = int(item)
        except ValueError:
            raise SpecError(f"batch size must be a positive integer or 'full', got {item!r}") from None
        if value < 1:
            raise SpecError(f"batch size must be >= 1, got {value}")
        out.append(value)
    return out


def _check_seed(seed: Any) -> int:
    try:
        value = operator.index(seed) if not isinstance(seed, bool) else None
    except TypeError:
        value = None
    if value is None or not 0 <= value < SEED_LIMIT:
        raise SpecError(f"seeds must be integers in [0, 2**63), got {seed!r}")
    return value


def _seed_item(item: str) -> range | list[int]:
    """One comma-separated item: ``7`` or ``0-4`` (bounded before any list is built)."""
    try:
        if "-" in item:
            lo, hi = (int(p) for p in item.split("-", 1))
            if hi < lo:
                raise ValueError
        else:
            lo = hi = int(item)
    except ValueError:
        raise SpecError(f"seeds must be integers or ranges like 0-4, got {item!r}") from None
    _check_seed(lo), _check_seed(hi)
    if hi - lo + 1 > MAX_SEEDS:
        raise SpecError(f"seed range {item!r} holds {hi - lo + 1} seeds; at most {MAX_SEEDS} per study")
    return range(lo, hi + 1)


def parse_seeds(text: str | Iterable[int]) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` → a list of non-negative ints below 2**63, at most :data:`MAX_SEEDS`."""
    if not isinstance(text, str):
        if hasattr(text, "__len__") and len(text) > MAX_SEEDS:  # type: ignore[arg-type]
            raise SpecError(f"{len(text)} seeds asked for; at most {MAX_SEEDS} per study")  # type: ignore[arg-type]
        seeds = [_check_seed(s) for s in text]
    else:
        items = [_seed_item(item.strip()) for item in text.replace(UNICODE_MINUS, "-").split(",")]
        if sum(len(r) for r in items) > MAX_SEEDS:
            raise SpecError(f"{sum(len(r) for r in items)} seeds asked for; at most {MAX_SEEDS} per study")
        seeds = [seed for r in items for seed in r]
    if len(seeds) > MAX_SEEDS:
        raise SpecError(f"{len(seeds)} seeds asked for; at most {MAX_SEEDS} per study")
    return seeds


def canonical_json(value: Any) -> str:
    """Stable JSON for hashing and storing configurations (tuples become lists)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
