"""The libriphone loader (HW2 of ML 2022): validated, memory-lean, with frame context by index gather.

Layout (see docs/phoneme.md)::

    root/train_split.txt  train_labels.txt  test_split.txt  feat/train/<id>.pt  feat/test/<id>.pt

All utterances of a split live in ONE contiguous (N, 39) float32 tensor plus utterance offsets. A context
window of ``concat = 2k+1`` frames is assembled per batch by gathering rows t-k..t+k clamped to the
frame's own utterance (so edge frames repeat, as in the homework), from two precomputed per-frame int64
bounds: memory does not grow with ``concat``. Files are read with ``torch.load(weights_only=True)`` so a
data file can never execute code. :func:`resolve_root` decides where the data lives.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from optbench.errors import DataError
from optbench.tasks.phoneme.labels import N_CLASSES

N_FEATURES = 39
ENV_VAR = "OPTBENCH_PHONEME_DIR"
SPLIT_SEED = 1337  # the homework's train/validation shuffle seed


@dataclass
class Frames:
    """Utterances of one split in one tensor: ``features`` (N, 39), ``offsets`` (U+1,), ``labels`` (N,)."""

    ids: list[str]
    features: torch.Tensor
    offsets: torch.Tensor
    labels: torch.Tensor | None
    first: torch.Tensor  # (N,) global index of the first frame of each frame's utterance
    last: torch.Tensor  # (N,) global index of the last frame of each frame's utterance

    @property
    def n_frames(self) -> int:
        return int(self.features.shape[0])

    def frames_of(self, utterances: range | list[int]) -> torch.Tensor:
        """Global frame indices of the given utterance positions, in order."""
        return torch.cat([torch.arange(int(self.offsets[u]), int(self.offsets[u + 1])) for u in utterances]
                         or [torch.zeros(0, dtype=torch.long)])

    def windows(self, frames: torch.Tensor, concat: int) -> torch.Tensor:
        """(B, 39·concat) context windows around ``frames``; frames beyond an utterance edge repeat it."""
        half = concat // 2
        if half == 0:
            return self.features[frames]
        shifts = torch.arange(-half, half + 1, device=frames.device)
        rows = (frames[:, None] + shifts).clamp_(self.first[frames, None], self.last[frames, None])
        return self.features[rows].reshape(len(frames), concat * N_FEATURES)

    def to(self, device: torch.device) -> Frames:
        move = [t.to(device) if t is not None else None
                for t in (self.features, self.offsets, self.labels, self.first, self.last)]
        return Frames(self.ids, *move)  # type: ignore[arg-type]


def read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"missing file {path}: expected one utterance id per line (libriphone layout)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_labels(path: Path) -> dict[str, torch.Tensor]:
    """``<id> <l0> <l1> ...`` per line → id → (T,) int64; labels outside 0..40 raise DataError."""
    if not path.is_file():
        raise DataError(f"missing file {path}: expected '<id> <label> <label> ...' per training utterance")
    labels: dict[str, torch.Tensor] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = torch.tensor([int(p) for p in parts[1:]], dtype=torch.long)
        except ValueError:
            raise DataError(f"{path}:{number}: expected integer labels after the id {parts[0]!r}") from None
        bad = (values < 0) | (values >= N_CLASSES)
        if bool(bad.any()):
            raise DataError(f"{path}:{number}: utterance {parts[0]}: label {int(values[bad][0])} is outside "
                            f"0..{N_CLASSES - 1}")
        labels[parts[0]] = values
    return labels


def load_feature(path: Path) -> torch.Tensor:
    """One utterance's (T, 39) float tensor, loaded without executing code."""
    if not path.is_file():
        raise DataError(f"missing feature file {path} for an utterance listed in the split")
    try:
        tensor = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses code; a corrupt zip fails too: both are the file's fault
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a plain tensor file (loaded with weights_only=True): {first_line}") from None
    if not isinstance(tensor, torch.Tensor):
        raise DataError(f"{path}: expected a (T, {N_FEATURES}) float tensor, got {type(tensor).__name__}")
    if tensor.dim() != 2 or tensor.shape[1] != N_FEATURES or not tensor.is_floating_point():
        raise DataError(f"{path}: expected a (T, {N_FEATURES}) float tensor, got shape {tuple(tensor.shape)} "
                        f"dtype {tensor.dtype}")
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):  # caught here, a NaN would otherwise surface as a "diverged" trial
        frame, column = (int(i) for i in (~finite).nonzero()[0])
        raise DataError(f"{path}: malformed data file: expected finite feature values, found "
                        f"{float(tensor[frame, column])} at frame {frame}, feature {column}")
    return tensor


