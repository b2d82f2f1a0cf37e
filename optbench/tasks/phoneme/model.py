"""The HW2 MLP family and the named presets that match the course's baselines.

Structure as in the homework's sample code: an input block (39·concat → hidden), ``layers`` hidden blocks
(hidden → hidden), and a linear head to the 41 classes. A block is Linear → [BatchNorm] → ReLU → [Dropout].
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from optbench.tasks.phoneme.data import N_FEATURES
from optbench.tasks.phoneme.labels import N_CLASSES


@dataclass(frozen=True)
class Architecture:
    concat: int
    layers: int
    hidden: int
    bn: bool
    dropout: float


# simple = the homework's sample settings; medium and strong follow the course's medium/strong baselines
# (more context, depth, then batch norm and dropout), sized to train in minutes on a laptop CPU.
PRESETS: dict[str, Architecture] = {
    "simple": Architecture(concat=1, layers=1, hidden=256, bn=False, dropout=0.0),
    "medium": Architecture(concat=11, layers=2, hidden=256, bn=False, dropout=0.0),
    "strong": Architecture(concat=19, layers=3, hidden=512, bn=True, dropout=0.25),
}


def block(n_in: int, n_out: int, bn: bool, dropout: float) -> nn.Sequential:
    parts: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if bn:
        parts.append(nn.BatchNorm1d(n_out))
    parts.append(nn.ReLU())
    if dropout > 0:
        parts.append(nn.Dropout(dropout))
    return nn.Sequential(*parts)


def build(arch: Architecture) -> nn.Sequential:
    """The MLP for ``arch``: input block, ``arch.layers`` hidden blocks, linear head to 41 logits."""
    blocks = [block(N_FEATURES * arch.concat, arch.hidden, arch.bn, arch.dropout)]
    blocks += [block(arch.hidden, arch.hidden, arch.bn, arch.dropout) for _ in range(arch.layers)]
    return nn.Sequential(*blocks, nn.Linear(arch.hidden, N_CLASSES))
