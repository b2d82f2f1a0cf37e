"""The runner's hooks: ``--diagnose`` and ``--noise-scale`` settings, the end-of-trial hook, diagnosis files.

This module owns the settings dataclasses parsed from the CLI texts (:class:`DiagnoseSettings`,
:class:`NoiseScaleSettings`), :func:`end_of_trial` (record the scalars, return the JSON document) and the
``diagnosis/<trial_id>.json`` files of a store (:func:`write_diagnosis`, :func:`read_diagnoses`; the store
will own these writes once it has a method for them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optbench.curvature.diagnosis import ONLY, Diagnosis, diagnose, diagnose_extremes
from optbench.curvature.noise import noise_scale
from optbench.errors import SpecError, did_you_mean
from optbench.spec import parse_value, split_top_level
from optbench.tasks.base import Task


def _parse_settings(cls: type, text: str | None, option: str) -> Any:
    """``"key=value,key2=value"`` → an instance of the settings dataclass ``cls`` (one-line errors)."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for item in split_top_level(text or ""):
        key, eq, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not raw.strip():
            raise SpecError(f"{option}: malformed setting {item!r}, write key=value")
        if key not in names:
            raise SpecError(f"{option}: unknown setting {key!r}{did_you_mean(key, names)} "
                            f"(known: {', '.join(names)})")
        values[key] = parse_value(raw)
    try:
        settings = cls(**values)
    except TypeError as exc:
        raise SpecError(f"{option}: {exc}") from None
    settings.validate(option)
    return settings


