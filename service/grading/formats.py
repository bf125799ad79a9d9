"""Grader platforms' result shapes, built from a grading result.

* ``gradescope``: one entry of the ``tests`` array of Gradescope's ``results.json``
  (``name``, ``score`` = share of checks passed x ``max_score``, ``max_score``, ``status``
  ``passed``/``failed``, ``output`` = the Markdown feedback, ``output_format`` ``md``,
  ``extra_data`` with the checks and diagnosis codes).
* ``prairielearn``: PrairieLearn's external-grading result (``gradable``, ``score`` in [0, 1],
  ``message``, ``output``, and ``tests``, one per check, with ``name``, ``description``,
  ``points``, ``max_points``, ``message`` and ``output``).
"""

from __future__ import annotations

from typing import Any

FORMATS = ("json", "gradescope", "prairielearn")


def _summary(result: dict[str, Any]) -> str:
    checks = result["checks"]
    n_pass = sum(c["passed"] for c in checks)
    codes = ", ".join(d["code"] for d in result["diagnosis"])
    text = f"{n_pass}/{len(checks)} checks passed"
    return f"{text}; likely mistake: {codes}" if codes else text


def gradescope(result: dict[str, Any], name: str, max_score: float) -> dict[str, Any]:
    """A Gradescope test entry."""
    return {
        "name": name,
        "score": round(result["score"] * max_score, 12),
        "max_score": max_score,
        "status": "passed" if result["passed"] else "failed",
        "output": result["feedback"],
        "output_format": "md",
        "extra_data": {
            "checks": {c["name"]: c["reason"] or "passed" for c in result["checks"]},
            "diagnosis": [d["code"] for d in result["diagnosis"]],
            "tolerance": result["tolerance"],
        },
    }


def prairielearn(result: dict[str, Any], name: str, weights: dict[str, float]
                 ) -> dict[str, Any]:
    """A PrairieLearn grading result."""
    tests = []
    for c in result["checks"]:
        w = weights.get(c["name"], 1.0)
        hints = [d["hint"] for d in result["diagnosis"] if d["check"] == c["name"]]
        message = "passed" if c["passed"] else f"failed ({c['reason']})"
        if hints:
            message += ": " + " ".join(hints)
        tests.append({"name": c["name"], "description": f"{name}: {c['name']}",
                      "points": w if c["passed"] else 0.0, "max_points": w,
                      "message": message, "output": c["message"]})
    return {"gradable": True, "score": result["score"], "message": _summary(result),
            "output": result["feedback"], "tests": tests}


def shape(result: dict[str, Any], fmt: str, *, name: str, max_score: float = 1.0,
          weights: dict[str, float] | None = None) -> dict[str, Any]:
    """``result`` in format ``fmt`` (``json`` returns it unchanged)."""
    if fmt == "gradescope":
        return gradescope(result, name, max_score)
    if fmt == "prairielearn":
        return prairielearn(result, name, weights or {})
    return result
