"""Grade a student's code against an assignment: for every question and case, call their
function in the sandbox, convert what it returns and grade it offline with the same
:func:`service.grading.grade` as ``/compare``. Nothing the student's code does ends the run:
each failure becomes a failed case with its reason and trimmed traceback.

Scores are exact fractions: a question's score is its points times the mean over its cases of
the share of checks passed (a case that could not run scores 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..grading import GradeOptions, Problem, grade
from ..grading.formats import exact, share
from ..losses import LossError, get_loss
from .assignment import Assignment, Case, Question
from .sandbox import CallFailure, Located, Sandbox, locate, python_files, syntax_errors


@dataclass(frozen=True)
class CaseOutcome:
    """One case of one question: the grading result (as ``/compare`` returns it) or why the
    student's function gave none."""

    case: Case
    result: dict[str, Any] | None = None
    failure: CallFailure | None = None

    @property
    def share(self) -> Fraction:
        return Fraction(0) if self.result is None else share(self.result)

    @property
    def passed(self) -> bool:
        return self.result is not None and bool(self.result["passed"])


@dataclass(frozen=True)
class QuestionOutcome:
    question: Question
    cases: list[CaseOutcome]
    module: str | None = None  # the file that defines the function

    @property
    def score(self) -> Fraction:
        if not self.cases:
            return Fraction(0)
        return exact(self.question.points) * sum((c.share for c in self.cases),
                                                 Fraction(0)) / len(self.cases)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)


@dataclass(frozen=True)
class Report:
    assignment: Assignment
    questions: list[QuestionOutcome]
    format_errors: list[str] = field(default_factory=list)  # nothing could be graded

    @property
    def score(self) -> Fraction:
        return sum((q.score for q in self.questions), Fraction(0))

    @property
    def max_score(self) -> Fraction:
        return sum((exact(q.question.points) for q in self.questions), Fraction(0))

    @property
    def passed(self) -> bool:
        return not self.format_errors and all(q.passed for q in self.questions)


def _arguments(question: Question, case: Case) -> list[Any]:
    out = []
    for arg in question.args:
        if arg.is_input:
            value = np.asarray(case.inputs[arg.source])
            out.append(value.astype(np.int64) if value.dtype.kind in "iub" else
                       value.astype(np.float64))
        else:
            out.append(case.params.get(arg.source, _default(question, arg.source)))
    return out


def _default(question: Question, param: str) -> Any:
    return get_loss(question.loss).param(param).default


def grade_case(question: Question, case: Case, outputs: list[np.ndarray]) -> dict[str, Any]:
    """The grading result of one case's outputs (check name -> array)."""
    inputs = {k: np.asarray(v) for k, v in case.inputs.items()}
    problem = Problem(question.loss, inputs, case.params, reduction=case.reduction)
    submission = dict(zip(question.returns, outputs, strict=True))
    options = GradeOptions(tolerance=question.tolerance, require=question.returns)
    return grade(problem, submission, options).as_dict()


def _question(sandbox: Sandbox, question: Question, where: Located) -> QuestionOutcome:
    if where.path is None:
        failure = CallFailure("missing", where.problem)
        return QuestionOutcome(question, [CaseOutcome(c, failure=failure)
                                          for c in question.cases])
    outcomes = []
    for case in question.cases:
        got = sandbox.call(where.path, question.function, [a.name for a in question.args],
                           _arguments(question, case), question.returns)
        if isinstance(got, CallFailure):
            outcomes.append(CaseOutcome(case, failure=got))
            continue
        try:
            outcomes.append(CaseOutcome(case, result=grade_case(question, case, got)))
        except LossError as exc:  # e.g. a gradient of the wrong rank: not gradable as given
            outcomes.append(CaseOutcome(case, failure=CallFailure("returns", str(exc))))
    return QuestionOutcome(question, outcomes, where.path.name)


def run(assignment: Assignment, submission: str | Path) -> Report:
    """Grade the student's file or folder ``submission`` (see the module docstring)."""
    path = Path(submission)
    files = python_files(path) if path.exists() else []
    if not files:
        what = "does not exist" if not path.exists() else "holds no Python file"
        names = ", ".join(assignment.files)
        return Report(assignment, [], [f"the submission {what} (expected {names})"])
    broken = syntax_errors(files)
    located = {q.function: locate(files, q.function) for q in assignment.questions}
    if broken and all(w.path is None for w in located.values()):
        return Report(assignment, [], [f"syntax error: {m}" for m in broken.values()])
    with Sandbox(path, timeout_s=assignment.limits.timeout_s,
                 memory_mb=assignment.limits.memory_mb) as sandbox:
        questions = [_question(sandbox, q, located[q.function]) for q in assignment.questions]
    return Report(assignment, questions)
