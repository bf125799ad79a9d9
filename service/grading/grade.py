"""Grading: check a submission against the reference, score it, diagnose its mistakes.

:func:`grade` is the one entry point (the HTTP route and ``loss-service grade`` both call it). The
reference comes from :func:`service.engine.run`, the same code that answers ``/loss`` and
``/gradient``. Each submitted field is one check, run in the order value, per_sample, gradient,
gradients.<input>; a field listed in ``require`` but not submitted is a failed ``missing`` check.
The score is the (weighted) share of checks passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from ..losses import LossError
from .checks import CheckResult, run_check
from .context import Context, Problem, check_names
from .diagnose import Diagnosis, diagnose
from .feedback import feedback_markdown
from .tolerance import Tolerance, preset


class SubmissionError(LossError):
    """A submission that cannot be graded (e.g. a gradient of an input the loss does not have)."""


@dataclass(frozen=True)
class GradeOptions:
    tolerance: Tolerance | None = None  # None: the default preset for the problem's dtype
    require: Sequence[str] = ()  # check names, or "all"
    weights: Mapping[str, float] | None = None
    include_reference: bool = False


@dataclass(frozen=True)
class GradeResult:
    passed: bool
    score: float
    checks: list[CheckResult]
    diagnosis: list[Diagnosis]
    feedback: str
    tolerance: Tolerance
    provenance: dict[str, Any]
    reference: dict[str, np.ndarray] | None = None
    weights: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, except the reference arrays (NumPy; the caller encodes them)."""
        out: dict[str, Any] = {
            "passed": self.passed, "score": self.score,
            "checks": [_check_dict(c) for c in self.checks],
            "diagnosis": [d.as_dict() for d in self.diagnosis],
            "feedback": self.feedback, "tolerance": self.tolerance.as_dict(),
            "provenance": self.provenance,
        }
        if self.reference is not None:
            out["reference"] = self.reference
        return out


def _check_dict(c: CheckResult) -> dict[str, Any]:
    d = asdict(c)
    for key in ("submitted_shape", "expected_shape"):
        d[key] = None if d[key] is None else list(d[key])
    return d


def _validate_names(ctx: Context, submission: Mapping[str, Any], require: Sequence[str],
                    weights: Mapping[str, float]) -> list[str]:
    names = check_names(ctx.spec)
    for where, keys in (("submission", submission), ("require", require), ("weights", weights)):
        for key in keys:
            if key == "all" and where == "require":
                continue
            if key not in names:
                kind = "gradient" if key.startswith("gradient") else "check"
                raise SubmissionError(
                    f"{ctx.spec.name} has no {kind} {key!r}; its checks are {', '.join(names)}",
                    (where, *key.split(".", 1)), code="unknown_input" if kind == "gradient"
                    else "invalid_field")
    present = [n for n in names if submission.get(n) is not None]
    required = names if "all" in require else [n for n in names if n in require]
    checked = [n for n in names if n in present or n in required]
    if not checked:
        raise SubmissionError(
            f"the submission is empty: give at least one of {', '.join(names)}", ("submission",),
            code="missing_field")
    return checked


def grade(problem: Problem, submission: Mapping[str, np.ndarray | None],
          options: GradeOptions | None = None) -> GradeResult:
    """Grade ``submission`` (check name -> array) for ``problem``; raises LossError."""
    options = options or GradeOptions()
    ctx = Context(problem)
    tol = options.tolerance or preset("torch", problem.dtype)
    weights = dict(options.weights or {})
    checked = _validate_names(ctx, submission, options.require, weights)
    results = [run_check(name, submission.get(name), ctx.ref[name], tol) for name in checked]
    w = {r.name: float(weights.get(r.name, 1.0)) for r in results}
    total = sum(w.values())
    earned = sum(w[r.name] for r in results if r.passed)
    score = earned / total if total > 0 else float(all(r.passed for r in results))
    found = diagnose(ctx, results, submission, tol)
    provenance = {
        "service": "loss-service", "version": __version__, "loss": ctx.spec.name,
        "params": ctx.params, "reduction": ctx.reduction, "dtype": ctx.dtype,
        "backend": ctx.backend, "numpy": np.__version__,
    }
    passed = all(r.passed for r in results)
    text = feedback_markdown(ctx.spec.name, ctx.reduction, ctx.dtype, tol, results, found,
                             score, w)
    reference = dict(ctx.ref) if options.include_reference else None
    return GradeResult(passed=passed, score=round(score, 12), checks=results, diagnosis=found,
                       feedback=text, tolerance=tol, provenance=provenance,
                       reference=reference, weights=w)
