"""Task plug-ins: the protocol (``base``), the 2-D toy surfaces (``toy``), the quadratic bowl
(``quadratic``) and the HW2 phoneme classifier (``phoneme``)."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["builtin_entries"]


def builtin_entries() -> list[Any]:
    """The builtin task entries (their factories are named by reference: listing them imports no torch)."""
    from optbench.tasks import entries

    found = list(entries.BUILTINS)
    if importlib.util.find_spec("optbench.tasks.phoneme") is not None:
        from optbench.tasks.phoneme import entries as phoneme

        found = [*phoneme.BUILTINS, *found]
    return found
