"""Whatever the student's code does (raise, loop, allocate, print, exit, take other arguments,
return the wrong things), the grader gets a failed case with the reason and the student's own
traceback, and the other functions are still graded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from service.autograder.assignment import Limits, parse
from service.autograder.runner import run
from service.autograder.sandbox import Sandbox

QUESTIONS = [
    {"name": "mse", "loss": "mse", "function": "mse", "args": ["predictions", "targets"],
     "returns": ["value", "gradient"], "cases": [{"seed": 1, "n": 4}, {"seed": 2, "n": 3}]},
    {"name": "mae", "loss": "l1", "function": "mae", "args": ["predictions", "targets"],
     "returns": "value", "points": 2},
]
GOOD_MSE = """
import numpy as np
def mse(p, t):
    print("debugging output goes to stderr, not into the answers")
    d = p - t
    return np.mean(d ** 2), 2 * d / d.size
"""
GOOD_MAE = "def mae(p, t):\n    return abs(p - t).mean()\n"


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def _grade(tmp_path: Path, files: dict[str, str], **limits: float):
    assignment = parse({"title": "t", "question": QUESTIONS,
                        "limits": {"timeout_s": 1, **limits}})
    return run(assignment, _write(tmp_path / "student", files))


def _failures(report) -> dict[str, set[str]]:
    return {q.question.name: {c.failure.kind for c in q.cases if c.failure}
            for q in report.questions}


def test_a_folder_with_helpers_and_prints_is_graded_in_full(tmp_path):
    report = _grade(tmp_path, {"a_losses.py": "from helpers import mae\n" + GOOD_MSE,
                               "helpers.py": GOOD_MAE})
    assert report.passed and report.score == 3 and _failures(report) == {"mse": set(),
                                                                          "mae": set()}
    assert [q.module for q in report.questions] == ["a_losses.py", "a_losses.py"]


def test_an_exception_is_a_failed_case_with_the_students_traceback(tmp_path):
    broken = GOOD_MSE.replace("d = p - t", "d = helper(p) - t") + (
        "def helper(p):\n    return p[undefined_name]\n")
    report = _grade(tmp_path, {"losses.py": broken + GOOD_MAE})
    (first, _), mae = report.questions[0].cases, report.questions[1]
    assert first.failure.kind == "exception" and "NameError" in first.failure.message
    trace = first.failure.detail
    assert 'File "losses.py", line' in trace and "in helper" in trace and "in mse" in trace
    assert "service/autograder" not in trace and "worker.py" not in trace
    assert mae.passed and report.score == 2


def test_an_endless_loop_times_out_and_the_rest_is_graded(tmp_path):
    looping = "def mse(p, t):\n    while True:\n        pass\n" + GOOD_MAE
    report = _grade(tmp_path, {"losses.py": looping})
    kinds = [c.failure.kind for c in report.questions[0].cases]
    assert kinds == ["timeout", "timeout"] and report.questions[1].passed
    assert "did not finish within 1 s" in report.questions[0].cases[0].failure.message


def test_memory_is_limited(tmp_path):
    greedy = ("import numpy as np\ndef mse(p, t):\n    big = np.empty(400_000_000)  # 3.2 GB\n"
              "    return 0.0, big[:p.size].reshape(p.shape)\n" + GOOD_MAE)
    report = _grade(tmp_path, {"losses.py": greedy}, memory_mb=1024)
    failure = report.questions[0].cases[0].failure
    assert failure.kind == "exception" and "MemoryError" in failure.message
    assert report.questions[1].passed


def test_wrong_signature_missing_function_and_wrong_returns(tmp_path):
    report = _grade(tmp_path, {"losses.py": "def mse(p):\n    return 0.0, p\n"
                                            "def other(p, t):\n    return 0.0\n"})
    signature = report.questions[0].cases[0].failure
    assert signature.kind == "signature" and "mse(p) cannot be called as mse(predictions, " \
        "targets)" in signature.message
    missing = report.questions[1].cases[0].failure
    assert missing.kind == "missing" and "no module defines mae()" in missing.message
    report = _grade(tmp_path / "2", {"losses.py": "def mse(p, t):\n    return 1.0\n"
                                                  "def mae(p, t):\n    return 'small'\n"})
    mse, mae = (q.cases[0].failure.message for q in report.questions)
    assert "expected a tuple of 2: (value, gradient)" in mse
    assert "returned str, not numbers" in mae


def test_import_errors_and_exits_fail_every_case_of_that_module(tmp_path):
    report = _grade(tmp_path, {"losses.py": "import numpy\nraise SystemExit(3)\n"
                                            "def mse(p, t): pass\ndef mae(p, t): pass\n"})
    assert _failures(report) == {"mse": {"import"}, "mae": {"import"}}
    report = _grade(tmp_path / "2", {"losses.py": "import not_a_module\n"
                                                  "def mse(p, t): pass\ndef mae(p, t): pass\n"})
    failure = report.questions[0].cases[0].failure
    assert "ModuleNotFoundError" in failure.message and 'File "losses.py", line 1' in \
        failure.detail


def test_nothing_to_grade_is_a_format_error(tmp_path):
    report = _grade(tmp_path, {"losses.py": "def mse(p, t:\n"})
    assert report.format_errors == ["syntax error: losses.py, line 1: '(' was never closed"]
    report = _grade(tmp_path / "2", {"notes.txt": "no code"})
    assert "holds no Python file" in report.format_errors[0]


def test_a_dead_worker_is_restarted(tmp_path):
    folder = _write(tmp_path, {"m.py": "import os\ndef f(x):\n    if x < 0:\n"
                                       "        os._exit(1)\n    return x * 2.0\n"})
    limits = Limits(timeout_s=5)
    with Sandbox(folder, timeout_s=limits.timeout_s, memory_mb=limits.memory_mb) as box:
        died = box.call(folder / "m.py", "f", ["x"], [-1.0], ("value",))
        assert died.kind == "crashed" and "exited with status 1" in died.message
        assert box.call(folder / "m.py", "f", ["x"], [np.float64(2.0)], ("value",))[0] == 4.0
