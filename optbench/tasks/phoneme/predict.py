"""Test-set predictions in the homework's submission format from a trial's best checkpoint.

``Id,Class`` with one row per test frame; Id is the global frame index over the test utterances in
test_split.txt order. The model is rebuilt from the trial's recorded task parameters and its best
``val_acc`` state dict (``<store>/checkpoints/<trial_id>.pt``, loaded with ``weights_only=True``), and
the test frames come from the data the trial was trained on (its stored ``data_source``), unless
``data_dir`` names another copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from optbench.errors import DataError, OptbenchError


def check_out(out: Path) -> None:
    """Refuse, before any work, an ``--out`` that is a directory or lies in a folder we cannot write."""
    if out.is_dir():
        raise OptbenchError(f"--out {out} is a directory: give a file name, e.g. {out / 'prediction.csv'}")
    parent = next((p for p in (out.parent, *out.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OptbenchError(f"--out {out}: cannot write in {parent}")


def phoneme_trial(results: Any, trial_id: str) -> dict[str, Any]:
    """The one phoneme trial whose id starts with ``trial_id`` (the store's prefix look-up)."""
    row = results.find_trial(trial_id)
    if row["task"] != "phoneme":
        raise OptbenchError(f"trial {row['trial_id']} is a {row['task']!r} trial, not a phoneme one")
    return row


def trial_task_params(row: pd.Series, data_dir: str | None) -> dict[str, Any]:
    """The trial's task parameters with ``data_dir`` set to the data it trained on (or the override)."""
    params = json.loads(row["task_params"])
    source = row.get("data_source")
    stored = source if isinstance(source, str) and source else None
    if data_dir is not None:
        params["data_dir"] = data_dir
    elif stored is not None:
        if not Path(stored).is_dir():
            raise DataError(f"trial {row['trial_id']} was trained on the data in {stored}, which no longer "
                            "exists: give --data-dir with a copy of it")
        params["data_dir"] = stored
    return params


def predict(results: str | Path, trial_id: str, out: str | Path, data_dir: str | None = None) -> pd.DataFrame:
    """Write ``out`` (CSV ``Id,Class``) for ``trial_id`` of the store at ``results``; returns the frame."""
    from optbench.store import Store
    from optbench.tasks.phoneme.task import PhonemeTask

    out = Path(out)
    check_out(out)
    store = Store(results)
    row = phoneme_trial(store.load(), trial_id)
    checkpoint = store.checkpoint_path(row["trial_id"])
    if not checkpoint.is_file():
        raise DataError(f"missing checkpoint {checkpoint}: the trial saved no best-val_acc state "
                        "(was it run with checkpoints disabled, or did it fail?)")
    task = PhonemeTask(**trial_task_params(row, data_dir))
    model = task.init_model(0)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated file, a pickle with code, or another architecture's weights
        raise DataError(f"{checkpoint}: cannot load as this trial's model state dict: "
                        f"{str(exc).strip().splitlines()[0]}") from None
    classes = task.predict_test(model)
    frame = pd.DataFrame({"Id": range(len(classes)), "Class": classes.numpy()})
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    except OSError as exc:
        raise OptbenchError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    return frame
