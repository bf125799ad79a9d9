"""``autograder init`` bundles, run the way each platform runs them: the Gradescope zip unpacked
into ``/autograder/source`` with the student's files in ``/autograder/submission``, and the
PrairieLearn question's ``tests/`` at ``/grade/tests`` with the files in ``/grade/student``, both
under a temporary root. The scripts run the bundled copy of the package, not this checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from service.cli import main as cli

from .conftest import EXAMPLE, SOLUTIONS


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundles")
    for platform in ("gradescope", "prairielearn"):
        assert cli(["autograder", "init", str(out / platform), "--assignment",
                    str(EXAMPLE / "assignment.toml"), "--platform", platform]) == 0
    return {"gradescope": out / "gradescope", "prairielearn": out / "prairielearn"}


def _run(script: Path, root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GRADER_ROOT=str(root), GRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def _gradescope(bundle: Path, tmp_path: Path, solution: str) -> dict:
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle / "autograder.zip") as z:
        z.extractall(root / "source")
    (root / "submission").mkdir()
    shutil.copy(SOLUTIONS / f"{solution}.py", root / "submission" / "losses.py")
    return _run(root / "source" / "run_autograder", root)


def _prairielearn(bundle: Path, tmp_path: Path, files: dict[str, str]) -> dict:
    root = tmp_path / "grade"
    shutil.copytree(bundle / "tests", root / "tests")
    (root / "student").mkdir(parents=True)
    for name, text in files.items():
        (root / "student" / name).write_text(text)
    return _run(root / "tests" / "run.sh", root)


def test_the_gradescope_bundle_is_zip_ready(bundles):
    with zipfile.ZipFile(bundles["gradescope"] / "autograder.zip") as z:
        names = set(z.namelist())
        mode = z.getinfo("run_autograder").external_attr >> 16
    assert {"setup.sh", "run_autograder", "assignment.toml",
            "vendor/service/autograder/worker.py"} <= names
    assert mode & 0o111 and not any("__pycache__" in n for n in names)
    setup = (bundles["gradescope"] / "setup.sh").read_text()
    assert "uv python install 3.12" in setup and "'numpy==" in setup


def test_gradescope_grades_the_correct_solution_in_full(bundles, tmp_path):
    results = _gradescope(bundles["gradescope"], tmp_path, "correct")
    assert results["score"] == 40.0
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in results["tests"]] == [
        ("Multiclass SVM loss", 10.0, 10.0, "passed"), ("Softmax loss", 10.0, 10.0, "passed"),
        ("Cross-entropy on logits", 10.0, 10.0, "passed"),
        ("Mean squared error", 5.0, 5.0, "passed"), ("Binary cross-entropy", 5.0, 5.0, "passed")]
    assert all(t["output_format"] == "md" and t["visibility"] == "visible"
               for t in results["tests"])


def test_gradescope_names_the_underflowed_softmax(bundles, tmp_path):
    results = _gradescope(bundles["gradescope"], tmp_path, "log_of_underflowed_softmax")
    softmax = results["tests"][1]
    assert results["score"] == 38.75 and softmax["score"] == 8.75
    assert softmax["status"] == "failed"
    assert softmax["extra_data"]["diagnosis"] == ["softmax_log_underflow"]
    cases = {c["case"]: c for c in softmax["extra_data"]["cases"]}
    assert cases["extreme_logits"]["checks"] == {"value": "nonfinite", "gradients.W": "passed"}
    assert "| `value` | failed: NaN or infinity |" in softmax["output"]
    assert "log-sum-exp" in softmax["output"]


def test_prairielearn_question_files(bundles):
    info = json.loads((bundles["prairielearn"] / "info.json").read_text())
    grading = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and grading["enabled"] is True
    assert grading["image"] == "prairielearn/grader-python"
    assert grading["entrypoint"] == "/grade/tests/run.sh"
    html = (bundles["prairielearn"] / "question.html").read_text()
    assert '<pl-file-upload file-names="losses.py">' in html
    assert (bundles["prairielearn"] / "tests" / "vendor" / "array_api_compat").is_dir()


def test_prairielearn_grades_and_names_the_overflow(bundles, tmp_path):
    results = _prairielearn(bundles["prairielearn"], tmp_path / "a",
                            {"losses.py": (SOLUTIONS / "correct.py").read_text()})
    assert results["gradable"] is True and results["score"] == 1.0
    assert [(t["points"], t["max_points"]) for t in results["tests"]] == [
        (10.0, 10.0), (10.0, 10.0), (10.0, 10.0), (5.0, 5.0), (5.0, 5.0)]
    results = _prairielearn(bundles["prairielearn"], tmp_path / "b",
                            {"losses.py": (SOLUTIONS / "no_max_subtraction.py").read_text()})
    softmax = results["tests"][1]
    assert results["score"] == 37.5 / 40 and softmax["points"] == 7.5
    assert softmax["message"] == "3 of 4 cases passed; likely mistake: softmax_overflow"
    for text in (softmax["output"], results["output"]):
        assert "**" not in text and "`" not in text and "#" not in text  # shown in a <pre>
    assert "Subtract each row's maximum" in softmax["output"]


def test_prairielearn_ungradable_submission(bundles, tmp_path):
    results = _prairielearn(bundles["prairielearn"], tmp_path,
                            {"losses.py": "def svm_loss(W, X, y, reg)\n    return 0\n"})
    assert results["gradable"] is False
    assert results["format_errors"] == ["syntax error: losses.py, line 1: expected ':'"]


def test_init_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    assert cli(["autograder", "init", str(tmp_path / "x"), "--assignment",
                str(EXAMPLE / "assignment.toml"), "--platform", "gradescope"]) == 2
    assert "is not empty" in capsys.readouterr().err
