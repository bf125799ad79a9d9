"""One check: a submitted array against the reference, in the order present -> shape -> finite ->
values, with a mismatch report.

Reasons a check fails (the first that applies):

* ``missing``: the check was required but nothing was submitted;
* ``shape``: the submitted shape differs from the reference's (nothing is broadcast: ``[2.0]`` is
  not the scalar ``2.0``);
* ``nonfinite``: NaN or an infinity where the reference has something else (or the reverse): the
  non-finite patterns differ, as numpy's "nan/inf location mismatch";
* ``tolerance``: finite values outside ``atol + rtol * |reference|``.

``max_abs_diff`` and ``max_rel_diff`` are taken over the elements where both arrays are finite
(``|s - r| / |r|``, infinite where ``r == 0 != s``), with the row-major index of the first maximum;
null where no element is finite in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .messages import mismatch_message
from .tolerance import Tolerance, isclose

MAX_LISTED = 5  # mismatches listed, as numpy's message


@dataclass(frozen=True)
class Extreme:
    """A maximum difference and where it is."""

    value: float
    index: list[int]


@dataclass(frozen=True)
class Mismatch:
    index: list[int]
    submitted: float
    expected: float


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (see the module docstring)."""

    name: str
    passed: bool
    reason: str | None
    n_mismatched: int
    n_total: int
    max_abs_diff: Extreme | None = None
    max_rel_diff: Extreme | None = None
    first_mismatches: list[Mismatch] = field(default_factory=list)
    message: str = ""
    submitted_shape: tuple[int, ...] | None = None
    expected_shape: tuple[int, ...] = ()


def _extreme(values: np.ndarray, mask: np.ndarray) -> Extreme | None:
    if not mask.any():
        return None
    masked = np.where(mask, values, -np.inf)
    flat = int(np.argmax(masked))
    index = [int(i) for i in np.unravel_index(flat, values.shape)] if values.ndim else []
    return Extreme(float(values.reshape(-1)[flat]), index)


def differences(submitted: np.ndarray, reference: np.ndarray
                ) -> tuple[Extreme | None, Extreme | None]:
    """(max |s - r|, max |s - r| / |r|) over the elements finite in both arrays."""
    both = np.isfinite(submitted) & np.isfinite(reference)
    with np.errstate(all="ignore"):
        abs_diff = np.abs(submitted - reference)
        rel = np.where(reference != 0, abs_diff / np.abs(reference),
                       np.where(abs_diff == 0, 0.0, np.inf))
    return _extreme(abs_diff, both), _extreme(rel, both)


def _mismatches(submitted: np.ndarray, reference: np.ndarray, bad: np.ndarray) -> list[Mismatch]:
    out = []
    for pos in np.argwhere(bad)[:MAX_LISTED]:  # a 0-d True gives one empty index
        idx = tuple(int(i) for i in pos)
        out.append(Mismatch(list(idx), float(submitted[idx]), float(reference[idx])))
    return out


def run_check(name: str, submitted: np.ndarray | None, reference: np.ndarray, tol: Tolerance
              ) -> CheckResult:
    """Check ``submitted`` against ``reference`` (both float64) under ``tol``."""
    reference = np.asarray(reference, dtype=np.float64)
    n_total = int(reference.size)
    base: dict[str, Any] = {"name": name, "n_total": n_total,
                            "expected_shape": tuple(reference.shape)}
    if submitted is None:
        return CheckResult(passed=False, reason="missing", n_mismatched=n_total,
                           message=mismatch_message(name, tol, None, reference, "missing"),
                           **base)
    submitted = np.asarray(submitted, dtype=np.float64)
    base["submitted_shape"] = tuple(submitted.shape)
    if submitted.shape != reference.shape:
        return CheckResult(passed=False, reason="shape", n_mismatched=n_total,
                           message=mismatch_message(name, tol, submitted, reference, "shape"),
                           **base)
    close = isclose(submitted, reference, tol)
    bad = ~close
    max_abs, max_rel = differences(submitted, reference)
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return CheckResult(passed=True, reason=None, n_mismatched=0, max_abs_diff=max_abs,
                           max_rel_diff=max_rel, **base)
    nonfinite = ~(np.isfinite(submitted) & np.isfinite(reference))
    reason = "nonfinite" if bool(np.any(bad & nonfinite)) else "tolerance"
    return CheckResult(
        passed=False, reason=reason, n_mismatched=n_bad, max_abs_diff=max_abs,
        max_rel_diff=max_rel, first_mismatches=_mismatches(submitted, reference, bad),
        message=mismatch_message(name, tol, submitted, reference, reason, bad=bad), **base)
