"""triplet_margin (service/losses/triplet.py) against the PyTorch oracle (torch 2.13.0, float64,
``torch.nn.functional.triplet_margin_loss`` with autograd): every p, swap, margin and eps, its
kinks and ties, golden values by hand, the array-API paths and every error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, to_xp
from tests.losses.embedding_support import check_against_torch, raises_at, seed_for
from tests.losses.support import REDUCTIONS

TRIPLET_INPUTS = ("anchor", "positive", "negative")


# ----------------------------------------------------------------------------- triplet_margin


def _lp(z: np.ndarray, p: float) -> np.ndarray:
    return np.sum(np.abs(z) ** p, axis=-1) ** (1.0 / p)


def _triplets(rng: np.random.Generator, shape: tuple[int, ...], params: dict) -> dict:
    """Random triplets whose hinge term (and swap choice) is at least 1e-3 from its kink."""
    p, eps, margin = params.get("p", 2.0), params.get("eps", 1e-6), params.get("margin", 1.0)
    a = rng.normal(size=shape)
    pos = a + 0.6 * rng.normal(size=shape)
    neg = a + rng.normal(size=shape)
    for _ in range(200):
        d_ap, d_an, d_pn = _lp(a - pos + eps, p), _lp(a - neg + eps, p), _lp(pos - neg + eps, p)
        d_neg = np.minimum(d_an, d_pn) if params.get("swap") else d_an
        bad = (np.abs(d_ap - d_neg + margin) < 1e-3) | (np.abs(d_an - d_pn) < 1e-3)
        if not bad.any():
            return {"anchor": a, "positive": pos, "negative": neg}
        redo = bad[..., None] if a.ndim > 1 else True  # the bad rows (or the one vector)
        pos = np.where(redo, a + 0.6 * rng.normal(size=shape), pos)
        neg = np.where(redo, a + rng.normal(size=shape), neg)
    raise AssertionError("could not sample triplets away from the kink")


TRIPLET_SHAPES = [(4,), (1, 3), (6, 5), (8, 1)]
TRIPLET_PARAMS = [
    {}, {"p": 1.0}, {"p": 3.0}, {"p": 1.5}, {"p": 0.7}, {"swap": True},
    {"swap": True, "p": 1.0}, {"swap": True, "p": 3.0, "margin": 2.0},
    {"margin": 0.3, "eps": 0.0}, {"eps": 1e-2, "margin": 1.5},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", TRIPLET_SHAPES)
@pytest.mark.parametrize("params", TRIPLET_PARAMS, ids=str)
def test_triplet_matches_torch(params, shape, reduction):
    rng = np.random.default_rng(seed_for(str(params), shape, reduction))
    check_against_torch("triplet_margin", _triplets(rng, shape, params), params, reduction)


def test_triplet_mixes_active_and_inactive_samples():
    # guards the oracle test above: it must exercise both sides of the hinge
    rng = np.random.default_rng(0)
    r = evaluate("triplet_margin", _triplets(rng, (40, 3), {}), reduction="none")
    v = to_np(r.value)
    assert (v > 0).any() and (v == 0).any()


def test_triplet_unbatched_gives_a_scalar():
    r = evaluate("triplet_margin", {"anchor": [0.0, 0.0], "positive": [3.0, 4.0],
                                    "negative": [0.0, 1.0]}, {"eps": 0.0}, reduction="none")
    assert to_np(r.value).shape == ()
    assert_close(r.value, 5.0)  # by hand: d_ap = 5, d_an = 1, max(5 - 1 + 1, 0)


@pytest.mark.parametrize(("p", "expected"), [(2.0, [0.0, 5.0]), (1.0, [0.0, 7.0])])
def test_triplet_golden_values(p, expected):
    # by hand, eps = 0: a = 0, positive (3, 4); negatives (6, 8) and (0, 1)
    # p = 2: d_ap = 5, d_an = 10 | 1 -> [max(-4, 0), 5]; p = 1: d_ap = 7, d_an = 14 | 1 -> [0, 7]
    r = evaluate("triplet_margin", {"anchor": [[0.0, 0.0], [0.0, 0.0]],
                                    "positive": [[3.0, 4.0], [3.0, 4.0]],
                                    "negative": [[6.0, 8.0], [0.0, 1.0]]},
                 {"eps": 0.0, "p": p}, reduction="none")
    assert_close(r.value, expected)


def test_triplet_kink_follows_torch_clamp_min():
    # d_ap - d_an + margin == 0 exactly: torch's clamp_min lets the gradient through
    inputs = {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[1.0, 0.0]]),
              "negative": np.array([[2.0, 0.0]])}
    check_against_torch("triplet_margin", inputs, {"eps": 0.0, "margin": 1.0}, "sum")
    r = evaluate("triplet_margin", inputs, {"eps": 0.0}, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert to_np(r.gradients["positive"]).tolist() == [[1.0, 0.0]]  # active, not 0
    assert to_np(r.gradients["negative"]).tolist() == [[-1.0, 0.0]]


def test_triplet_swap_tie_splits_the_gradient_like_torch():
    # d(a, n) == d(p, n): torch.minimum's backward gives each half
    inputs = {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[0.0, 0.0]]),
              "negative": np.array([[1.0, 0.0]])}
    params = {"eps": 0.0, "margin": 5.0, "swap": True}
    check_against_torch("triplet_margin", inputs, params, "sum")
    r = evaluate("triplet_margin", inputs, params, reduction="sum", want_grad=True)
    assert to_np(r.gradients["anchor"]).tolist() == [[0.5, 0.0]]


def test_triplet_swap_uses_the_closer_negative_distance():
    # by hand, eps = 0: d(a,p) = 1, d(a,n) = 2.5, d(p,n) = 1.5
    # plain: max(1 - 2.5 + 1, 0) = 0; swap: max(1 - 1.5 + 1, 0) = 0.5
    inputs = {"anchor": [0.0, 0.0], "positive": [1.0, 0.0], "negative": [2.5, 0.0]}
    plain = evaluate("triplet_margin", inputs, {"eps": 0.0})
    swapped = evaluate("triplet_margin", inputs, {"eps": 0.0, "swap": True})
    assert_close(plain.value, 0.0)
    assert_close(swapped.value, 0.5)


@pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_triplet_zero_differences_match_torch(p):
    # a zero coordinate of u - v + eps (and a zero vector): torch's norm backward gives 0 there
    inputs = {"anchor": np.array([[0.0, 1.0], [0.0, 1.0]]),
              "positive": np.array([[0.0, 1.0], [2.0, 1.0]]),
              "negative": np.array([[0.0, 5.0], [0.0, 5.0]])}
    params = {"eps": 0.0, "margin": 10.0, "p": p}
    check_against_torch("triplet_margin", inputs, params, "sum")
    r = evaluate("triplet_margin", inputs, params, reduction="sum", want_grad=True)
    for g in r.gradients.values():
        assert np.all(np.isfinite(to_np(g)))


@pytest.mark.parametrize("params", [{"swap": True}, {"p": 3.0}, {"p": 1.0, "swap": True}],
                         ids=str)
def test_triplet_non_default_params_on_array_api_strict(xp, params):
    inputs = _triplets(np.random.default_rng(5), (5, 4), params)
    ref = evaluate("triplet_margin", inputs, params, reduction="none", want_grad=True)
    got = evaluate("triplet_margin", {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                   reduction="none", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    for k in TRIPLET_INPUTS:
        assert_close(got.gradients[k], ref.gradients[k], rtol=1e-13)


@pytest.mark.parametrize(("params", "name"), [
    ({"margin": 0.0}, "margin"), ({"margin": -1.0}, "margin"), ({"p": 0.0}, "p"),
    ({"p": -2.0}, "p"), ({"eps": -1e-6}, "eps"), ({"swap": 1}, "swap"),
    ({"p": math.inf}, "p"),
])
def test_triplet_invalid_params(params, name):
    z = [[0.0, 1.0]]
    raises_at("triplet_margin", {"anchor": z, "positive": z, "negative": z}, params,
              "invalid_param", ("params", name))


def test_triplet_shape_errors():
    z = np.zeros((3, 2))
    raises_at("triplet_margin", {"anchor": np.zeros((2, 3, 2)), "positive": np.zeros((2, 3, 2)),
                                 "negative": np.zeros((2, 3, 2))}, None, "invalid_shape",
              ("anchor",))
    raises_at("triplet_margin", {"anchor": np.zeros(()), "positive": np.zeros(()),
                                 "negative": np.zeros(())}, None, "invalid_shape", ("anchor",))
    raises_at("triplet_margin", {"anchor": z, "positive": np.zeros((3, 3)), "negative": z}, None,
              "shape_mismatch", ("positive",))
    raises_at("triplet_margin", {"anchor": z, "positive": z, "negative": np.zeros((1, 2))}, None,
              "shape_mismatch", ("negative",))
