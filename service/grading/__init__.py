"""Grading submissions against the reference: tolerance checks, mismatch reports, the catalog of
common mistakes, deterministic test cases and losses side by side. Knows nothing of HTTP.

Entry points: :func:`grade` (``POST /compare`` mode ``grade``, ``loss-service grade``),
:func:`compare_losses` (mode ``losses``), :func:`case_set` (``GET /cases/{name}``) and
:data:`CATALOG` (``GET /compare/mistakes``).

It may import, of the service, :mod:`service.losses`, :mod:`service.engine` and the version;
never the HTTP layer, which imports it (tests/ops/test_layout.py checks it).
"""

from __future__ import annotations

from .cases import case_set
from .catalog import CATALOG, CODES, Mistake, applicable
from .context import Problem
from .grade import GradeOptions, GradeResult, SubmissionError, grade
from .side_by_side import LossRequest, compare_losses
from .tolerance import PRESETS, Tolerance, preset, resolve

__all__ = [
    "CATALOG", "CODES", "PRESETS", "GradeOptions", "GradeResult", "LossRequest", "Mistake",
    "Problem", "SubmissionError", "Tolerance", "applicable", "case_set", "compare_losses",
    "grade", "preset", "resolve",
]
