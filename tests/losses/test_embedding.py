"""Embedding losses against the PyTorch oracle (torch 2.13.0, float64), kinks, edge cases, errors.

triplet_margin, margin_ranking, cosine_embedding and hinge_embedding all exist in torch, so every
value and gradient is checked against ``torch.nn.functional`` with autograd.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

REDUCTIONS = ["none", "mean", "sum"]
TRIPLET_INPUTS = ("anchor", "positive", "negative")
PAIR_INPUTS = ("input1", "input2")


def _torch_fn(name: str, reduction: str, params: dict):
    import torch.nn.functional as F

    fns = {
        "triplet_margin": lambda anchor, positive, negative: F.triplet_margin_loss(
            anchor, positive, negative, reduction=reduction, **params),
        "margin_ranking": lambda input1, input2, targets: F.margin_ranking_loss(
            input1, input2, targets, reduction=reduction, **params),
        "cosine_embedding": lambda input1, input2, targets: F.cosine_embedding_loss(
            input1, input2, targets, reduction=reduction, **params),
        "hinge_embedding": lambda predictions, targets: F.hinge_embedding_loss(
            predictions, targets, reduction=reduction, **params),
    }
    return fns[name]


def _seed(*key: object) -> int:
    """A reproducible seed per test case (``hash`` of a str changes between runs)."""
    return zlib.crc32(repr(key).encode())


def _check_against_torch(name: str, inputs: dict, params: dict, reduction: str) -> None:
    diff = get_loss(name).differentiable_inputs
    value, grads = torch_oracle(_torch_fn(name, reduction, params), inputs, diff, reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    for k in diff:
        assert_close(r.gradients[k], grads[k], err_msg=f"d/d{k}")


def _raises(name: str, inputs: dict, params: dict | None, code: str, loc: tuple) -> None:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params or {})
    assert exc.value.code == code, exc.value
    assert exc.value.loc == loc, exc.value


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
    rng = np.random.default_rng(_seed(str(params), shape, reduction))
    _check_against_torch("triplet_margin", _triplets(rng, shape, params), params, reduction)


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
    _check_against_torch("triplet_margin", inputs, {"eps": 0.0, "margin": 1.0}, "sum")
    r = evaluate("triplet_margin", inputs, {"eps": 0.0}, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert to_np(r.gradients["positive"]).tolist() == [[1.0, 0.0]]  # active, not 0
    assert to_np(r.gradients["negative"]).tolist() == [[-1.0, 0.0]]


def test_triplet_swap_tie_splits_the_gradient_like_torch():
    # d(a, n) == d(p, n): torch.minimum's backward gives each half
    inputs = {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[0.0, 0.0]]),
              "negative": np.array([[1.0, 0.0]])}
    params = {"eps": 0.0, "margin": 5.0, "swap": True}
    _check_against_torch("triplet_margin", inputs, params, "sum")
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
    _check_against_torch("triplet_margin", inputs, params, "sum")
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
    _raises("triplet_margin", {"anchor": z, "positive": z, "negative": z}, params,
            "invalid_param", ("params", name))


def test_triplet_shape_errors():
    z = np.zeros((3, 2))
    _raises("triplet_margin", {"anchor": np.zeros((2, 3, 2)), "positive": np.zeros((2, 3, 2)),
                               "negative": np.zeros((2, 3, 2))}, None, "invalid_shape",
            ("anchor",))
    _raises("triplet_margin", {"anchor": np.zeros(()), "positive": np.zeros(()),
                               "negative": np.zeros(())}, None, "invalid_shape", ("anchor",))
    _raises("triplet_margin", {"anchor": z, "positive": np.zeros((3, 3)), "negative": z}, None,
            "shape_mismatch", ("positive",))
    _raises("triplet_margin", {"anchor": z, "positive": z, "negative": np.zeros((1, 2))}, None,
            "shape_mismatch", ("negative",))


# ----------------------------------------------------------------------------- margin_ranking


def _ranking(rng: np.random.Generator, shape: tuple[int, ...], margin: float) -> dict:
    x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
    y = np.asarray(rng.choice([-1.0, 1.0], size=shape))
    near = np.abs(-y * (x1 - x2) + margin) < 1e-3
    x1 = np.where(near, x1 + 0.1 * y, x1)
    return {"input1": np.asarray(x1), "input2": np.asarray(x2), "targets": y}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (1,), (9,)])
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.3, 2.0])
def test_margin_ranking_matches_torch(margin, shape, reduction):
    rng = np.random.default_rng(_seed(margin, shape, reduction))
    params = {} if margin == 0.0 else {"margin": margin}
    _check_against_torch("margin_ranking", _ranking(rng, shape, margin), params, reduction)


def test_margin_ranking_golden_value():
    # by hand: terms max(0, -0.6 + 0.5) = 0, max(0, 0.8 + 0.5) = 1.3, max(0, 1.0 + 0.5) = 1.5
    ex = get_loss("margin_ranking").examples[0]
    r = evaluate("margin_ranking", ex.inputs, ex.params, reduction="none")
    assert_close(r.value, [0.0, 1.3, 1.5])
    m = evaluate("margin_ranking", ex.inputs, ex.params)
    assert_close(m.value, 2.8 / 3)


def test_margin_ranking_kink_follows_torch():
    # term exactly 0 (x1 == x2 with margin 0; x1 - x2 == margin): torch passes the gradient -y
    inputs = {"input1": np.array([1.0, 1.0, 2.0]), "input2": np.array([1.0, 0.5, 1.5]),
              "targets": np.array([1.0, 1.0, -1.0])}
    _check_against_torch("margin_ranking", {**inputs, "targets": np.array([1.0, 1.0, 1.0])},
                         {"margin": 0.5}, "sum")
    r = evaluate("margin_ranking", inputs, {"margin": 0.0}, reduction="sum", want_grad=True)
    _check_against_torch("margin_ranking", inputs, {"margin": 0.0}, "sum")
    assert to_np(r.gradients["input1"]).tolist() == [-1.0, -0.0, 1.0]


def test_margin_ranking_errors():
    ok = np.array([0.1, 0.2, 0.3])
    _raises("margin_ranking", {"input1": ok, "input2": ok, "targets": np.array([1.0, 0.0, -1.0])},
            None, "invalid_label", ("targets", 1))
    _raises("margin_ranking", {"input1": ok, "input2": ok, "targets": np.array([1.0, 1.0, 2.0])},
            None, "invalid_label", ("targets", 2))
    _raises("margin_ranking", {"input1": ok, "input2": ok[:2], "targets": ok},
            None, "shape_mismatch", ("input2",))
    # ((3, 1) targets broadcast against (3,) inputs as in torch; (4,) do not)
    _raises("margin_ranking", {"input1": ok, "input2": ok, "targets": np.ones(4)},
            None, "shape_mismatch", ("targets",))
    # 2-D inputs were refused; torch computes them elementwise, and so do we now
    rng = np.random.default_rng(3)
    two_d = {"input1": rng.normal(size=(2, 3)), "input2": rng.normal(size=(2, 3)),
             "targets": rng.choice([-1.0, 1.0], size=(2, 3))}
    _check_against_torch("margin_ranking", two_d, {"margin": 0.2}, "mean")
    _raises("margin_ranking", {"input1": ok, "input2": ok, "targets": np.ones(3)},
            {"margin": math.nan}, "invalid_param", ("params", "margin"))


# ----------------------------------------------------------------------------- cosine_embedding


def _cos(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    return np.sum(x1 * x2, -1) / np.sqrt((np.sum(x1 * x1, -1) + 1e-12)
                                         * (np.sum(x2 * x2, -1) + 1e-12))


def _cosine(rng: np.random.Generator, shape: tuple[int, ...], margin: float) -> dict:
    x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
    y = np.asarray(rng.choice([-1.0, 1.0], size=shape[:-1]))
    y = np.where((y == -1.0) & (np.abs(_cos(x1, x2) - margin) < 1e-3), 1.0, y)
    return {"input1": x1, "input2": x2, "targets": np.asarray(y)}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (1, 3), (10, 4), (6, 1)])
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.5, 1.0])
def test_cosine_embedding_matches_torch(margin, shape, reduction):
    rng = np.random.default_rng(_seed(margin, shape, reduction))
    params = {} if margin == 0.0 else {"margin": margin}
    _check_against_torch("cosine_embedding", _cosine(rng, shape, margin), params, reduction)


def test_cosine_embedding_golden_values():
    # by hand: cos((1, 0), (1, 1)) = 1/sqrt(2) (the 1e-12 terms move it by ~1e-12 relative)
    c = 1.0 / math.sqrt(2.0)
    r = evaluate("cosine_embedding", {"input1": [[1.0, 0.0], [1.0, 0.0]],
                                      "input2": [[1.0, 1.0], [1.0, 1.0]], "targets": [1.0, -1.0]},
                 {"margin": 0.5}, reduction="none")
    assert_close(r.value, [1.0 - c, c - 0.5])


def test_cosine_embedding_zero_vectors_are_finite_like_torch():
    # aten adds 1e-12 to each squared norm: a zero vector gives cos = 0 (loss 1 for y = 1)
    inputs = {"input1": np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 0.0]]),
              "input2": np.array([[1.0, -1.0, 0.5], [0.3, 0.1, 0.2], [0.0, 0.0, 0.0]]),
              "targets": np.array([1.0, -1.0, 1.0])}
    _check_against_torch("cosine_embedding", inputs, {"margin": -0.5}, "sum")
    r = evaluate("cosine_embedding", inputs, {"margin": -0.5}, reduction="none", want_grad=True)
    assert_close(r.value, [1.0, 0.5, 1.0])
    for g in r.gradients.values():
        assert np.all(np.isfinite(to_np(g)))
    assert np.abs(to_np(r.gradients["input1"])[0]).max() > 1e5  # huge, as torch


def test_cosine_embedding_kink_follows_torch():
    # orthogonal vectors, margin 0, y = -1: cos - margin == 0 exactly; torch passes dcos
    inputs = {"input1": np.array([[1.0, 0.0]]), "input2": np.array([[0.0, 1.0]]),
              "targets": np.array([-1.0])}
    _check_against_torch("cosine_embedding", inputs, {}, "sum")
    r = evaluate("cosine_embedding", inputs, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert_close(r.gradients["input1"], [[0.0, 1.0]])


def test_cosine_embedding_unbatched_gives_a_scalar():
    inputs = {"input1": np.array([1.0, 2.0, 3.0]), "input2": np.array([-1.0, 0.5, 2.0]),
              "targets": np.array(-1.0)}
    _check_against_torch("cosine_embedding", inputs, {"margin": 0.1}, "none")
    r = evaluate("cosine_embedding", inputs, {"margin": 0.1}, reduction="none")
    assert to_np(r.value).shape == ()


def test_cosine_embedding_errors():
    x = np.ones((3, 2))
    _raises("cosine_embedding", {"input1": x, "input2": x, "targets": np.array([1.0, 0.0, 1.0])},
            None, "invalid_label", ("targets", 1))
    _raises("cosine_embedding", {"input1": x, "input2": x, "targets": np.ones(2)},
            None, "shape_mismatch", ("targets",))
    _raises("cosine_embedding", {"input1": x, "input2": x, "targets": np.ones((3, 2))},
            None, "shape_mismatch", ("targets",))
    _raises("cosine_embedding", {"input1": x[0], "input2": x[0], "targets": np.ones(1)},
            None, "shape_mismatch", ("targets",))
    _raises("cosine_embedding", {"input1": x, "input2": np.ones((3, 3)), "targets": np.ones(3)},
            None, "shape_mismatch", ("input2",))
    _raises("cosine_embedding", {"input1": np.ones((2, 2, 2)), "input2": np.ones((2, 2, 2)),
                                 "targets": np.ones((2, 2))}, None, "invalid_shape", ("input1",))
    for bad in (1.5, -1.01):
        _raises("cosine_embedding", {"input1": x, "input2": x, "targets": np.ones(3)},
                {"margin": bad}, "invalid_param", ("params", "margin"))


# ----------------------------------------------------------------------------- hinge_embedding


def _hinge(rng: np.random.Generator, shape: tuple[int, ...], margin: float) -> dict:
    x = np.asarray(rng.uniform(-1.0, 3.0, size=shape))  # negative values allowed for y = 1
    y = np.asarray(rng.choice([-1.0, 1.0], size=shape))
    x = np.where((y == -1.0) & (np.abs(x - margin) < 1e-3), x + 0.1, x)
    return {"predictions": np.asarray(x), "targets": y}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (7,), (5, 3), (2, 3, 4)])
@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0, -0.5])
def test_hinge_embedding_matches_torch(margin, shape, reduction):
    rng = np.random.default_rng(_seed(margin, shape, reduction))
    params = {} if margin == 1.0 else {"margin": margin}
    _check_against_torch("hinge_embedding", _hinge(rng, shape, margin), params, reduction)


def test_hinge_embedding_golden_value():
    # by hand: [0.3, 1.2, max(0, 1 - 0.4), max(0, 1 - 2)] = [0.3, 1.2, 0.6, 0]; mean 0.525
    ex = get_loss("hinge_embedding").examples[0]
    r = evaluate("hinge_embedding", ex.inputs, ex.params)
    assert_close(r.value, 0.525)


def test_hinge_embedding_kink_gradient_is_minus_one_like_torch():
    inputs = {"predictions": np.array([1.0, 0.5, 1.5, -2.0]),
              "targets": np.array([-1.0, -1.0, -1.0, 1.0])}
    _check_against_torch("hinge_embedding", inputs, {}, "sum")
    r = evaluate("hinge_embedding", inputs, reduction="sum", want_grad=True)
    assert to_np(r.gradients["predictions"]).tolist() == [-1.0, -1.0, -0.0, 1.0]
    assert float(to_np(r.value)) == -1.5  # 0 + 0.5 + 0 - 2: negative for y = 1, x < 0


def test_hinge_embedding_errors():
    x = np.ones((2, 3))
    y = np.ones((2, 3))
    y[1, 0] = 0.0  # torch would add both terms for y = 0; we reject it
    _raises("hinge_embedding", {"predictions": x, "targets": y}, None, "invalid_label",
            ("targets", 1, 0))
    # ((3,) targets broadcast against (2, 3) predictions as in torch; (4,) do not)
    _raises("hinge_embedding", {"predictions": x, "targets": np.ones(4)}, None,
            "shape_mismatch", ("targets",))


# ----------------------------------------------------------------------------- all four


@pytest.mark.parametrize("name", ["triplet_margin", "margin_ranking", "cosine_embedding",
                                  "hinge_embedding"])
def test_examples_match_torch(name):
    for ex in get_loss(name).examples:
        inputs = {k: np.asarray(v, dtype=np.float64) for k, v in ex.inputs.items()}
        _check_against_torch(name, inputs, dict(ex.params), ex.reduction)


@pytest.mark.parametrize("name", ["triplet_margin", "margin_ranking", "cosine_embedding",
                                  "hinge_embedding"])
def test_large_inputs_match_torch(name):
    # values around 1e3 (and 1e-3): no overflow or loss of precision beyond torch's
    spec = get_loss(name)
    rng = np.random.default_rng(17)
    inputs, params = spec.sampler(rng, 6, 4)
    for scale in (1e3, 1e-3):
        scaled = {k: (np.asarray(v) * scale if k != "targets" else v) for k, v in inputs.items()}
        p = dict(params)
        if name in ("triplet_margin", "margin_ranking", "hinge_embedding"):
            p["margin"] = params.get("margin", 1.0) * scale  # keep the same active set
        _check_against_torch(name, scaled, p, "sum")
