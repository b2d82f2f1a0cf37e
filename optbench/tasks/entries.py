"""The builtin tasks' registry entries (the phoneme task's are in :mod:`optbench.tasks.phoneme.entries`).

Each factory is named by reference (``"module:name"``), so listing tasks imports no torch: a task's module
is imported when the task is first built, and its defaults are read from the factory's signature.
"""

from __future__ import annotations

from dataclasses import replace

from optbench.entries import Entry, task

# a revision of the surfaces' numbers within one optbench version, appended to their code version so stored
# trials are not reused: 2 = minibatch tilts that sum to exactly zero (optbench.tasks.toy.exact_tilts)
SURFACES_REVISION = "surfaces 2"
# what Surface2D takes through **kw; start and shape parameters live in each factory's signature
_COMMON = {"init_std": 0.0, "noise": 0.0, "n": 64, "data_seed": 0}

QUADRATIC: list[Entry] = [
    task(
        "quadratic", "optbench.tasks.quadratic:Quadratic",
        "Rotated ill-conditioned quadratic bowl, eigenvalues 1/κ..1, finite sum of n noisy copies; "
        "records suboptimality and distance to the optimum.",
        aliases=("quad", "bowl"),
    ),
]

SURFACES: list[Entry] = [replace(entry, code_version=SURFACES_REVISION) for entry in [
    task("saddle", "optbench.tasks.toy:saddle", "x² − y²: saddle point at the origin (2-D; records x, y).",
         dict(_COMMON)),
    task("double-well", "optbench.tasks.toy:double_well",
         "x²/2 + y⁴/4 − y²/2: saddle at the origin, minima at (0, ±1); bounded below (2-D).",
         dict(_COMMON)),
    task("monkey-saddle", "optbench.tasks.toy:monkey_saddle", "x³ − 3xy²: degenerate saddle at the origin (2-D).",
         dict(_COMMON)),
    task("rosenbrock", "optbench.tasks.toy:rosenbrock", "Rosenbrock's banana valley, minimum at (1, 1) (2-D).",
         dict(_COMMON)),
    task("himmelblau", "optbench.tasks.toy:himmelblau", "Himmelblau: 4 local minima, 1 maximum, 4 saddles (2-D).",
         dict(_COMMON)),
]]

LOGISTIC: list[Entry] = [
    task(
        "logistic", "optbench.tasks.logistic:Logistic",
        "Logistic regression on synthetic Gaussian data (one linear layer, BCE; convex, minimiser known): "
        "records training suboptimality; reports val_loss and val_acc.",
    ),
]

BUILTINS: list[Entry] = [*QUADRATIC, *SURFACES, *LOGISTIC]
