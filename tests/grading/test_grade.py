"""Grading end to end in the core: partial submissions, required checks, scores, errors, the
reference, provenance, feedback and the grader formats."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from service import __version__
from service.engine import run
from service.grading import GradeOptions, Problem, SubmissionError, grade, preset
from service.grading.formats import gradescope, prairielearn, shape, share

X = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
Y = np.array([0, 1, 2])
PROBLEM = Problem("cross_entropy", {"predictions": X, "targets": Y})


@pytest.fixture(scope="module")
def ref():
    ev = run("cross_entropy", {"predictions": X, "targets": Y}, want_grad=True).evaluation
    return {"value": np.asarray(ev.value), "per_sample": ev.per_sample,
            "gradient": ev.gradients["predictions"]}


def test_the_reference_is_the_engines(ref):
    r = grade(PROBLEM, {"value": ref["value"]}, GradeOptions(include_reference=True,
                                                             tolerance=preset("strict")))
    assert r.passed and r.score == 1.0
    for key, value in ref.items():
        np.testing.assert_array_equal(r.reference[key], value)


@pytest.mark.parametrize("fields", [("value",), ("gradient",), ("per_sample",),
                                    ("value", "gradient")])
def test_partial_submissions_check_only_what_is_given(ref, fields):
    r = grade(PROBLEM, {k: ref[k] for k in fields})
    assert [c.name for c in r.checks] == [k for k in ("value", "per_sample", "gradient")
                                          if k in fields]
    assert r.passed and r.score == 1.0 and r.diagnosis == []


def test_required_but_missing_fails_with_reason_missing(ref):
    r = grade(PROBLEM, {"value": ref["value"]}, GradeOptions(require=["gradient"]))
    assert [(c.name, c.passed, c.reason) for c in r.checks] == [
        ("value", True, None), ("gradient", False, "missing")]
    assert r.score == 0.5 and not r.passed and r.diagnosis == []
    assert "not submitted" in r.checks[1].message or "missing" in r.checks[1].message
    r = grade(PROBLEM, {"value": ref["value"]}, GradeOptions(require=["all"]))
    assert [c.reason for c in r.checks] == [None, "missing", "missing"]


def test_score_is_the_weighted_share_of_checks_passed(ref):
    sub = {"value": ref["value"], "per_sample": ref["per_sample"], "gradient": -ref["gradient"]}
    assert grade(PROBLEM, sub).score == pytest.approx(2 / 3)
    r = grade(PROBLEM, sub, GradeOptions(weights={"gradient": 2.0}))
    assert r.score == pytest.approx(0.5)
    assert "weight 2" in r.feedback


def test_check_order_is_fixed_whatever_the_submission_order(ref):
    r = grade(PROBLEM, {"gradient": ref["gradient"], "value": ref["value"],
                        "per_sample": ref["per_sample"]})
    assert [c.name for c in r.checks] == ["value", "per_sample", "gradient"]


def test_submission_errors():
    with pytest.raises(SubmissionError) as exc:
        grade(PROBLEM, {})
    assert exc.value.code == "missing_field" and exc.value.loc == ("submission",)
    with pytest.raises(SubmissionError) as exc:
        grade(PROBLEM, {"gradients.W": np.zeros((3, 3))})
    assert exc.value.code == "unknown_input" and exc.value.loc == ("submission", "gradients", "W")
    with pytest.raises(SubmissionError) as exc:
        grade(Problem("zero_one", {"predictions": X, "targets": Y}), {"gradient": np.zeros(3)})
    assert exc.value.code == "unknown_input"
    with pytest.raises(SubmissionError) as exc:
        grade(PROBLEM, {"value": 1.0}, GradeOptions(require=["values"]))
    assert exc.value.code == "invalid_field" and exc.value.loc == ("require", "values")


def test_invalid_problems_raise_the_cores_errors():
    from service.losses import LossError

    with pytest.raises(LossError) as exc:
        grade(Problem("cross_entropy", {"predictions": X, "targets": np.array([0, 1, 5])}),
              {"value": 1.0})
    assert exc.value.code == "class_index_out_of_range" and exc.value.loc == ("targets", 2)


def test_other_inputs_gradients_are_checked_by_name():
    rng = np.random.default_rng(0)
    mu, t, var = rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, size=4)
    ev = run("gaussian_nll", {"predictions": mu, "targets": t, "var": var},
             want_grad=True).evaluation
    r = grade(Problem("gaussian_nll", {"predictions": mu, "targets": t, "var": var}),
              {"gradient": ev.gradients["predictions"], "gradients.var": -ev.gradients["var"]})
    assert [(c.name, c.passed) for c in r.checks] == [("gradient", True),
                                                      ("gradients.var", False)]
    assert [(d.code, d.check) for d in r.diagnosis] == [("gradient_sign_flipped",
                                                         "gradients.var")]


def test_float32_problems_use_float32_tolerances(ref):
    r = grade(Problem("cross_entropy", {"predictions": X, "targets": Y}, dtype="float32"),
              {"value": ref["value"]})
    assert r.tolerance.as_dict() == {"rtol": 1.3e-6, "atol": 1e-5, "equal_nan": False,
                                     "preset": "torch"}
    assert r.passed  # the float64 value is within float32 tolerance of the float32 reference


def test_provenance_and_feedback(ref):
    r = grade(PROBLEM, {"value": ref["value"] * 3, "gradient": ref["gradient"]})
    assert r.provenance == {"service": "loss-service", "version": __version__,
                            "loss": "cross_entropy",
                            "params": {"weight": None, "ignore_index": -100,
                                       "label_smoothing": 0.0},
                            "reduction": "mean", "dtype": "float64", "backend": "numpy",
                            "numpy": np.__version__}
    assert r.feedback.startswith("**1 of 2 checks passed** (score 0.50) for `cross_entropy`")
    assert "| `value` | failed: outside tolerance |" in r.feedback
    assert "`sum_instead_of_mean` (in `value`)" in r.feedback


def test_as_dict_is_json_ready(ref):
    import json

    d = grade(PROBLEM, {"value": ref["value"] + 1, "per_sample": ref["per_sample"]}).as_dict()
    json.dumps(d)  # no NumPy types left (without reference)
    assert set(d) == {"passed", "score", "checks", "diagnosis", "feedback", "tolerance",
                      "provenance"}
    assert set(d["checks"][0]) == {"name", "passed", "reason", "n_mismatched", "n_total",
                                   "max_abs_diff", "max_rel_diff", "first_mismatches",
                                   "message", "submitted_shape", "expected_shape"}


def test_gradescope_and_prairielearn_shapes(ref):
    result = grade(PROBLEM, {"value": ref["value"] * 3, "gradient": ref["gradient"]}).as_dict()
    gs = gradescope(result, "ce", 4.0)
    assert gs == {"name": "ce", "score": 2.0, "max_score": 4.0, "status": "failed",
                  "output": result["feedback"], "output_format": "md",
                  "extra_data": {"checks": {"value": "tolerance", "gradient": "passed"},
                                 "diagnosis": ["sum_instead_of_mean"],
                                 "tolerance": result["tolerance"]}}
    pl = prairielearn(result, "ce", {"gradient": 3.0})
    assert pl["gradable"] is True and pl["score"] == 0.75  # 3 of the tests' 4 points
    assert pl["message"] == "1/2 checks passed; likely mistake: sum_instead_of_mean"
    assert [(t["name"], t["points"], t["max_points"]) for t in pl["tests"]] == [
        ("value", 0.0, 1.0), ("gradient", 3.0, 3.0)]
    assert "divide the summed loss" in pl["tests"][0]["message"]
    assert shape(result, "json", name="x") is result


def test_grader_scores_are_exact_fractions_of_the_points(ref):
    third = grade(PROBLEM, {"value": ref["value"] * 3, "per_sample": ref["per_sample"] * 3,
                            "gradient": ref["gradient"]}).as_dict()
    assert gradescope(third, "ce", 3.0)["score"] == 1.0  # not 0.999999999999
    two_thirds = grade(PROBLEM, {"value": ref["value"] * 3, "per_sample": ref["per_sample"],
                                 "gradient": ref["gradient"]}).as_dict()
    assert gradescope(two_thirds, "ce", 3.0)["score"] == 2.0  # not 2.000000000001
    assert gradescope(two_thirds, "ce", 1.0, {"value": 0.1, "per_sample": 0.2,
                                              "gradient": 0.3})["score"] == 5 / 6
    assert prairielearn(two_thirds, "ce", {})["score"] == 2 / 3
    assert share(two_thirds, {"value": float("inf")}) == Fraction(two_thirds["score"])


def test_prairielearn_output_is_plain_text(ref):
    result = grade(PROBLEM, {"value": ref["value"] * 3, "gradient": ref["gradient"]}).as_dict()
    out = prairielearn(result, "ce", {})["output"]
    assert "**" not in out and "`" not in out and "| ---" not in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("check "))
    assert lines[header + 1].startswith("value ") and "failed: outside tolerance" in out
    assert lines[header + 1].index("failed") == lines[header].index("result")  # aligned
    assert "sum_instead_of_mean (in value)" in out
