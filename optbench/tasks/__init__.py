"""Task plug-ins: the protocol (``base``), the 2-D toy surfaces (``toy``), the quadratic bowl
(``quadratic``) and the HW2 phoneme classifier (``phoneme``)."""

from __future__ import annotations

import importlib.util

from optbench.registry import Entry
from optbench.tasks.base import Batch, Budget, CriticalPoint, Parameters, Task

__all__ = ["Batch", "Budget", "CriticalPoint", "Parameters", "Task", "builtin_entries"]


def builtin_entries() -> list[Entry]:
    """The builtin task entries (imported lazily so ``optbench`` starts fast)."""
    from optbench.tasks import quadratic, toy

    entries = [*quadratic.BUILTINS, *toy.BUILTINS]
    if importlib.util.find_spec("optbench.tasks.phoneme") is not None:
        from optbench.tasks import phoneme

        entries = [*phoneme.BUILTINS, *entries]
    return entries
