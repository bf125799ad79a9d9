"""The loss core: pure, vectorized loss functions with analytic gradients, and their registry.

Knows nothing of HTTP. Entry points: :func:`evaluate` and the registry (:data:`LOSSES`,
:func:`get_loss`). It may import NumPy, array-API libraries and numba (:mod:`.accel`); of the
service, only :mod:`service.casting` and :mod:`service.deadline` (tests/ops/test_layout.py
checks it).
"""

from __future__ import annotations

from .errors import LossError
from .evaluate import evaluate
from .registry import ALIASES, LOSSES, SPECS, canonical_name, get_loss
from .spec import Evaluation, Example, InputSpec, LossOutput, LossSpec, ParamSpec
from .warn import VALIDATE_MODES, LossWarning

__all__ = [
    "ALIASES", "LOSSES", "SPECS", "VALIDATE_MODES", "Evaluation", "Example", "InputSpec",
    "LossError", "LossOutput", "LossSpec", "LossWarning", "ParamSpec", "canonical_name",
    "evaluate", "get_loss",
]
