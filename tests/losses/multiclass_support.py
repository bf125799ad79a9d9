"""Shared by the multiclass loss tests (test_multiclass.py, test_margin.py and
test_softmax_focal.py): the class count and class weights they use, and random class-index
targets."""

from __future__ import annotations

import numpy as np

C = 4
W = [0.5, 2.0, 1.0, 0.25]


def _index_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return () if len(shape) == 1 else (shape[0], *shape[2:])


def class_targets(rng, shape, c, ignore=None, frac=0.0) -> np.ndarray:
    """Class indices for predictions of ``shape``, a fraction set to ``ignore``, one kept valid."""
    t = np.asarray(rng.integers(0, c, size=_index_shape(shape)), dtype=np.int64)
    if ignore is not None:
        if t.ndim:
            t[rng.random(t.shape) < frac] = ignore
        t.reshape(-1)[0] = 0 if ignore != 0 else 1  # at least one target counts in the mean
    return t
