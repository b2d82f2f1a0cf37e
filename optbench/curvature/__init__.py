"""Curvature of a task's loss at a point: Hessian spectrum, critical-point verdicts, sharpness, noise scale.

``optbench.curvature`` measures the *shape* of the loss rather than the path an optimizer takes on it.
One module per concept, data flowing one way (objective → spectrum → diagnosis → hooks / stored):

- :mod:`.objective`: :class:`Objective`, the loss as a function of one flat θ; gradients and HVPs;
- :mod:`.spectrum`: Lanczos (both ends, top-k eigenpairs), exact eigh, Hutchinson, SLQ, per-tensor λ_max;
- :mod:`.diagnosis`: :func:`diagnose` and :class:`Diagnosis`: verdict, escape direction, sharpness;
- :mod:`.noise`: the gradient noise scale B_simple;
- :mod:`.hooks`: the runner's ``--diagnose`` / ``--noise-scale`` settings and the ``diagnosis/`` files;
- :mod:`.stored`: diagnosing a trial of a store from its saved weights (``optbench diagnose``).

This package re-exports the public names; :mod:`.stored` is imported on use (it needs the runner).
"""

from optbench.curvature.diagnosis import Diagnosis, Escape, classify, diagnose, epsilon_sharpness, escape_step
from optbench.curvature.hooks import (
    DiagnoseSettings,
    NoiseScaleSettings,
    diagnosis_path,
    end_of_trial,
    read_diagnoses,
    write_diagnosis,
)
from optbench.curvature.noise import NoiseScale, noise_scale, noise_scale_from_norms
from optbench.curvature.objective import HVP_METHODS, Objective, example_indices
from optbench.curvature.spectrum import (
    ExactSpectrum,
    LanczosResult,
    SpectralDensity,
    TraceEstimate,
    deflated_trace,
    exact_spectrum,
    group_lambda_max,
    hutchinson_trace,
    lanczos,
    spectral_density,
)

__all__ = [
    "HVP_METHODS", "DiagnoseSettings", "Diagnosis", "Escape", "ExactSpectrum", "LanczosResult", "NoiseScale",
    "NoiseScaleSettings", "Objective", "SpectralDensity", "TraceEstimate", "classify", "diagnose",
    "deflated_trace", "diagnosis_path", "end_of_trial", "epsilon_sharpness", "escape_step", "exact_spectrum",
    "example_indices", "group_lambda_max", "hutchinson_trace", "lanczos", "noise_scale", "noise_scale_from_norms",
    "read_diagnoses", "spectral_density", "write_diagnosis",
]
