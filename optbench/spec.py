"""Specification strings: ``name[key=value,key2=a|b]`` → configurations and grids.

Syntax (the same for optimizers, schedules and tasks)::

    adam                                  defaults
    adam[lr=3e-4,betas=0.9/0.98]          overrides; '/' separates the items of a tuple
    sgd[lr=0.1|0.03|0.01]                 a grid: '|' separates alternatives (Cartesian product)
    adam[lr=1e-3|1e-4],sgd                a list: commas outside brackets separate entries

Values are parsed as int, float, ``true``/``false``, ``none``, tuples of those (with '/'), else strings
(so ``data_dir=/data/libriphone`` is a path).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optbench.errors import SpecError


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


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "/".join(format_value(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def parse_value(text: str) -> Any:
    text = text.strip()
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
            return convert(text)
        except ValueError:
            pass
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
    return [Spec(name, dict(zip(keys, combo, strict=True))) for combo in itertools.product(*axes.values())]


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


def parse_seeds(text: str | Iterable[int]) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` → a list of non-negative ints."""
    if not isinstance(text, str):
        return [int(s) for s in text]
    seeds: list[int] = []
    for item in text.split(","):
        item = item.strip()
        try:
            if "-" in item:
                lo, hi = (int(p) for p in item.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(item))
        except ValueError:
            raise SpecError(f"seeds must be integers or ranges like 0-4, got {item!r}") from None
    return seeds


def canonical_json(value: Any) -> str:
    """Stable JSON for hashing and storing configurations (tuples become lists)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
