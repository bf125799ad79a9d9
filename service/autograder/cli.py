"""The autograder's commands, added to ``loss-service`` (and ``python -m service.autograder``):

    loss-service autograder run --assignment A.toml --submission PATH
                                [--format gradescope|prairielearn|text] [--output FILE]
    loss-service autograder init OUT_DIR --assignment A.toml --platform gradescope|prairielearn
    loss-service check my_loss.py --assignment A.toml

``run`` writes the platform's full result document (parent folders created) and exits 0 whatever
the student's code does; ``check`` prints the readable report and exits 0 when every case passes,
1 otherwise. Both exit 2, with the reason on stderr, only for an unusable assignment file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .assignment import AssignmentError, load
from .results import FORMATS, render

EXIT_UNUSABLE = 2


def _assignment(args: argparse.Namespace, command: str) -> Any:
    try:
        return load(args.assignment)
    except AssignmentError as exc:
        print(f"loss-service {command}: {exc}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    from .runner import run

    assignment = _assignment(args, "autograder run")
    if assignment is None:
        return EXIT_UNUSABLE
    out = render(run(assignment, args.submission), args.format)
    text = out if isinstance(out, str) else json.dumps(out, indent=2, allow_nan=False)
    if args.output:
        target = Path(args.output)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _init(args: argparse.Namespace) -> int:
    from .bundle import init

    assignment = _assignment(args, "autograder init")
    if assignment is None:
        return EXIT_UNUSABLE
    try:
        written = init(assignment, Path(args.assignment).read_text(encoding="utf-8"),
                       Path(args.out_dir), args.platform)
    except FileExistsError as exc:
        print(f"loss-service autograder init: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    for path in written:
        print(f"wrote {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .runner import run

    assignment = _assignment(args, "check")
    if assignment is None:
        return EXIT_UNUSABLE
    report = run(assignment, args.file)
    print(render(report, "text"))
    return 0 if report.passed else 1


def add_parsers(sub: Any) -> None:
    """Add ``autograder`` (``run``, ``init``) and ``check`` to a subparsers object."""
    from .bundle import PLATFORMS

    grader = sub.add_parser("autograder", help="grade students' code: run, or init a "
                            "Gradescope/PrairieLearn bundle", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = grader.add_subparsers(dest="autograder_command", required=True)
    run = commands.add_parser("run", help="grade a student's file or folder")
    run.add_argument("--assignment", required=True, help="the assignment TOML")
    run.add_argument("--submission", required=True, help="the student's file or folder")
    run.add_argument("--format", choices=FORMATS, default="gradescope")
    run.add_argument("--output", "-o", help="write the result here (default: stdout)")
    run.set_defaults(func=_run)
    init = commands.add_parser("init", help="write an upload-ready bundle")
    init.add_argument("out_dir", help="the folder to create (must be empty)")
    init.add_argument("--assignment", required=True, help="the assignment TOML")
    init.add_argument("--platform", required=True, choices=PLATFORMS)
    init.set_defaults(func=_init)
    check = sub.add_parser("check", help="check your loss code against an assignment before "
                           "submitting", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("file", help="your Python file (or folder)")
    check.add_argument("--assignment", required=True, help="the assignment TOML")
    check.set_defaults(func=_check)


def main(argv: list[str] | None = None) -> int:
    """``python -m service.autograder``: the same commands without the server."""
    parser = argparse.ArgumentParser(prog="python -m service.autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("run", "init"):  # python -m service.autograder run ...
        argv.insert(0, "autograder")
    args = parser.parse_args(argv)
    return int(args.func(args))
