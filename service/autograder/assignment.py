"""The assignment file an instructor writes once (TOML), read and checked before any student code
runs: a typo in it must stop the grader with a clear message, not grade every student zero.

    title = "Loss functions"
    files = ["losses.py"]              # what students hand in (the PrairieLearn upload form)
    [limits]
    timeout_s = 10                     # per call of a student's function (and per import)
    memory_mb = 2048                   # address-space limit of the student's process
    [[question]]
    name = "softmax"                   # shown to students
    loss = "linear_softmax"            # any registry loss
    function = "softmax_loss"          # the function the student's module defines
    args = ["W", "X", "y", "reg"]      # the loss's inputs and params, in the function's order
    returns = ["value", "gradients.W"] # what it returns, in order (or "value" alone)
    params = { reg = 0.1 }             # fixed by the instructor, passed exactly as given
    cases = [{ seed = 1, n = 8, classes = 4 }, { kind = "edge" }]
    tolerance = "numpy"                # a preset, or { rtol = ..., atol = ... }
    points = 10
    visibility = "visible"             # Gradescope: hidden, after_due_date, after_published

An argument is a loss input (``W``), a parameter (``reg``), a common alias (``y`` for
``targets``, ``logits`` for ``predictions``) or ``name=source`` spelled out. The cases come from the
``GET /cases`` generator with the question's params exactly (nothing randomised that the
instructor did not ask for) and without the optional inputs the function does not take.
"""

from __future__ import annotations

import keyword
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import engine
from ..grading import PRESETS, Tolerance, resolve
from ..grading.cases import KINDS, MAX_CLASSES, MAX_N, case_set
from ..grading.context import check_names
from ..losses import LossError, LossSpec, get_loss

VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")
ALIASES = {
    "targets": ("y", "labels", "label", "target", "y_true", "t"),
    "predictions": ("logits", "scores", "z", "x", "y_pred", "pred", "preds", "probs", "p",
                    "input", "outputs"),
}
CASE_KEYS = {"seed": int, "n": int, "classes": int, "kind": str}
QUESTION_KEYS = {"name", "loss", "function", "args", "returns", "params", "cases", "tolerance",
                 "points", "visibility", "reduction"}
TOP_KEYS = {"title", "files", "limits", "question"}
LIMIT_KEYS = {"timeout_s", "memory_mb"}


class AssignmentError(Exception):
    """An assignment file that cannot be used (the message says where and why)."""


@dataclass(frozen=True)
class Arg:
    """One argument of the student's function: its name and what it receives."""

    name: str
    source: str  # a loss input or parameter name
    is_input: bool


@dataclass(frozen=True)
class Case:
    """One graded case: ``/cases`` inputs (NumPy arrays) and the exact params."""

    name: str
    description: str
    inputs: dict[str, Any]
    params: dict[str, Any]
    reduction: str


@dataclass(frozen=True)
class Question:
    name: str
    loss: str
    function: str
    args: tuple[Arg, ...]
    returns: tuple[str, ...]
    params: dict[str, Any]
    tolerance: Tolerance
    points: float
    visibility: str
    reduction: str | None
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 2048


@dataclass(frozen=True)
class Assignment:
    title: str
    questions: tuple[Question, ...]
    files: tuple[str, ...] = ("solution.py",)
    limits: Limits = field(default_factory=Limits)
    source: Path | None = None

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)


def _fail(where: str, message: str) -> AssignmentError:
    return AssignmentError(f"{where}: {message}")


def _unknown(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise _fail(where, f"unknown key(s) {', '.join(extra)}; allowed: "
                    f"{', '.join(sorted(allowed))}")


def _str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, f"must be a non-empty string, not {value!r}")
    return value


def _number(where: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            positive and not value > 0):
        raise _fail(where, f"must be a {'positive ' if positive else ''}number, not {value!r}")
    return float(value)


