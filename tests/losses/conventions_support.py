"""Shared by the tests of the ``convention`` parameter (test_conventions_*.py): the inputs they
draw."""

from __future__ import annotations

import numpy as np


def interior_probabilities(rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Interior probabilities (no clip active in any convention) and mixed hard/soft labels."""
    p = rng.uniform(0.02, 0.98, size=shape)
    y = rng.uniform(size=shape)
    hard = rng.uniform(size=shape) < 0.5
    return p, np.where(hard, np.round(y), y)