@dataclass
class DiagnoseSettings:
    """``--diagnose [examples=N,density=true,...]``: an end-of-trial diagnosis, outside the clock."""

    examples: int | None = 4096  # a seeded subset keeps big tasks at seconds; none = every example
    exact_max_params: int = 3000
    lanczos_iters: int = 80
    lanczos_tol: float = 1e-3  # Ritz residuals ≤ tol·max|λ|: PyHessian's 1e-3, on the residual (stricter)
    trace_probes: int = 16
    grad_tol: float = 1e-3
    eps_steps: int = 10
    density: bool = False
    top_k: int = 1  # the k largest eigenpairs (values in the JSON; vectors only for d <= 64)
    per_layer: bool = False  # λ_max of each parameter tensor's diagonal Hessian block (≤ 40 HVPs per tensor)
    #: only=lambda_max (or lambda_min, lambda_min+lambda_max): just those eigenvalues, each to a relative
    #: error bound ``tol`` (default 1e-3), by Lanczos in at most lanczos_iters HVPs; nothing else
    only: str | None = None
    tol: float | None = None
    landscape: bool = False  # loss slices around the final weights (optbench.curvature.landscape), no trajectory

    @classmethod
    def parse(cls, text: str | None) -> DiagnoseSettings:
        return _parse_settings(cls, text, "--diagnose")

    def validate(self, option: str = "--diagnose") -> None:
        for name in ("exact_max_params", "lanczos_iters", "trace_probes", "eps_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise SpecError(f"{option}: {name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.examples is not None and (not isinstance(self.examples, int) or self.examples < 1):
            raise SpecError(f"{option}: examples must be an integer >= 1 or none, got {self.examples!r}")
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or self.top_k < 1:
            raise SpecError(f"{option}: top_k must be an integer >= 1, got {self.top_k!r}")
        for name in ("density", "per_layer", "landscape"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"{option}: {name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.lanczos_tol, bool) or not isinstance(self.lanczos_tol, (int, float)) \
                or not 0 < self.lanczos_tol < 1:
            raise SpecError(f"{option}: lanczos_tol must be a number in (0, 1), got {self.lanczos_tol!r}")
        if self.trace_probes < 2:
            raise SpecError(f"{option}: trace_probes must be >= 2, got {self.trace_probes}")
        self._validate_only(option)

    def _validate_only(self, option: str) -> None:
        if self.only is not None and self.only not in ONLY:
            raise SpecError(f"{option}: only must be one of {', '.join(ONLY)}, got {self.only!r}")
        if self.tol is None:
            return
        if self.only is None:
            raise SpecError(f"{option}: tol is the tolerance of only=...; the full diagnosis's is lanczos_tol")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not 0 < self.tol < 1:
            raise SpecError(f"{option}: tol must be a number in (0, 1), got {self.tol!r}")

    def run(self, task: Task, model: nn.Module, seed: int) -> Diagnosis:
        if self.only is not None:
            return diagnose_extremes(task, model, self.only, self.examples, seed, tol=self.tol or 1e-3,
                                     iters=self.lanczos_iters, grad_tol=self.grad_tol)
        return diagnose(task, model, self.examples, seed, exact_max_params=self.exact_max_params,
                        lanczos_iters=self.lanczos_iters, lanczos_tol=self.lanczos_tol,
                        trace_probes=self.trace_probes, grad_tol=self.grad_tol,
                        eps_steps=self.eps_steps, density=self.density, top_k=self.top_k,
                        per_layer=self.per_layer)


@dataclass
class NoiseScaleSettings:
    """``--noise-scale every=N[,small=b,chunks=k]``: record B_simple every N steps, outside the clock.

    ``small`` defaults to the trial's batch size (or n/8 when that is more than half the data), and the
    big batch is ``chunks`` × ``small`` examples, capped by the training set.
    """

    every: int = 50
    small: int | None = None
    chunks: int = 8

    @classmethod
    def parse(cls, text: str | None) -> NoiseScaleSettings:
        return _parse_settings(cls, text, "--noise-scale")

    def validate(self, option: str = "--noise-scale") -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise SpecError(f"{option}: every must be an integer >= 1, got {self.every!r}")
        if not isinstance(self.chunks, int) or self.chunks < 2:
            raise SpecError(f"{option}: chunks must be an integer >= 2, got {self.chunks!r}")
        if self.small is not None and (not isinstance(self.small, int) or self.small < 1):
            raise SpecError(f"{option}: small must be an integer >= 1, got {self.small!r}")

    def batch_sizes(self, batch_size: int, n: int) -> tuple[int, int] | None:
        """(small, chunks) for a trial, or None when the data set is too small for two batch sizes."""
        small = self.small if self.small is not None else (batch_size if 2 * batch_size <= n else n // 8)
        chunks = min(self.chunks, n // small) if small >= 1 else 0
        return (small, chunks) if small >= 1 and chunks >= 2 else None

    def measure(self, task: Task, model: nn.Module, batch_size: int, seed: int, step: int) -> dict[str, float]:
        """The metrics rows of one measurement (none when the task is too small for it)."""
        sizes = self.batch_sizes(batch_size, task.n_train)
        if sizes is None:
            return {}
        # its own generator and a forked global RNG: measuring must not change the trial's numbers
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        with torch.random.fork_rng(devices=[]):
            estimate = noise_scale(task, model, sizes[0], sizes[1], generator)
        return {"noise_grad_sq": estimate.grad_sq, "noise_trace_cov": estimate.trace_cov,
                "grad_noise_scale": estimate.b_simple}


def end_of_trial(settings: DiagnoseSettings, task: Task, model: nn.Module, seed: int,
                 record: Callable[[str, float], None]) -> dict[str, Any]:
    """The runner's end-of-trial hook: record the scalar results and return the JSON document.

    A diagnosis that fails (a task whose loss torch.func cannot differentiate, say) is reported in the
    document's ``error`` field; it never fails a trial that trained fine.
    """
    try:
        with torch.random.fork_rng(devices=[]):
            result = settings.run(task, model, seed)
    except Exception as exc:  # noqa: BLE001 - recorded for the user, the trial itself succeeded
        return {"point": "final", "error": f"{type(exc).__name__}: {exc}"}
    for name, value in result.metrics().items():
        record(name, value)
    document = {"point": "final", **result.to_dict()}
    if settings.landscape:  # the study writes it to landscape/<trial_id>.json
        document["landscape"] = _landscape(task, model, seed, settings.examples)
    return document


def _landscape(task: Task, model: nn.Module, seed: int, examples: int | None) -> dict[str, Any]:
    """The end-of-trial landscape document (lines, plane, interpolation) on the diagnosis's examples; a
    failure is its ``error``."""
    from optbench.curvature.landscape import LandscapeSettings, flat_weights, landscape

    try:
        with torch.random.fork_rng(devices=[]):
            settings = LandscapeSettings(examples=examples, trajectory=False)
            init = flat_weights(task.init_model(seed)).to(next(model.parameters()).device)
            return {"point": "final", "weights": "end of training", **landscape(task, model, seed, settings, init)}
    except Exception as exc:  # noqa: BLE001 - recorded for the user, the trial itself succeeded
        return {"point": "final", "error": f"{type(exc).__name__}: {exc}"}


def diagnosis_path(store_path: str | Path, trial_id: str) -> Path:
    return Path(store_path) / "diagnosis" / f"{trial_id}.json"


def write_diagnosis(store_path: str | Path, trial_id: str, document: dict[str, Any], name: str | None = None) -> Path:
    """Write ``diagnosis/<name or trial_id>.json`` through the store (its one atomic write path)."""
    from optbench.store import Store

    return Store(store_path).write_diagnosis(name or trial_id, document)


def read_diagnoses(store_path: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``diagnosis/*.json`` of a store, keyed by file stem (the trial id for end-of-trial ones)."""
    from optbench.store import Store

    return Store(store_path).read_diagnoses()
