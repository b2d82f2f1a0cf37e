"""The phoneme task's registry entry (kept apart so importing the package, e.g. for its CLI commands, is cheap;
the factory is named by reference, so listing tasks imports neither torch nor the task's module)."""

from __future__ import annotations

from optbench.entries import Entry
from optbench.entries import task as task_entry

BUILTINS: list[Entry] = [
    task_entry(
        "phoneme", "optbench.tasks.phoneme.task:PhonemeTask",
        "HW2 framewise phoneme classification (41 classes) with an MLP over concat context frames; "
        "libriphone data from data_dir / $OPTBENCH_PHONEME_DIR, else a built-in eSpeak NG corpus. "
        "preset=simple|medium|strong, concat, layers, hidden, bn, dropout, loss=ce|mse.",
        aliases=("hw2", "libriphone"),
    ),
]
