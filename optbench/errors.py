"""User-facing errors: the one exception family the CLI turns into a single line and exit code 2.

Anything raised as an :class:`OptbenchError` is the user's to fix (a name, a value, a file); anything
else is a bug in optbench or a plugin and keeps its traceback.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable

#: OSErrors that are the machine's state, not a bug: said in one line (exit 2), never as a traceback
ENVIRONMENT_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                      errno.EROFS: "the file system is read-only"}


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


class EnvironmentFault(OptbenchError):
    """The machine refused a write (full disk, quota, read-only file system): one line, exit 2."""


def environment_error(exc: OSError, kept: str = "") -> str | None:
    """One line for an OSError that is the environment's fault (see :data:`ENVIRONMENT_ERRNOS`), else None.

    ``kept`` says what survives (e.g. ``finished trials are kept in results/x``)."""
    cause = ENVIRONMENT_ERRNOS.get(exc.errno or 0)
    if cause is None:
        return None
    where = f" writing {os.fspath(exc.filename)}" if exc.filename else ""
    return f"{cause}{where} ({errno.errorcode.get(exc.errno or 0, exc.errno)}){'; ' + kept if kept else ''}"
