"""A :class:`~.runner.Report` as each platform's complete result document, and as text.

* ``gradescope``: Gradescope's ``results.json``: ``score`` (total), ``output`` and
  ``output_format`` md, and ``tests``, one per question (``name``, ``score``, ``max_score``,
  ``status``, ``visibility``, ``output`` = the per-case Markdown with the per-check tables,
  ``extra_data`` = the machine-readable checks and diagnosis of every case);
* ``prairielearn``: PrairieLearn's external grader ``results.json``: ``gradable``, ``score`` in
  [0, 1], ``message``, ``output`` as plain text (PrairieLearn shows it in a ``<pre>``), ``tests``
  (``points``/``max_points`` per question); a submission with nothing to grade (no Python file,
  or none that compiles) is ``{"gradable": false, "format_errors": [...]}``;
* ``text``: the terminal report ``loss-service check`` prints.

Scores are the exact fractions of :mod:`.runner`, printed as the nearest float.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .. import __version__
from ..grading.formats import markdown_to_text
from .runner import CaseOutcome, QuestionOutcome, Report

FORMATS = ("gradescope", "prairielearn", "text")


def _pts(x: Fraction | float) -> str:
    return f"{float(x):.4g}"


def _failure_md(c: CaseOutcome) -> str:
    assert c.failure is not None
    text = f"**Could not grade this case** ({c.failure.kind}): {c.failure.message}"
    if c.failure.detail:
        text += "\n\n```\n" + c.failure.detail.rstrip() + "\n```"
    return text


def case_markdown(c: CaseOutcome) -> str:
    """One case's section: its name and inputs, then the grader's feedback or the failure."""
    head = f"#### Case `{c.case.name}`: {'passed' if c.passed else 'failed'}\n\n" \
           f"{c.case.description}."
    body = c.result["feedback"] if c.result is not None else _failure_md(c)
    return f"{head}\n\n{body}"


def question_markdown(q: QuestionOutcome) -> str:
    """A question's feedback: the score line, then every case."""
    n_pass = sum(c.passed for c in q.cases)
    where = f" (from `{q.module}`)" if q.module else ""
    head = (f"`{q.question.function}`{where}: {n_pass} of {len(q.cases)} cases passed, "
            f"{_pts(q.score)} / {_pts(q.question.points)} points.")
    return "\n\n".join([head, *(case_markdown(c) for c in q.cases)])


def _case_data(c: CaseOutcome) -> dict[str, Any]:
    out: dict[str, Any] = {"case": c.case.name, "passed": c.passed, "share": float(c.share)}
    if c.result is not None:
        out["checks"] = {k["name"]: k["reason"] or "passed" for k in c.result["checks"]}
        out["diagnosis"] = [{"code": d["code"], "check": d["check"]}
                            for d in c.result["diagnosis"]]
    if c.failure is not None:
        out["error"] = {"kind": c.failure.kind, "message": c.failure.message}
    return out


def _codes(q: QuestionOutcome) -> list[str]:
    seen: dict[str, None] = {}
    for c in q.cases:
        for d in (c.result or {}).get("diagnosis", []):
            seen[d["code"]] = None
    return list(seen)


def _summary(report: Report) -> str:
    return (f"{report.assignment.title}: {_pts(report.score)} / {_pts(report.max_score)} "
            f"points")


def gradescope(report: Report) -> dict[str, Any]:
    """Gradescope's complete ``results.json``."""
    if report.format_errors:
        text = "Nothing could be graded: " + "; ".join(report.format_errors)
        tests = [{"name": q.name, "score": 0.0, "max_score": q.points, "status": "failed",
                  "visibility": q.visibility, "output": text, "output_format": "md"}
                 for q in report.assignment.questions]
        return {"score": 0.0, "output": text, "output_format": "md", "tests": tests,
                "extra_data": {"format_errors": report.format_errors}}
    tests = []
    for q in report.questions:
        tests.append({
            "name": q.question.name, "score": float(q.score),
            "max_score": q.question.points, "status": "passed" if q.passed else "failed",
            "visibility": q.question.visibility, "output": question_markdown(q),
            "output_format": "md",
            "extra_data": {"loss": q.question.loss, "function": q.question.function,
                           "module": q.module, "diagnosis": _codes(q),
                           "cases": [_case_data(c) for c in q.cases]},
        })
    return {"score": float(report.score), "output": _summary(report) + ".",
            "output_format": "md", "tests": tests,
            "extra_data": {"grader": f"loss-service {__version__}"}}


