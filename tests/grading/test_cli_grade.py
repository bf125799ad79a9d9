"""``loss-service grade`` end to end on files, in a subprocess (as a grader with networking off
runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.grading import case_set
from service.losses import evaluate


def _grade(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", "grade", *args],
                          capture_output=True, input=stdin, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("grade")
    cases = case_set("cross_entropy", seed=5, n=4, classes=3)
    case = cases["cases"][0]
    ev = evaluate("cross_entropy", {"predictions": case["predictions"],
                                    "targets": case["targets"]}, case["params"], want_grad=True)
    right = {"value": float(ev.value), "per_sample": ev.per_sample.tolist(),
             "gradient": ev.gradients["predictions"].tolist()}
    paths = {"case_set": d / "cases.json", "case": d / "case.json", "right": d / "right.json",
             "summed": d / "summed.json", "edge": d / "edge.json", "bad": d / "bad.json"}
    paths["case_set"].write_text(json.dumps(cases))
    paths["case"].write_text(json.dumps(case))
    paths["right"].write_text(json.dumps(right))
    summed = {**right, "value": float(np.sum(ev.per_sample))}  # sum over the batch, not mean
    paths["summed"].write_text(json.dumps({"submission": summed}))
    paths["edge"].write_text(json.dumps(case_set("cross_entropy", kind="edge")))
    paths["bad"].write_text(json.dumps({"gradients": {"W": [[1.0]]}}))
    return paths


def test_a_right_submission_passes_with_exit_0(files):
    out = _grade("--case", str(files["case_set"]), "--submission", str(files["right"]))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["passed"] is True and result["score"] == 1.0 and result["diagnosis"] == []
    assert [c["name"] for c in result["checks"]] == ["value", "per_sample", "gradient"]


def test_sum_instead_of_mean_fails_with_exit_1_and_the_diagnosis(files, tmp_path):
    target = tmp_path / "result.json"
    out = _grade("--case", str(files["case"]), "--submission", str(files["summed"]),
                 "--preset", "numpy", "-o", str(target))
    assert out.returncode == 1 and out.stdout == b""
    result = json.loads(target.read_text())
    assert [(d["code"], d["check"]) for d in result["diagnosis"]] == [
        ("sum_instead_of_mean", "value")]
    assert result["tolerance"]["preset"] == "numpy"


def test_gradescope_format_from_stdin(files):
    out = _grade("--case", str(files["case"]), "--submission", "-", "--format", "gradescope",
                 "--name", "Q1 cross-entropy", "--max-score", "5",
                 stdin=files["summed"].read_bytes())
    assert out.returncode == 1
    entry = json.loads(out.stdout)
    assert set(entry) == {"name", "score", "max_score", "status", "output", "output_format",
                          "extra_data"}
    assert (entry["name"], entry["max_score"], entry["status"]) == ("Q1 cross-entropy", 5.0,
                                                                     "failed")
    assert entry["score"] == pytest.approx(5 * 2 / 3)


def test_prairielearn_format_and_explicit_tolerance(files):
    out = _grade("--case", str(files["case"]), "--submission", str(files["right"]),
                 "--format", "prairielearn", "--rtol", "1e-12", "--atol", "1e-15")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["gradable"] is True and result["score"] == 1.0
    assert [t["name"] for t in result["tests"]] == ["value", "per_sample", "gradient"]


def test_a_case_set_of_several_needs_a_case_name(files):
    out = _grade("--case", str(files["edge"]), "--submission", str(files["right"]))
    assert out.returncode == 2 and b"--case-name" in out.stderr
    out = _grade("--case", str(files["edge"]), "--case-name", "single_sample",
                 "--submission", str(files["right"]))
    assert out.returncode == 1  # graded: the submission is for another case
    checks = {c["name"]: c["reason"] for c in json.loads(out.stdout)["checks"]}
    assert checks["per_sample"] == "shape" and checks["gradient"] == "shape"


def test_an_ungradable_submission_exits_2_with_the_problem(files):
    out = _grade("--case", str(files["case"]), "--submission", str(files["bad"]))
    assert out.returncode == 2 and out.stdout == b""
    problem = json.loads(out.stderr)
    assert problem["code"] == "unknown_input"
    assert problem["errors"][0]["loc"] == ["body", "submission", "gradients", "W"]
    out = _grade("--case", str(files["case"]), "--submission", "/no/such/file.json")
    assert out.returncode == 2 and b"cannot read" in out.stderr


def test_loss_overrides_and_is_required_without_one(tmp_path):
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"predictions": [1.0, 2.0], "targets": [1.5, 2.0]}))
    sub = tmp_path / "sub.json"
    sub.write_text(json.dumps({"value": float(np.mean(np.square([-0.5, 0.0])))}))
    out = _grade("--case", str(case), "--submission", str(sub))
    assert out.returncode == 2 and b"--loss" in out.stderr
    out = _grade("--case", str(case), "--submission", str(sub), "--loss", "mse")
    assert out.returncode == 0 and json.loads(out.stdout)["passed"] is True


def test_the_output_folder_is_created(files, tmp_path):
    target = tmp_path / "grade" / "results" / "results.json"  # PrairieLearn's, not there yet
    out = _grade("--case", str(files["case"]), "--submission", str(files["right"]),
                 "--format", "prairielearn", "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert json.loads(target.read_text())["gradable"] is True