def load_split(root: Path, split: str, ids: list[str], labels: dict[str, torch.Tensor] | None) -> Frames:
    """Stack the utterances ``ids`` of ``feat/<split>/`` into one :class:`Frames`."""
    tensors, label_parts = [], []
    for utt in ids:
        tensor = load_feature(root / "feat" / split / f"{utt}.pt")
        if labels is not None:
            if utt not in labels:
                raise DataError(f"{root / 'train_labels.txt'}: no labels for utterance {utt}")
            if len(labels[utt]) != len(tensor):
                raise DataError(f"{root / 'train_labels.txt'}: utterance {utt} has {len(labels[utt])} labels, "
                                f"expected {len(tensor)} (frames in {root / 'feat' / split / f'{utt}.pt'})")
            label_parts.append(labels[utt])
        tensors.append(tensor.float())
    if not tensors:
        raise DataError(f"{root}: the {split} split lists no utterances")
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    features = torch.cat(tensors).contiguous()
    first = torch.repeat_interleave(offsets[:-1], lengths)
    last = torch.repeat_interleave(offsets[1:] - 1, lengths)
    return Frames(ids, features, offsets, torch.cat(label_parts) if labels is not None else None, first, last)


def split_train_val(ids: list[str], train_ratio: float = 0.8, seed: int = SPLIT_SEED) -> tuple[list[str], list[str]]:
    """The homework's split: shuffle with ``random.seed(1337)``; the first ``int(n·ratio)`` are training."""
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)  # same Mersenne Twister draws as random.seed(seed); random.shuffle
    cut = int(len(shuffled) * train_ratio)
    return shuffled[:cut], shuffled[cut:]


@dataclass
class Libriphone:
    """A loaded libriphone folder: training utterances (train + validation) and the test utterances."""

    root: Path
    train_ids: list[str]
    val_ids: list[str]
    labelled: Frames  # train + validation utterances, train ones first
    test_ids: list[str]

    def test_frames(self) -> Frames:
        return load_split(self.root, "test", self.test_ids, None)


def load(root: str | Path, train_ratio: float = 0.8) -> Libriphone:
    """Load and validate a libriphone folder (test features are loaded on demand by ``test_frames``)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"phoneme data folder {root} does not exist (expected the libriphone layout: "
                        "train_split.txt, train_labels.txt, test_split.txt, feat/train, feat/test)")
    if not 0.0 < train_ratio < 1.0:
        raise DataError(f"train_ratio must be in (0, 1), got {train_ratio}")
    ids = read_ids(root / "train_split.txt")
    test_ids = read_ids(root / "test_split.txt")
    labels = read_labels(root / "train_labels.txt")
    train_ids, val_ids = split_train_val(ids, train_ratio)
    if not train_ids or not val_ids:
        raise DataError(f"{root / 'train_split.txt'}: {len(ids)} utterances are too few for a "
                        f"train/validation split at ratio {train_ratio}")
    return Libriphone(root, train_ids, val_ids, load_split(root, "train", train_ids + val_ids, labels), test_ids)


def resolve_root(data_dir: str | tuple[str, ...] | None) -> Path:
    """Where the data is: ``data_dir``, else ``$OPTBENCH_PHONEME_DIR``, else the built-in corpus (made on
    first use in the cache). A tuple is a path the spec parser split at its "/" separators."""
    if isinstance(data_dir, tuple):
        data_dir = "/".join(str(part) for part in data_dir)
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    from optbench.tasks.phoneme.corpus import default_corpus

    return default_corpus()
