"""``/cases``: byte-identical across calls and processes, valid for every registered loss, and
the edge cases really sit on the edges they name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson
import pytest

from service.engine import run
from service.grading import case_set
from service.losses import LOSSES

QUERIES = [("cross_entropy", 3, 7, 5, "random"), ("cross_entropy", 3, 7, 5, "edge"),
           ("nll", 11, 4, 3, "random"), ("kl_div", 5, 6, 4, "random"),
           ("binary_cross_entropy", 2, 6, 3, "edge"), ("gaussian_nll", 9, 5, 2, "random")]


def _dump(name: str, seed: int, n: int, classes: int, kind: str) -> bytes:
    return orjson.dumps(case_set(name, seed=seed, n=n, classes=classes, kind=kind))


@pytest.mark.parametrize("query", QUERIES)
def test_the_same_query_gives_the_same_bytes(query):
    assert _dump(*query) == _dump(*query)


def test_the_same_bytes_in_another_process():
    script = ("import sys, orjson; from service.grading import case_set\n"
              f"for q in {QUERIES!r}:\n"
              "    sys.stdout.buffer.write(orjson.dumps(case_set(q[0], seed=q[1], n=q[2], "
              "classes=q[3], kind=q[4])) + b'\\n')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                         timeout=120).stdout
    assert out == b"".join(_dump(*q) + b"\n" for q in QUERIES)


def test_seeds_differ_and_floats_are_rounded():
    a = case_set("mse", seed=1, n=5, classes=3)["cases"][0]
    b = case_set("mse", seed=2, n=5, classes=3)["cases"][0]
    assert a["predictions"] != b["predictions"]
    for v in np.asarray(a["predictions"]).ravel():
        assert float(f"{v:.12g}") == v


def _inputs(case: dict) -> dict:
    found = {k: np.asarray(case[k]) for k in ("predictions", "targets") if k in case}
    found.update({k: np.asarray(v) for k, v in (case.get("inputs") or {}).items()})
    return found


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_valid_random_and_edge_cases(name):
    spec = LOSSES[name]
    for kind in ("random", "edge"):
        cases = case_set(name, seed=4, n=6, classes=3, kind=kind)["cases"]
        assert cases, f"{name} {kind}: no case"
        for case in cases:
            assert case["loss"] == name and case["reduction"] == spec.default_reduction
            r = run(name, _inputs(case), case["params"], want_grad=spec.differentiable)
            assert np.all(np.isfinite(r.evaluation.per_sample)), (name, case["name"])
    names = [c["name"] for c in case_set(name, seed=4, n=6, classes=3, kind="edge")["cases"]]
    assert "single_sample" in names


def _edge(name: str, which: str, **kw) -> dict:
    cases = case_set(name, kind="edge", **kw)["cases"]
    return next(c for c in cases if c["name"] == which)


def test_cross_entropy_edges():
    names = [c["name"] for c in case_set("cross_entropy", kind="edge", n=6)["cases"]]
    assert names == ["single_sample", "extreme_logits", "ignored_targets", "dominant_class"]
    x = np.asarray(_edge("cross_entropy", "extreme_logits", n=6)["predictions"])
    assert x.max() == 1000.0 and x.min() == -1000.0
    ignored = _edge("cross_entropy", "ignored_targets", n=6)
    assert ignored["targets"].count(-100) == 2 and ignored["params"]["ignore_index"] == -100
    dominant = _edge("cross_entropy", "dominant_class", n=6)
    assert set(dominant["targets"]) == {0}
    assert len(_edge("cross_entropy", "single_sample")["targets"]) == 1


def test_probabilities_of_exactly_zero_and_one():
    case = _edge("binary_cross_entropy", "probabilities_0_1", n=4, classes=2)
    p = np.asarray(case["predictions"]).ravel()
    assert list(p[:4]) == [0.0, 1.0, 1.0, 0.0]
    r = run("binary_cross_entropy", _inputs(case), {}, reduction="none")
    assert np.asarray(r.evaluation.value).ravel()[0] == 100.0  # log 0 clamped at -100


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "multiclass_hinge", "multi_margin"])
def test_margins_exactly_at_the_kink(name):
    case = _edge(name, "margin_at_kink", n=5, classes=3)
    x, t = np.asarray(case["predictions"]), np.asarray(case["targets"])
    margin = case["params"].get("margin", 1.0)
    if x.ndim == 1 or name in ("hinge", "squared_hinge"):
        y = 2 * t - 1 if set(np.unique(t)) <= {0.0, 1.0} else t
        assert np.any(margin - y * x == 0.0)
    else:
        z = margin - x[0, t[0]] + x[0]
        assert np.sum(z == 0.0) == 1  # one wrong class sits exactly at the kink


def test_unknown_kind_and_loss():
    from service.losses import LossError

    with pytest.raises(ValueError, match="kind"):
        case_set("mse", kind="weird")
    with pytest.raises(LossError):
        case_set("no_such_loss")


def _spinning(rng, n, c):  # a rejection sampler that never accepts
    while True:
        rng.normal(size=(n, c))


def test_a_sampler_that_never_finishes_is_stopped(monkeypatch):
    import dataclasses

    from service.grading import cases

    spec = dataclasses.replace(LOSSES["mse"], sampler=_spinning)
    monkeypatch.setattr(cases, "SAMPLER_SECONDS", 0.2)
    monkeypatch.setattr(cases, "get_loss", lambda name: spec)
    with pytest.raises(cases.CaseTooLarge) as exc:
        case_set("mse", n=50, classes=10)
    assert exc.value.code == "case_too_large" and "n=50, classes=10" in exc.value.message


def test_given_params_replace_the_samplers_draws_and_get_cases_keeps_them():
    drawn = case_set("cross_entropy", seed=3, n=4, classes=3, kind="edge")
    assert all(c["params"]["label_smoothing"] == 0.1 and c["params"]["weight"]
               for c in drawn["cases"])
    fixed = case_set("cross_entropy", seed=3, n=4, classes=3, kind="edge", params={})
    first = {c["name"]: c["predictions"] for c in drawn["cases"]}
    assert all(first[c["name"]] == c["predictions"] for c in fixed["cases"])
    assert all(c["params"] == {} for c in fixed["cases"])
    names = [c["name"] for c in fixed["cases"]]
    assert "extreme_logits" in names and "ignored_targets" not in names  # it needs ignore_index
    given = case_set("cross_entropy", seed=3, n=4, classes=3, kind="edge",
                     params={"ignore_index": -100})
    assert "ignored_targets" in [c["name"] for c in given["cases"]]
    svm = case_set("linear_svm", seed=1, n=5, classes=4, params={"reg": 0.1}, omit=("b",))
    (case,) = svm["cases"]
    assert case["params"] == {"reg": 0.1} and set(case["inputs"]) == {"W", "X"}
