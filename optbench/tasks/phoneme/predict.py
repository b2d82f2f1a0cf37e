"""Test-set predictions in the homework's submission format from a trial's best checkpoint.

``Id,Class`` with one row per test frame; Id is the global frame index over the test utterances in
test_split.txt order. The model is rebuilt from the trial's recorded task parameters and its best
``val_acc`` state dict (``<store>/checkpoints/<trial_id>.pt``, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from optbench.errors import DataError, OptbenchError


def predict(results: str | Path, trial_id: str, out: str | Path, data_dir: str | None = None) -> pd.DataFrame:
    """Write ``out`` (CSV ``Id,Class``) for ``trial_id`` of the store at ``results``; returns the frame."""
    from optbench.store import Store
    from optbench.tasks.phoneme.task import PhonemeTask

    store = Store(results)
    trials = store.load().trials
    if trials.empty:
        raise OptbenchError(f"{store.path}: the store holds no trials")
    matches = trials[trials["trial_id"].str.startswith(trial_id)]
    if len(matches) != 1:
        known = ", ".join(trials.loc[trials["task"] == "phoneme", "trial_id"].tolist()) or "none"
        what = "no" if matches.empty else "more than one"
        raise OptbenchError(f"{store.path}: {what} trial matches id {trial_id!r} (phoneme trials: {known})")
    row = matches.iloc[0]
    if row["task"] != "phoneme":
        raise OptbenchError(f"trial {row['trial_id']} is a {row['task']!r} trial, not a phoneme one")
    checkpoint = store.checkpoint_path(row["trial_id"])
    if not checkpoint.is_file():
        raise DataError(f"missing checkpoint {checkpoint}: the trial saved no best-val_acc state "
                        "(was it run with checkpoints disabled, or did it fail?)")
    params = json.loads(row["task_params"])
    if data_dir is not None:
        params["data_dir"] = data_dir
    task = PhonemeTask(**params)
    model = task.init_model(0)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated file, a pickle with code, or another architecture's weights
        raise DataError(f"{checkpoint}: cannot load as this trial's model state dict: "
                        f"{str(exc).strip().splitlines()[0]}") from None
    classes = task.predict_test(model)
    frame = pd.DataFrame({"Id": range(len(classes)), "Class": classes.numpy()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return frame
