"""The result of one evaluation (its own module: the fused paths build it without importing
:mod:`service.losses.evaluate`, which imports them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .spec import Array
from .warn import LossWarning


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation, as arrays of the inputs' namespace."""

    loss: str  # canonical name
    reduction: str
    value: Array  # 0-d, or the unreduced array for reduction "none"
    per_sample: Array | None  # (N,); None where the caller did not ask for it
    params: dict[str, Any]  # effective parameters, defaults included
    dtype: str
    gradients: dict[str, Array] | None = None  # input name -> gradient of the reduced value
    samples: int = -1  # N where per_sample is None
    # inputs computed on that look like mistakes (validate="lenient"); strict raises them
    warnings: tuple[LossWarning, ...] = ()

    @property
    def n_samples(self) -> int:
        return int(self.per_sample.shape[0]) if self.per_sample is not None else self.samples
