"""Shared by the mistake tests (test_mistakes*.py): the batch size and class count, a stable
log-softmax, a grading that returns (passed, {(code, check)}, diagnosis), and the ``logits``
fixture: (N, C) scores with a target class each, every class present."""

from __future__ import annotations

import numpy as np
import pytest

from service.grading import GradeOptions, Problem, grade

N, C = 6, 4


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, C) scores, the maximum subtracted first."""
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def graded(problem: Problem, submission: dict, **options) -> tuple[bool, set, list]:
    """Grade ``submission``: (passed, {(code, check)}, the diagnosis)."""
    r = grade(problem, submission, GradeOptions(**options))
    return r.passed, {(d.code, d.check) for d in r.diagnosis}, r.diagnosis


@pytest.fixture
def logits():
    """(N, C) scores and a target class per row, every class present."""
    rng = np.random.default_rng(7)
    z = rng.normal(size=(N, C)) * 2.0
    y = rng.integers(0, C, size=N)
    y[:C] = np.arange(C)  # every class appears
    return z, y
