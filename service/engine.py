"""The one entry point the HTTP layer, grading and benchmarks call to evaluate a loss.

It places arrays on the configured backend, runs the core (:func:`service.losses.evaluate`) and
brings results back as NumPy arrays. Only NumPy exists today; the backend name is reported in every
response so clients can see where a number was computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .losses import Evaluation, evaluate

BACKENDS = ("numpy",)


@dataclass(frozen=True)
class EngineResult:
    evaluation: Evaluation
    backend: str

    def numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a)


def run(name: str, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None, *,
        reduction: str | None = None, sample_weight: Any = None, dtype: str = "float64",
        want_grad: bool = False, backend: str = "numpy") -> EngineResult:
    """Evaluate on ``backend``; arrays in the result are NumPy arrays."""
    if backend != "numpy":
        raise ValueError(f"unknown backend {backend!r}")
    ev = evaluate(name, inputs, params, reduction=reduction, sample_weight=sample_weight,
                  dtype=dtype, want_grad=want_grad)
    return EngineResult(evaluation=ev, backend=backend)
