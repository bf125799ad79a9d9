"""The result of one evaluation (its own module: the fused paths build it without importing
:mod:`service.losses.evaluate`, which imports them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .spec import Array


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation, as arrays of the inputs' namespace."""

    loss: str  # canonical name
    reduction: str
    value: Array  # 0-d, or the unreduced array for reduction "none"
    per_sample: Array  # (N,)
    params: dict[str, Any]  # effective parameters, defaults included
    dtype: str
    gradients: dict[str, Array] | None = None  # input name -> gradient of the reduced value

    @property
    def n_samples(self) -> int:
        return int(self.per_sample.shape[0])
