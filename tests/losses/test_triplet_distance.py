"""triplet_margin_with_distance against PyTorch 2.13.0 (float64, autograd), live.

The oracle is ``torch.nn.functional.triplet_margin_with_distance_loss`` with the distance function
each of our ``distance`` choices stands for (see ``TORCH_DISTANCES``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

NAME = "triplet_margin_with_distance"
REDUCTIONS = ["none", "mean", "sum"]
INPUTS = ("anchor", "positive", "negative")


def _torch_distance(distance: str):
    """The torch distance_function our ``distance`` stands for (None = torch's default)."""
    import torch.nn.functional as F

    return {
        "l2": None,  # torch.pairwise_distance(u, v): ||u - v + 1e-6||_2
        "squared_l2": lambda u, v: (u - v).pow(2).sum(-1),
        "cosine": lambda u, v: 1.0 - F.cosine_similarity(u, v, dim=-1),
    }[distance]


def _torch_fn(params: dict, reduction: str):
    import torch.nn.functional as F

    def fn(anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=_torch_distance(
                params.get("distance", "l2")),
            margin=params.get("margin", 1.0), swap=params.get("swap", False),
            reduction=reduction)

    return fn


def _np_distance(u: np.ndarray, v: np.ndarray, distance: str) -> np.ndarray:
    if distance == "l2":
        return np.sqrt(np.sum((u - v + 1e-6) ** 2, axis=-1))
    if distance == "squared_l2":
        return np.sum((u - v) ** 2, axis=-1)
    nu = np.maximum(np.linalg.norm(u, axis=-1), 1e-8)
    nv = np.maximum(np.linalg.norm(v, axis=-1), 1e-8)
    return 1.0 - np.sum(u * v, axis=-1) / (nu * nv)


def _triplets(rng: np.random.Generator, shape: tuple[int, ...], params: dict) -> dict:
    """Random triplets at least 1e-3 away from the hinge kink (and the swap tie)."""
    distance, margin = params.get("distance", "l2"), params.get("margin", 1.0)
    a = rng.normal(size=shape)
    pos = a + 0.6 * rng.normal(size=shape)
    neg = a + rng.normal(size=shape)
    for _ in range(500):
        d_ap, d_an = _np_distance(a, pos, distance), _np_distance(a, neg, distance)
        d_pn = _np_distance(pos, neg, distance)
        d_neg = np.minimum(d_an, d_pn) if params.get("swap") else d_an
        bad = np.abs(d_ap - d_neg + margin) < 1e-3
        if params.get("swap"):
            bad |= np.abs(d_an - d_pn) < 1e-3
        if not bad.any():
            return {"anchor": a, "positive": pos, "negative": neg}
        redo = bad[..., None] if a.ndim > 1 else True
        neg = np.where(redo, a + rng.normal(size=shape), neg)
    raise AssertionError("could not draw triplets away from the kink")


def _check(inputs: dict, params: dict, reduction: str) -> None:
    value, grads = torch_oracle(_torch_fn(params, reduction), inputs, INPUTS, reduction)
    r = evaluate(NAME, inputs, params, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    for k in INPUTS:
        assert_close(r.gradients[k], grads[k], err_msg=f"d/d{k}")


PARAMS = [
    {},
    {"distance": "l2", "margin": 0.3, "swap": True},
    {"distance": "squared_l2"},
    {"distance": "squared_l2", "margin": 2.5, "swap": True},
    {"distance": "cosine"},
    {"distance": "cosine", "margin": 0.2, "swap": True},
]


# D = 1 with the cosine distance only takes the values 0 and 2, so swap ties cannot be avoided
CASES = [(p, shape) for p in PARAMS for shape in [(7, 3), (1, 5), (4,), (6, 1)]
         if not (shape == (6, 1) and p.get("distance") == "cosine" and p.get("swap"))]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("params", "shape"), CASES, ids=repr)
def test_matches_torch(params, shape, reduction):
    rng = np.random.default_rng(zlib.crc32(repr((params, shape, reduction)).encode()))
    _check(_triplets(rng, shape, params), params, reduction)


@pytest.mark.parametrize("distance", ["l2", "squared_l2", "cosine"])
def test_active_and_inactive_samples_mixed(distance):
    rng = np.random.default_rng(3)
    inputs = _triplets(rng, (40, 3), {"distance": distance, "margin": 0.5})
    r = evaluate(NAME, inputs, {"distance": distance, "margin": 0.5}, reduction="none")
    loss = to_np(r.value)
    assert (loss == 0).any() and (loss > 0).any()  # both branches are exercised
    _check(inputs, {"distance": distance, "margin": 0.5}, "mean")


def test_l2_equals_triplet_margin_p2():
    rng = np.random.default_rng(5)
    inputs = _triplets(rng, (6, 4), {"swap": True})
    a = evaluate(NAME, inputs, {"swap": True}, reduction="none", want_grad=True)
    b = evaluate("triplet_margin", inputs, {"swap": True}, reduction="none", want_grad=True)
    assert_close(a.value, b.value, rtol=1e-14)
    for k in INPUTS:
        assert_close(a.gradients[k], b.gradients[k], rtol=1e-13, atol=1e-15)


def test_squared_l2_is_not_pairwise_distance_squared():
    # the documented choice: no eps inside squared_l2 (torch's pairwise_distance**2 would add it)
    a, p, n = [[0.0, 0.0]], [[1.0, 2.0]], [[3.0, 0.0]]
    r = evaluate(NAME, {"anchor": a, "positive": p, "negative": n},
                 {"distance": "squared_l2", "margin": 4.5}, reduction="none")
    assert float(to_np(r.value)[0]) == 5.0 - 9.0 + 4.5  # exact: no eps anywhere


def test_golden_cosine_by_hand():
    # cos(a,p) = 0.8 (3-4-5 triangle), cos(a,n) = 0 -> d_ap = 0.2, d_an = 1; margin 1 -> 0.2
    r = evaluate(NAME, {"anchor": [1.0, 0.0], "positive": [0.8, 0.6], "negative": [0.0, 2.0]},
                 {"distance": "cosine"}, reduction="none")
    assert_close(r.value, 0.2, rtol=1e-14)
    assert to_np(r.value).shape == ()


def test_kink_follows_torch_clamp_min():
    # squared_l2: d_ap = 1, d_an = 2, margin 1 -> the term is exactly 0; torch passes the gradient
    inputs = {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[1.0, 0.0]]),
              "negative": np.array([[1.0, 1.0]])}
    params = {"distance": "squared_l2", "margin": 1.0}
    r = evaluate(NAME, inputs, params, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert np.any(to_np(r.gradients["anchor"]) != 0.0)
    _check(inputs, params, "sum")


def test_swap_tie_splits_the_gradient_like_torch():
    # d(a,n) == d(p,n) exactly: torch.minimum gives each half of the gradient
    inputs = {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[2.0, 0.0]]),
              "negative": np.array([[1.0, 3.0]])}
    params = {"distance": "squared_l2", "margin": 10.0, "swap": True}
    _check(inputs, params, "sum")


