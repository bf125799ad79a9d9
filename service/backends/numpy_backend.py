"""The NumPy backend: arrays stay where they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import Availability


class NumpyBackend:
    name = "numpy"

    def availability(self) -> Availability:
        return Availability(True, device="cpu")

    def to_device(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        return dict(arrays)

    def to_host(self, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in arrays.items()}
