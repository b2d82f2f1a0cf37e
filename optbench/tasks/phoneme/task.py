"""The ``phoneme`` task: framewise phoneme classification (HW2) on libriphone data or the built-in corpus.

Training examples are the frames of the training utterances; ``train_batch`` gathers their context
windows (see :meth:`Frames.windows`). ``evaluate`` reports validation loss and accuracy plus training
accuracy on a fixed subsample of at most 20k training frames (cheap, and enough to see over/underfitting).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from optbench.errors import SpecError, did_you_mean
from optbench.tasks.base import Budget, Metric, Task
from optbench.tasks.phoneme import data as D
from optbench.tasks.phoneme.labels import N_CLASSES
from optbench.tasks.phoneme.model import PRESETS, Architecture, build

LOSSES = ("ce", "mse")
EVAL_CHUNK_VALUES = 2**21  # evaluation gathers at most this many input floats (8 MB) at a time, any concat
TRAIN_ACC_FRAMES = 20_000


def architecture(preset: str, concat: int | None, layers: int | None, hidden: int | None,
                 bn: int | bool | None, dropout: float | None) -> Architecture:
    """The preset's architecture with the explicitly given fields replaced, validated."""
    if preset not in PRESETS:
        hint = did_you_mean(preset, PRESETS)
        raise SpecError(f"phoneme: unknown preset {preset!r}{hint} (known: {', '.join(PRESETS)})")
    base = PRESETS[preset]
    arch = Architecture(
        concat=base.concat if concat is None else int(concat),
        layers=base.layers if layers is None else int(layers),
        hidden=base.hidden if hidden is None else int(hidden),
        bn=base.bn if bn is None else bool(int(bn)),
        dropout=base.dropout if dropout is None else float(dropout),
    )
    if arch.concat < 1 or arch.concat % 2 == 0:
        raise SpecError(f"phoneme: concat must be odd and >= 1 (frame t sees t-k..t+k), got {arch.concat}")
    if arch.layers < 0 or arch.hidden < 1:
        raise SpecError(f"phoneme: layers must be >= 0 and hidden >= 1, got layers={arch.layers} "
                        f"hidden={arch.hidden}")
    if not 0.0 <= arch.dropout < 1.0:
        raise SpecError(f"phoneme: dropout must be in [0, 1), got {arch.dropout}")
    return arch


class PhonemeTask(Task):
    default_batch_size = 512
    default_budget = Budget(epochs=2)
    metrics = (Metric("val_loss", "min", "validation loss"), Metric("val_acc", "max", "validation accuracy"),
               Metric("train_acc", "max", "training accuracy (fixed subset)"))
    headline = "val_acc"
    checkpoint_metric = "val_acc"

    def __init__(self, preset: str = "medium", concat: int | None = None, layers: int | None = None,
                 hidden: int | None = None, bn: int | None = None, dropout: float | None = None,
                 loss: str = "ce", data_dir: str | tuple[str, ...] | None = None, train_ratio: float = 0.8):
        self.arch = architecture(preset, concat, layers, hidden, bn, dropout)
        if loss not in LOSSES:
            raise SpecError(f"phoneme: loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.loss_name = loss
        self.root = D.resolve_root(data_dir)
        self.data_source = str(self.root.resolve())
        self.data = D.load(self.root, train_ratio)
        frames = self.data.labelled
        n_train_utts = len(self.data.train_ids)
        self.train_frames = frames.frames_of(range(n_train_utts))
        self.val_frames = frames.frames_of(range(n_train_utts, len(frames.ids)))
        self.n_train = len(self.train_frames)
        pick = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(0))[:TRAIN_ACC_FRAMES]
        self.train_probe = self.train_frames[pick.sort().values]

    def to(self, device: torch.device) -> PhonemeTask:
        self.data.labelled = self.data.labelled.to(device)
        self.train_frames, self.val_frames, self.train_probe = (
            t.to(device) for t in (self.train_frames, self.val_frames, self.train_probe))
        return self

    def init_model(self, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build(self.arch)

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.train_frames[indices]
        labelled = self.data.labelled
        return labelled.windows(frames, self.arch.concat), labelled.labels[frames]  # type: ignore[index]

    def criterion(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if self.loss_name == "ce":
            return F.cross_entropy(logits, labels, reduction=reduction)
        # the lecture's MSE point: squared error between softmax outputs and the one-hot target
        per_example = (logits.softmax(dim=1) - F.one_hot(labels, N_CLASSES).to(logits.dtype)).pow(2).sum(dim=1)
        return per_example.mean() if reduction == "mean" else per_example.sum()

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        inputs, labels = batch
        return self.criterion(model(inputs), labels)

    def eval_chunk(self) -> int:
        """Frames per evaluation chunk: peak memory stays flat in concat (8192 frames at most)."""
        return min(8192, max(256, EVAL_CHUNK_VALUES // (39 * self.arch.concat)))

    @torch.no_grad()
    def _score(self, model: nn.Module, frames: torch.Tensor) -> tuple[float, float]:
        labelled = self.data.labelled
        total_loss, correct = 0.0, 0
        step = self.eval_chunk()
        for start in range(0, len(frames), step):
            chunk = frames[start:start + step]
            logits = model(labelled.windows(chunk, self.arch.concat))
            labels = labelled.labels[chunk]  # type: ignore[index]
            total_loss += float(self.criterion(logits, labels, reduction="sum"))
            correct += int((logits.argmax(dim=1) == labels).sum())
        return total_loss / len(frames), correct / len(frames)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        val_loss, val_acc = self._score(model, self.val_frames)
        _, train_acc = self._score(model, self.train_probe)
        return {"val_loss": val_loss, "val_acc": val_acc, "train_acc": train_acc}

    @torch.no_grad()
    def predict_test(self, model: nn.Module) -> torch.Tensor:
        """Predicted class of every test frame, in test_split order (the submission's Id order)."""
        test = self.data.test_frames()
        model.eval()
        every, step = torch.arange(test.n_frames), self.eval_chunk()
        return torch.cat([model(test.windows(every[s:s + step], self.arch.concat)).argmax(dim=1)
                          for s in range(0, test.n_frames, step)])

    def describe(self) -> dict[str, Any]:
        return {"n_train": self.n_train, "n_val": len(self.val_frames), "data_dir": str(self.root),
                "train_utterances": len(self.data.train_ids), "val_utterances": len(self.data.val_ids),
                "concat": self.arch.concat, "layers": self.arch.layers, "hidden": self.arch.hidden,
                "bn": self.arch.bn, "dropout": self.arch.dropout, "loss": self.loss_name}
