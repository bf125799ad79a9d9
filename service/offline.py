"""``loss-service grade``: the ``/compare`` grading path without a server (graders often run with
networking off). It builds the same body a client would send and answers with the same JSON.

    loss-service grade --case case.json --submission sub.json [--loss NAME] [--format gradescope]

``case.json`` is a ``GET /cases`` response (a case set; pick one with ``--case-name`` when it
holds several), one of its cases, or any ``/compare`` body without ``submission``.
``submission.json`` is ``{"value", "per_sample", "gradient", "gradients"}`` (any subset), or an
object holding it under ``submission``. ``-`` reads a file from stdin. Exit status: 0 passed,
1 failed, 2 the case or submission could not be graded (the problem goes to stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

CASE_KEYS = ("loss", "predictions", "targets", "inputs", "params", "reduction", "sample_weight",
             "dtype")


class OfflineError(Exception):
    """A case or submission file that cannot be used."""


def _read(path: str) -> Any:
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise OfflineError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise OfflineError(f"{path} is not valid JSON: {exc}") from None


def pick_case(data: Any, name: str | None) -> dict[str, Any]:
    """The case to grade from a case file (see the module docstring)."""
    if not isinstance(data, dict):
        raise OfflineError("the case file must hold a JSON object")
    if "cases" in data:
        cases = data["cases"]
        if name is not None:
            found = [c for c in cases if c.get("name") == name]
            if not found:
                names = ", ".join(str(c.get("name")) for c in cases)
                raise OfflineError(f"no case named {name!r} in the case set (it has: {names})")
            return found[0]
        if len(cases) != 1:
            names = ", ".join(str(c.get("name")) for c in cases)
            raise OfflineError(f"the case set holds {len(cases)} cases ({names}); choose one "
                               "with --case-name")
        return cases[0]
    return data


def build_body(case: dict[str, Any], submission: Any, args: argparse.Namespace
               ) -> dict[str, Any]:
    """The ``/compare`` body for a case, a submission and the command-line options."""
    body = {k: case[k] for k in CASE_KEYS if k in case}
    if args.loss:
        body["loss"] = args.loss
    if "loss" not in body:
        raise OfflineError("the case names no loss: give --loss")
    if not isinstance(submission, dict):
        raise OfflineError("the submission file must hold a JSON object")
    body["submission"] = submission.get("submission", submission)
    for key in ("reduction", "dtype", "name"):
        if getattr(args, key, None) is not None:
            body[key] = getattr(args, key)
    if args.preset:
        body["tolerance"] = {"preset": args.preset}
    elif args.rtol is not None or args.atol is not None or args.equal_nan:
        body["tolerance"] = {"rtol": 1e-7 if args.rtol is None else args.rtol,
                             "atol": 0.0 if args.atol is None else args.atol,
                             "equal_nan": bool(args.equal_nan)}
    if args.require:
        body["require"] = args.require
    body.update(format=args.format, include_reference=args.include_reference,
                max_score=args.max_score)
    return body


def run(args: argparse.Namespace) -> int:
    """Grade, print the result, and return the exit status."""
    from .api.compare_body import grade_body  # the app's modules load only for this command
    from .api.problems import ProblemError
    from .config import get_settings
    from .losses import accel

    settings = get_settings()
    accel.configure(kernels=settings.fused, threads=settings.kernel_threads)
    try:
        case = pick_case(_read(args.case), args.case_name)
        body = build_body(case, _read(args.submission), args)
        result = grade_body(body, settings)
    except OfflineError as exc:
        print(f"loss-service grade: {exc}", file=sys.stderr)
        return 2
    except ProblemError as exc:
        problem = {"code": exc.code, "detail": exc.detail, "errors": exc.errors}
        print(orjson.dumps(problem).decode(), file=sys.stderr)
        return 2
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # e.g. /grade/results/
        Path(args.output).write_bytes(text + b"\n")
    else:
        sys.stdout.write(text.decode() + "\n")
    passed = result.get("passed", result.get("status") == "passed" or result.get("score") == 1)
    return 0 if passed else 1


def add_parser(sub: Any) -> None:
    """The ``grade`` subcommand's arguments."""
    from .grading.formats import FORMATS
    from .grading.tolerance import PRESETS

    p = sub.add_parser("grade", help="grade a submission offline (the same result as "
                       "POST /compare)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", required=True, help="case JSON (a /cases response or one case)")
    p.add_argument("--submission", required=True, help="submission JSON")
    p.add_argument("--loss", help="loss name (default: the case's)")
    p.add_argument("--case-name", help="the case to grade in a set of several")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--preset", choices=PRESETS, help="tolerance preset (default torch)")
    p.add_argument("--rtol", type=float, help="relative tolerance (instead of a preset)")
    p.add_argument("--atol", type=float, help="absolute tolerance (instead of a preset)")
    p.add_argument("--equal-nan", action="store_true", help="NaN equals NaN")
    p.add_argument("--reduction", help="override the case's reduction")
    p.add_argument("--dtype", choices=("float64", "float32"), help="computation precision")
    p.add_argument("--require", action="append", help="a check that must be submitted "
                   "(repeatable; 'all' for every check)")
    p.add_argument("--include-reference", action="store_true", help="add the reference arrays")
    p.add_argument("--name", help="test name for the grader formats")
    p.add_argument("--max-score", type=float, default=1.0, help="gradescope: points of the test")
    p.add_argument("--output", "-o", help="write the result to this file (default: stdout)")
