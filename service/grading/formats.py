"""Grader platforms' result shapes, built from a grading result.

* ``gradescope``: one entry of the ``tests`` array of Gradescope's ``results.json``
  (``name``, ``score`` = (weighted) share of checks passed x ``max_score``, computed with exact
  fractions so 1/3 of 3 points is 1.0, not 0.999999999999; ``max_score``, ``status``
  ``passed``/``failed``, ``output`` = the Markdown feedback, ``output_format`` ``md``,
  ``extra_data`` with the checks and diagnosis codes).
* ``prairielearn``: PrairieLearn's external-grading result (``gradable``, ``score`` in [0, 1],
  ``message``, ``output``, and ``tests``, one per check, with ``name``, ``description``,
  ``points``, ``max_points``, ``message`` and ``output``). PrairieLearn shows ``output`` in a
  ``<pre>``, so it is the feedback as plain text (:func:`markdown_to_text`), not Markdown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

FORMATS = ("json", "gradescope", "prairielearn")


def _summary(result: dict[str, Any]) -> str:
    checks = result["checks"]
    n_pass = sum(c["passed"] for c in checks)
    codes = ", ".join(d["code"] for d in result["diagnosis"])
    text = f"{n_pass}/{len(checks)} checks passed"
    return f"{text}; likely mistake: {codes}" if codes else text


def exact(x: float) -> Fraction:
    """``x`` as the decimal it prints as (0.1 is 1/10), for sums and products without drift."""
    return Fraction(repr(float(x)))


def share(result: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> Fraction:
    """The exact (weighted) share of a grading result's checks that passed."""
    raw = {c["name"]: float((weights or {}).get(c["name"], 1.0)) for c in result["checks"]}
    if not all(math.isfinite(v) for v in raw.values()):  # no exact share: the grader's float
        score = float(result["score"])
        return Fraction(score) if math.isfinite(score) else Fraction(0)
    w = {name: exact(v) for name, v in raw.items()}
    total = sum(w.values(), Fraction(0))
    if total == 0:
        return Fraction(int(all(c["passed"] for c in result["checks"])))
    return sum((w[c["name"]] for c in result["checks"] if c["passed"]), Fraction(0)) / total


_HEADING = re.compile(r"^#+ ")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]*)`")


def _plain(cell: str) -> str:
    return _CODE.sub(r"\1", _BOLD.sub(r"\1", cell)).strip()


def markdown_to_text(md: str) -> str:
    """The grader's Markdown feedback as plain text: no ``#``, ``**`` or backticks, tables as
    aligned columns (what a ``<pre>`` shows well)."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            out.append(_plain(_HEADING.sub("", lines[i])))
            i += 1
            continue
        rows = []
        while i < len(lines) and lines[i].startswith("|"):
            cells = [_plain(c) for c in lines[i].strip().strip("|").split(" | ")]
            if not all(set(c) <= {"-", ":"} for c in cells):  # the separator row
                rows.append(cells)
            i += 1
        widths = [max(len(r[k]) for r in rows if k < len(r)) for k in range(len(rows[0]))]
        for r in rows:
            out.append("  ".join(c.ljust(widths[k]) for k, c in enumerate(r)).rstrip())
    return "\n".join(out)


def gradescope(result: dict[str, Any], name: str, max_score: float,
               weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """A Gradescope test entry."""
    return {
        "name": name,
        "score": float(share(result, weights) * exact(max_score)),
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
    return {"gradable": True, "score": float(share(result, weights)),
            "message": _summary(result), "output": markdown_to_text(result["feedback"]),
            "tests": tests}


def shape(result: dict[str, Any], fmt: str, *, name: str, max_score: float = 1.0,
          weights: dict[str, float] | None = None) -> dict[str, Any]:
    """``result`` in format ``fmt`` (``json`` returns it unchanged)."""
    if fmt == "gradescope":
        return gradescope(result, name, max_score, weights)
    if fmt == "prairielearn":
        return prairielearn(result, name, weights or {})
    return result
