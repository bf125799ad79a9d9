"""Helpers for the registry samplers: valid random inputs kept away from kinks and ties."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..deadline import check


def kink_tolerance(c: int) -> float:
    """How far sampled scores stay from ties and kinks: 1e-3 for the few classes of the gradient
    tests, less for many classes (where 1e-3 gaps would make almost every row a redraw)."""
    return 1e-3 if c <= 8 else 1e-7


def redraw_rows(rng: Any, x: np.ndarray, bad: Any, attempts: int = 200) -> np.ndarray:
    """Redraw the rows of ``x`` that ``bad(x)`` flags (a boolean per row), a bounded number of
    times; rows still bad after that are kept (never an endless loop)."""
    for _ in range(attempts):
        check("drawing inputs")  # the request's time budget, when there is one
        rows = np.flatnonzero(bad(x))
        if rows.size == 0:
            break
        x[rows] = rng.normal(size=(rows.size, *x.shape[1:]))
    return x