@pytest.mark.parametrize("scale", [0.0, 3e-9, 1e-300])
def test_cosine_tiny_and_zero_vectors_match_torch(scale):
    # norms below 1e-8 are clamped in the forward pass; torch's gradient uses the unclamped norm
    rng = np.random.default_rng(11)
    a = rng.normal(size=(3, 4))
    a[1] *= scale
    inputs = {"anchor": a, "positive": rng.normal(size=(3, 4)),
              "negative": rng.normal(size=(3, 4)) * np.array([[1.0], [1.0], [scale]])}
    params = {"distance": "cosine", "margin": 1.5}  # every sample active
    value, grads = torch_oracle(_torch_fn(params, "sum"), inputs, INPUTS, "sum")
    r = evaluate(NAME, inputs, params, reduction="sum", want_grad=True)
    assert_close(r.value, value)
    for k in INPUTS:
        g = to_np(r.gradients[k])
        assert np.all(np.isfinite(g))
        assert_close(g, grads[k], rtol=1e-9, atol=1e-9 * np.max(np.abs(grads[k])), err_msg=k)


@pytest.mark.parametrize("distance", ["l2", "squared_l2", "cosine"])
def test_large_inputs_stay_finite_and_match_torch(distance):
    rng = np.random.default_rng(7)
    inputs = {k: rng.normal(size=(5, 3)) * 1e3 for k in INPUTS}
    params = {"distance": distance, "swap": True}
    value, grads = torch_oracle(_torch_fn(params, "mean"), inputs, INPUTS, "mean")
    r = evaluate(NAME, inputs, params, reduction="mean", want_grad=True)
    assert_close(r.value, value)
    for k in INPUTS:
        assert np.all(np.isfinite(to_np(r.gradients[k])))
        assert_close(r.gradients[k], grads[k], err_msg=k)


@pytest.mark.parametrize("params", PARAMS[1:], ids=repr)
def test_non_default_params_on_array_api_strict(xp, params):
    rng = np.random.default_rng(13)
    inputs = _triplets(rng, (5, 3), params)
    ref = evaluate(NAME, inputs, params, reduction="none", want_grad=True)
    got = evaluate(NAME, {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                   reduction="none", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    for k in INPUTS:
        assert_close(got.gradients[k], ref.gradients[k], rtol=1e-13)


def test_examples_match_torch():
    from service.losses import get_loss

    for ex in get_loss(NAME).examples:
        inputs = {k: np.asarray(v, dtype=float) for k, v in ex.inputs.items()}
        _check(inputs, dict(ex.params), ex.reduction)


@pytest.mark.parametrize(("params", "loc"), [
    ({"margin": 0.0}, ("params", "margin")),
    ({"margin": -1.0}, ("params", "margin")),
    ({"distance": "l1"}, ("params", "distance")),
    ({"distance": "cos"}, ("params", "distance")),
    ({"swap": 1}, ("params", "swap")),
])
def test_invalid_params(params, loc):
    with pytest.raises(LossError) as exc:
        evaluate(NAME, {k: [[0.0, 1.0]] for k in INPUTS}, params)
    assert exc.value.code == "invalid_param" and exc.value.loc == loc


@pytest.mark.parametrize(("inputs", "code", "loc"), [
    ({"anchor": np.zeros((2, 3)), "positive": np.zeros((2, 3)), "negative": np.zeros((2, 2))},
     "shape_mismatch", ("negative",)),
    ({"anchor": np.zeros((2, 3)), "positive": np.zeros((3,)), "negative": np.zeros((2, 3))},
     "shape_mismatch", ("positive",)),
    ({"anchor": np.zeros((2, 3, 4)), "positive": np.zeros((2, 3, 4)),
      "negative": np.zeros((2, 3, 4))}, "invalid_shape", ("anchor",)),
    ({"anchor": np.zeros(()), "positive": np.zeros(()), "negative": np.zeros(())},
     "invalid_shape", ("anchor",)),
    ({"anchor": [[0.0, np.inf]], "positive": [[0.0, 1.0]], "negative": [[0.0, 1.0]]},
     "nonfinite_input", ("anchor", 0, 1)),
])
def test_input_errors(inputs, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate(NAME, inputs)
    assert exc.value.code == code and exc.value.loc == loc
