"""The optbench suite: a named, versioned set of workloads with declared targets, a fixed tuning protocol,
shipped tuned baselines, and an AlgoPerf-style score.

- :mod:`~optbench.suite.definition`: suites as data (``suites/<name>.json``), workloads and their targets;
- :mod:`~optbench.suite.run`: running optimizers through a suite (the one seam to :mod:`optbench.tune`);
- :mod:`~optbench.suite.results`: a suite store as one table of final trials with steps to target;
- :mod:`~optbench.suite.score`: the score's pure math (performance ratios, profiles, areas, seed spread);
- :mod:`~optbench.suite.scoring`: scoring stores against the shipped baselines;
- :mod:`~optbench.suite.baselines`: exporting, loading and replaying the shipped baselines.
"""

from __future__ import annotations

from optbench.suite.definition import DEFAULT_SUITE, Suite, Workload, load_suite

__all__ = ["DEFAULT_SUITE", "Suite", "Workload", "load_suite"]
