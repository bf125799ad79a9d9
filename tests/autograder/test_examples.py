"""Every example solution gets the grade and the named mistake it was written to show, through
the same runner as the platforms and ``loss-service check``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.autograder.runner import run

from .conftest import EXAMPLE, ROOT, SOLUTIONS

SVM, SOFTMAX, CE, MSE, BCE = ("Multiclass SVM loss", "Softmax loss", "Cross-entropy on logits",
                              "Mean squared error", "Binary cross-entropy")
# solution -> (the question it breaks, its score there, the diagnosis codes or failure kinds)
EXPECTED = {
    "sum_instead_of_mean": (CE, 7.5, {"sum_instead_of_mean"}),
    "gradient_missing_1_over_n": (SOFTMAX, 6.25, {"gradient_missing_1_over_n"}),
    "log_base_10": (CE, 6.25, {"log_base_10"}),
    "no_max_subtraction": (SOFTMAX, 7.5, {"softmax_overflow"}),
    "log_of_underflowed_softmax": (SOFTMAX, 8.75, {"softmax_log_underflow"}),
    "gradient_sign_flipped": (SVM, 5.0, {"gradient_sign_flipped"}),
    "svm_counts_correct_class": (SVM, 5.0, {"svm_counts_correct_class"}),
    "mse_gradient_missing_factor_2": (MSE, 2.5, {"mse_gradient_missing_factor_2"}),
    "no_clipping": (BCE, 3.75, {"missing_clipping"}),
    "raises": (SOFTMAX, 0.0, {"exception"}),
    "loops_forever": (SVM, 0.0, {"timeout"}),
}


def test_the_correct_solution_gets_every_point(example):
    report = run(example, SOLUTIONS / "correct.py")
    assert report.passed and report.score == report.max_score == 40


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_buggy_solution_loses_points_on_its_mistake_only(example, name):
    broken, score, named = EXPECTED[name]
    report = run(example, SOLUTIONS / f"{name}.py")
    by_name = {q.question.name: q for q in report.questions}
    for question, outcome in by_name.items():
        if question != broken:
            assert outcome.passed, (name, question)
    outcome = by_name[broken]
    assert float(outcome.score) == score and not outcome.passed
    found = {d["code"] for c in outcome.cases for d in (c.result or {}).get("diagnosis", [])}
    found |= {c.failure.kind for c in outcome.cases if c.failure is not None}
    assert found == named


def test_at_least_six_buggy_solutions_and_all_are_tested():
    files = {p.stem for p in SOLUTIONS.glob("*.py")} - {"correct"}
    assert len(files) >= 6 and files == set(EXPECTED)


def test_check_is_a_readable_report_with_the_hint(tmp_path):
    def check(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "service.cli", "check",
                               str(SOLUTIONS / f"{name}.py"), "--assignment",
                               str(EXAMPLE / "assignment.toml")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    ok = check("correct")
    assert ok.returncode == 0 and "Loss functions: 40 / 40 points (all questions pass)" in ok.stdout
    bad = check("log_of_underflowed_softmax")
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    assert "Softmax loss: softmax_loss() in log_of_underflowed_softmax.py: FAILED, 8.75 / 10 " \
        "points" in lines
    at = lines.index("  [FAIL] case extreme_logits: logits (or scores) of +-1000: a naive exp "
                     "overflows or underflows; the reference stays finite")
    assert lines[at + 1].startswith("         check value: failed (nonfinite): 1 of 1 value(s)")
    assert "likely mistake softmax_log_underflow (in value)" in lines[at + 2]
    assert "hint:" in lines[at + 3] and "log-sum-exp" in lines[at + 3]
    assert "subtract each row's maximum" not in bad.stdout.lower()
