"""Feedback for the student: a short Markdown report of the checks and the likely mistakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .checks import CheckResult
from .tolerance import Tolerance

if TYPE_CHECKING:
    from .diagnose import Diagnosis

_REASONS = {
    "missing": "missing",
    "shape": "wrong shape",
    "nonfinite": "NaN or infinity",
    "tolerance": "outside tolerance",
}


def _num(x: float) -> str:
    return f"{x:.6g}"


def _detail(r: CheckResult) -> str:
    if r.passed:
        worst = f"; max abs diff {_num(r.max_abs_diff.value)}" if r.max_abs_diff else ""
        return f"{r.n_total} value(s) match{worst}"
    if r.reason == "missing":
        return "required but not submitted"
    if r.reason == "shape":
        return (f"shape {tuple(r.submitted_shape or ())} submitted, "
                f"{tuple(r.expected_shape)} expected")
    parts = [f"{r.n_mismatched} of {r.n_total} value(s) differ"]
    if r.first_mismatches:
        m = r.first_mismatches[0]
        where = f"first at index {m.index}: " if m.index else ""
        parts.append(f"{where}got {_num(m.submitted)}, expected {_num(m.expected)}")
    if r.max_abs_diff and r.reason == "tolerance":
        parts.append(f"max abs diff {_num(r.max_abs_diff.value)}")
    return "; ".join(parts)


def feedback_markdown(loss: str, reduction: str, dtype: str, tol: Tolerance,
                      results: Sequence[CheckResult], diagnosis: Sequence[Diagnosis],
                      score: float, weights: Mapping[str, float]) -> str:
    """The Markdown shown to the student."""
    n_pass = sum(r.passed for r in results)
    verdict = "All checks passed" if n_pass == len(results) else \
        f"{n_pass} of {len(results)} checks passed"
    lines = [f"**{verdict}** (score {score:.2f}) for `{loss}` with reduction `{reduction}` "
             f"in {dtype}, tolerance {tol.describe()}.", "",
             "| check | result | details |", "| --- | --- | --- |"]
    for r in results:
        result = "passed" if r.passed else f"failed: {_REASONS[r.reason or 'tolerance']}"
        weight = weights.get(r.name, 1.0)
        name = r.name if weight == 1.0 else f"{r.name} (weight {weight:g})"
        lines.append(f"| `{name}` | {result} | {_detail(r)} |")
    if diagnosis:
        lines += ["", "**Likely mistakes**", ""]
        for d in diagnosis:
            lines.append(f"- `{d.code}` (in `{d.check}`): {d.evidence}. {d.hint}")
    elif n_pass < len(results):
        lines += ["", "No catalogued mistake matches; compare your result with the first "
                  "mismatches above."]
    return "\n".join(lines)
