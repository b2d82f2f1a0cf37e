"""User-facing errors: the one exception family the CLI turns into a single line and exit code 2.

Anything raised as an :class:`OptbenchError` is the user's to fix (a name, a value, a file); anything
else is a bug in optbench or a plugin and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the candidate closest to ``word``, or ``""`` when none is close.

    The one place optbench builds its suggestion hint, so every unknown-name message reads alike.
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""


class OptbenchError(Exception):
    """An error caused by user input: printed as one line, no traceback."""


class UnknownNameError(OptbenchError, KeyError):
    """A registry look-up for a name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        known = sorted(known)
        hint = did_you_mean(name.lower(), known, cutoff=0.5)
        super().__init__(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class SpecError(OptbenchError, ValueError):
    """A malformed ``name[key=value,...]`` specification or an impossible value."""


class PluginError(OptbenchError):
    """A plugin file, module or entry point that cannot be loaded or is malformed."""

    def __init__(self, origin: str, problem: str):
        self.origin, self.problem = origin, problem
        super().__init__(f"plugin {origin}: {problem}")


class DataError(OptbenchError):
    """A data file that is missing or malformed (names the file, the expected and the actual)."""


class StoreWarning(UserWarning):
    """Something the store repaired on its own (e.g. unreadable files moved to ``quarantine/``)."""