def prairielearn(report: Report) -> dict[str, Any]:
    """PrairieLearn's external-grader ``results.json``."""
    if report.format_errors:
        return {"gradable": False, "format_errors": report.format_errors,
                "message": "Your submission could not be graded: "
                + "; ".join(report.format_errors)}
    tests = []
    for q in report.questions:
        codes = _codes(q)
        n_pass = sum(c.passed for c in q.cases)
        message = f"{n_pass} of {len(q.cases)} cases passed"
        if codes:
            message += f"; likely mistake: {', '.join(codes)}"
        failed = [c.failure.kind for c in q.cases if c.failure is not None]
        if failed:
            message += f"; {len(failed)} case(s) did not run ({', '.join(sorted(set(failed)))})"
        tests.append({"name": q.question.name,
                      "description": f"{q.question.function}() against {q.question.loss}",
                      "points": float(q.score), "max_points": q.question.points,
                      "message": message, "output": markdown_to_text(question_markdown(q))})
    total = report.max_score
    score = float(report.score / total) if total else 0.0
    return {"gradable": True, "score": score, "message": _summary(report),
            "output": text(report), "tests": tests}


def _check_detail(check: dict[str, Any]) -> str:
    if check["reason"] == "shape":
        return (f"shape {tuple(check['submitted_shape'] or ())} returned, "
                f"{tuple(check['expected_shape'])} expected")
    parts = [f"{check['n_mismatched']} of {check['n_total']} value(s) differ"]
    if check["first_mismatches"]:
        m = check["first_mismatches"][0]
        where = f"first at index {m['index']}: " if m["index"] else ""
        parts.append(f"{where}got {m['submitted']:.6g}, expected {m['expected']:.6g}")
    return "; ".join(parts)


def _case_text(c: CaseOutcome) -> list[str]:
    mark = "PASS" if c.passed else "FAIL"
    lines = [f"  [{mark}] case {c.case.name}"]
    if c.failure is not None:
        lines.append(f"         could not run ({c.failure.kind}): {c.failure.message}")
        lines += [f"         {line}" for line in c.failure.detail.rstrip().splitlines()]
        return lines
    assert c.result is not None
    if c.passed:
        return lines
    lines[0] += f": {c.case.description}"
    for check in c.result["checks"]:
        if not check["passed"]:
            lines.append(f"         check {check['name']}: failed ({check['reason']}): "
                         f"{_check_detail(check)}")
    for d in c.result["diagnosis"]:
        lines.append(f"         likely mistake {d['code']} (in {d['check']}): {d['evidence']}")
        lines.append(f"         hint: {d['hint']}")
    return lines


def text(report: Report) -> str:
    """The readable report (``loss-service check``, ``--format text``)."""
    if report.format_errors:
        return "Nothing could be graded:\n" + "\n".join(f"  {e}" for e in report.format_errors)
    lines = []
    for q in report.questions:
        status = "passed" if q.passed else "FAILED"
        where = f" in {q.module}" if q.module else ""
        lines.append(f"{q.question.name}: {q.question.function}(){where}: {status}, "
                     f"{_pts(q.score)} / {_pts(q.question.points)} points")
        for c in q.cases:
            lines += _case_text(c)
    verdict = "all questions pass" if report.passed else "some cases fail"
    lines.append(f"{_summary(report)} ({verdict})")
    return "\n".join(lines)


def render(report: Report, fmt: str) -> dict[str, Any] | str:
    """The report in ``fmt`` (a JSON document, or the text)."""
    if fmt == "gradescope":
        return gradescope(report)
    if fmt == "prairielearn":
        return prairielearn(report)
    return text(report)
