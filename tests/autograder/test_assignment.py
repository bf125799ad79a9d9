"""The assignment file: the example loads, cases carry exactly the instructor's params, and every
unusable file is a one-line error (CLI exit 2), never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.autograder.assignment import AssignmentError, load, parse

from .conftest import EXAMPLE, ROOT

QUESTION = {"name": "ce", "loss": "cross_entropy", "function": "cross_entropy",
            "args": ["logits", "y"], "returns": ["value", "gradient"]}


def test_the_example_loads_with_exact_params_and_no_unused_inputs():
    a = load(EXAMPLE / "assignment.toml")
    assert a.title == "Loss functions" and a.points == 40 and a.files == ("losses.py",)
    by_name = {q.name: q for q in a.questions}
    softmax = by_name["Softmax loss"]
    assert [(x.name, x.source) for x in softmax.args] == [("W", "W"), ("X", "X"),
                                                         ("y", "targets"), ("reg", "reg")]
    assert all(c.params == {"reg": 0.1} and set(c.inputs) == {"W", "X", "targets"}
               for c in softmax.cases)  # no randomised reg_convention, no bias b
    ce = by_name["Cross-entropy on logits"]
    assert all(c.params == {} for c in ce.cases)  # no class weights, no label smoothing
    assert "extreme_logits" in [c.name for c in ce.cases]
    assert "ignored_targets" not in [c.name for c in ce.cases]  # it would need ignore_index


@pytest.mark.parametrize(("change", "message"), [
    ({"loss": "nope"}, "unknown loss"),
    ({"args": ["logits"]}, "must pass cross_entropy's input(s) targets"),
    ({"args": ["logits", "labelz"]}, "'labelz' is neither an input"),
    ({"returns": ["value", "gradients.W"]}, "must list some of value, per_sample, gradient"),
    ({"params": {"regg": 1}}, "has no parameter(s) regg"),
    ({"cases": [{"seed": 1, "nn": 3}]}, "unknown key(s) nn"),
    ({"cases": [{"kind": "weird"}]}, "kind: must be one of random, edge"),
    ({"tolerance": "loose"}, "unknown preset 'loose'"),
    ({"points": 0}, "points: must be a positive number"),
    ({"visibility": "sometimes"}, "visibility: must be one of"),
    ({"params": {"label_smoothing": 2.0}}, "cannot make the case"),
])
def test_unusable_questions_say_where_and_why(change, message):
    with pytest.raises(AssignmentError) as exc:
        parse({"title": "t", "question": [{**QUESTION, **change}]})
    assert message in str(exc.value) and "question 'ce'" in str(exc.value)


def test_arguments_can_be_spelled_out():
    a = parse({"question": [{**QUESTION, "args": ["scores=predictions", "labels=targets"]}]})
    assert [(x.name, x.source) for x in a.questions[0].args] == [
        ("scores", "predictions"), ("labels", "targets")]


def test_an_unusable_file_is_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "a.toml"
    bad.write_text('title = "x"\n[[question]]\nname = "q"\nloss = "cross_entropy"\n')
    broken = tmp_path / "b.toml"
    broken.write_text("title = \n")
    for path, words in ((bad, "needs 'function'"), (broken, "is not valid TOML"),
                        (tmp_path / "missing.toml", "cannot read")):
        out = subprocess.run([sys.executable, "-m", "service.cli", "autograder", "run",
                              "--assignment", str(path), "--submission", str(tmp_path)],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert out.returncode == 2 and words in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""