def _resolve_arg(where: str, text: str, spec: LossSpec) -> Arg:
    name, _, source = text.partition("=")
    name, source = name.strip(), (source or name).strip()
    if not name.isidentifier() or keyword.iskeyword(name):
        raise _fail(where, f"{name!r} is not a Python argument name")
    inputs = {i.name for i in spec.inputs}
    params = {p.name for p in spec.params}
    if source not in inputs | params:
        found = [real for real, aliases in ALIASES.items()
                 if source in aliases and real in inputs]
        if not found:
            raise _fail(where, f"{source!r} is neither an input of {spec.name} "
                        f"({', '.join(sorted(inputs))}) nor one of its parameters "
                        f"({', '.join(sorted(params)) or 'none'}); write name=source")
        source = found[0]
    return Arg(name, source, source in inputs)


def _tolerance(where: str, value: Any) -> Tolerance:
    if value is None:
        return resolve({"preset": "torch"})
    if isinstance(value, str):
        if value not in PRESETS:
            raise _fail(where, f"unknown preset {value!r}; one of {', '.join(PRESETS)}")
        return resolve({"preset": value})
    if isinstance(value, dict):
        _unknown(where, value, {"rtol", "atol", "equal_nan"})
        for key in ("rtol", "atol"):
            if key in value:
                _number(f"{where}.{key}", value[key], positive=False)
        return resolve(value)
    raise _fail(where, f"must be a preset name or {{rtol, atol}}, not {value!r}")


def _cases(where: str, raw: Any, spec: LossSpec, params: dict[str, Any], omit: tuple[str, ...],
           reduction: str | None) -> tuple[Case, ...]:
    if raw is None:
        raw = [{}]
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "must be a non-empty list of tables like { seed = 1, n = 8 }")
    out: list[Case] = []
    for k, entry in enumerate(raw):
        at = f"{where}[{k}]"
        if not isinstance(entry, dict):
            raise _fail(at, f"must be a table like {{ seed = 1, n = 8 }}, not {entry!r}")
        _unknown(at, entry, set(CASE_KEYS))
        for key, typ in CASE_KEYS.items():
            if key in entry and (not isinstance(entry[key], typ) or isinstance(entry[key], bool)):
                raise _fail(f"{at}.{key}", f"must be {typ.__name__}, not {entry[key]!r}")
        kind = entry.get("kind", "random")
        n, classes = entry.get("n", 8), entry.get("classes", 4)
        if kind not in KINDS:
            raise _fail(f"{at}.kind", f"must be one of {', '.join(KINDS)}")
        if not 1 <= n <= MAX_N or not 2 <= classes <= MAX_CLASSES:
            raise _fail(at, f"n must be in [1, {MAX_N}] and classes in [2, {MAX_CLASSES}]")
        seed = entry.get("seed", 0)
        try:
            made = case_set(spec.name, seed=seed, n=n, classes=classes, kind=kind,
                            params=params, omit=omit)
        except (LossError, ValueError) as exc:
            raise _fail(at, f"cannot make the case: {exc}") from None
        for c in made["cases"]:
            inputs = {key: c[key] for key in ("predictions", "targets") if key in c}
            inputs.update(c.get("inputs", {}))
            label = c["name"] if kind == "edge" else f"random (seed {seed}, n {n})"
            case = Case(label, c["description"], inputs, c["params"], reduction or c["reduction"])
            try:  # the instructor's params must work, or every student would fail
                engine.run(spec.name, {k: np.asarray(v) for k, v in inputs.items()},
                           case.params, reduction=case.reduction)
            except LossError as exc:
                raise _fail(at, f"cannot make the case: {exc}") from None
            out.append(case)
    return tuple(out)


def _question(k: int, raw: Any) -> Question:
    where = f"question[{k}]"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table ([[question]])")
    _unknown(where, raw, QUESTION_KEYS)
    for key in ("name", "loss", "function", "args", "returns"):
        if key not in raw:
            raise _fail(where, f"needs {key!r}")
    name = _str(f"{where}.name", raw["name"])
    where = f"question {name!r}"
    try:
        spec = get_loss(_str(f"{where}.loss", raw["loss"]))
    except LossError as exc:
        raise _fail(f"{where}.loss", str(exc)) from None
    function = _str(f"{where}.function", raw["function"])
    if not function.isidentifier():
        raise _fail(f"{where}.function", f"{function!r} is not a Python function name")
    if not isinstance(raw["args"], list) or not raw["args"]:
        raise _fail(f"{where}.args", "must be a non-empty list of argument names")
    args = tuple(_resolve_arg(f"{where}.args", _str(f"{where}.args", a), spec)
                 for a in raw["args"])
    if len({a.name for a in args}) != len(args):
        raise _fail(f"{where}.args", "names an argument twice")
    given = {a.source for a in args if a.is_input}
    missing = [i.name for i in spec.inputs if not i.optional and i.name not in given]
    if missing:
        raise _fail(f"{where}.args", f"must pass {spec.name}'s input(s) "
                    f"{', '.join(missing)} to the function")
    returns = raw["returns"]
    returns = [returns] if isinstance(returns, str) else returns
    checks = check_names(spec)
    if not isinstance(returns, list) or not returns or any(r not in checks for r in returns):
        raise _fail(f"{where}.returns", f"must list some of {', '.join(checks)}, not "
                    f"{raw['returns']!r}")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise _fail(f"{where}.params", "must be a table like { reg = 0.1 }")
    known = {p.name for p in spec.params}
    if set(params) - known:
        raise _fail(f"{where}.params", f"{spec.name} has no parameter(s) "
                    f"{', '.join(sorted(set(params) - known))}; its parameters: "
                    f"{', '.join(sorted(known)) or 'none'}")
    reduction = raw.get("reduction")
    if reduction is not None and reduction not in spec.reductions:
        raise _fail(f"{where}.reduction", f"must be one of {', '.join(spec.reductions)}")
    visibility = raw.get("visibility", "visible")
    if visibility not in VISIBILITY:
        raise _fail(f"{where}.visibility", f"must be one of {', '.join(VISIBILITY)}")
    omit = tuple(i.name for i in spec.inputs if i.optional and i.name not in given)
    cases = _cases(f"{where}.cases", raw.get("cases"), spec, dict(params), omit, reduction)
    return Question(name=name, loss=spec.name, function=function, args=args,
                    returns=tuple(returns), params=dict(params),
                    tolerance=_tolerance(f"{where}.tolerance", raw.get("tolerance")),
                    points=_number(f"{where}.points", raw.get("points", 1)),
                    visibility=visibility, reduction=reduction, cases=cases)


def parse(data: dict[str, Any], source: Path | None = None) -> Assignment:
    """An assignment from a parsed TOML document; raises AssignmentError."""
    _unknown("the assignment", data, TOP_KEYS)
    title = _str("title", data.get("title", "Assignment"))
    raw = data.get("question")
    if not isinstance(raw, list) or not raw:
        raise _fail("the assignment", "has no [[question]]")
    questions = tuple(_question(k, q) for k, q in enumerate(raw))
    names = [q.name for q in questions]
    if len(set(names)) != len(names):
        raise _fail("the assignment", "two questions have the same name")
    files = data.get("files", ["solution.py"])
    if not isinstance(files, list) or not files or not all(
            isinstance(f, str) and f.endswith(".py") and "/" not in f for f in files):
        raise _fail("files", "must be a list of Python file names like [\"losses.py\"]")
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise _fail("limits", "must be a table")
    _unknown("limits", limits, LIMIT_KEYS)
    lim = Limits(
        timeout_s=_number("limits.timeout_s", limits.get("timeout_s", Limits.timeout_s)),
        memory_mb=int(_number("limits.memory_mb", limits.get("memory_mb", Limits.memory_mb))))
    return Assignment(title, questions, tuple(files), lim, source)


def load(path: str | Path) -> Assignment:
    """Read and check an assignment file; raises AssignmentError with a readable message."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AssignmentError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AssignmentError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse(data, path)
    except AssignmentError as exc:
        raise AssignmentError(f"{path}: {exc}") from None
