"""margin_ranking, cosine_embedding and hinge_embedding (service/losses/embedding.py) against the
PyTorch oracle (torch 2.13.0, float64), kinks, edge cases, errors; and the examples and large
inputs of all four embedding losses (triplet_margin's own tests: test_triplet.py).

They all exist in torch, so every value and gradient is checked against ``torch.nn.functional``
with autograd.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, to_np
from tests.losses.embedding_support import check_against_torch, raises_at, seed_for
from tests.losses.support import REDUCTIONS

PAIR_INPUTS = ("input1", "input2")


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
    rng = np.random.default_rng(seed_for(margin, shape, reduction))
    params = {} if margin == 0.0 else {"margin": margin}
    check_against_torch("margin_ranking", _ranking(rng, shape, margin), params, reduction)


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
    check_against_torch("margin_ranking", {**inputs, "targets": np.array([1.0, 1.0, 1.0])},
                        {"margin": 0.5}, "sum")
    r = evaluate("margin_ranking", inputs, {"margin": 0.0}, reduction="sum", want_grad=True)
    check_against_torch("margin_ranking", inputs, {"margin": 0.0}, "sum")
    assert to_np(r.gradients["input1"]).tolist() == [-1.0, -0.0, 1.0]


def test_margin_ranking_errors():
    ok = np.array([0.1, 0.2, 0.3])
    raises_at("margin_ranking", {"input1": ok, "input2": ok, "targets": np.array([1.0, 0.0, -1.0])},
              None, "invalid_label", ("targets", 1))
    raises_at("margin_ranking", {"input1": ok, "input2": ok, "targets": np.array([1.0, 1.0, 2.0])},
              None, "invalid_label", ("targets", 2))
    raises_at("margin_ranking", {"input1": ok, "input2": ok[:2], "targets": ok},
              None, "shape_mismatch", ("input2",))
    # ((3, 1) targets broadcast against (3,) inputs as in torch; (4,) do not)
    raises_at("margin_ranking", {"input1": ok, "input2": ok, "targets": np.ones(4)},
              None, "shape_mismatch", ("targets",))
    # 2-D inputs were refused; torch computes them elementwise, and so do we now
    rng = np.random.default_rng(3)
    two_d = {"input1": rng.normal(size=(2, 3)), "input2": rng.normal(size=(2, 3)),
             "targets": rng.choice([-1.0, 1.0], size=(2, 3))}
    check_against_torch("margin_ranking", two_d, {"margin": 0.2}, "mean")
    raises_at("margin_ranking", {"input1": ok, "input2": ok, "targets": np.ones(3)},
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
    rng = np.random.default_rng(seed_for(margin, shape, reduction))
    params = {} if margin == 0.0 else {"margin": margin}
    check_against_torch("cosine_embedding", _cosine(rng, shape, margin), params, reduction)


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
    check_against_torch("cosine_embedding", inputs, {"margin": -0.5}, "sum")
    r = evaluate("cosine_embedding", inputs, {"margin": -0.5}, reduction="none", want_grad=True)
    assert_close(r.value, [1.0, 0.5, 1.0])
    for g in r.gradients.values():
        assert np.all(np.isfinite(to_np(g)))
    assert np.abs(to_np(r.gradients["input1"])[0]).max() > 1e5  # huge, as torch


def test_cosine_embedding_kink_follows_torch():
    # orthogonal vectors, margin 0, y = -1: cos - margin == 0 exactly; torch passes dcos
    inputs = {"input1": np.array([[1.0, 0.0]]), "input2": np.array([[0.0, 1.0]]),
              "targets": np.array([-1.0])}
    check_against_torch("cosine_embedding", inputs, {}, "sum")
    r = evaluate("cosine_embedding", inputs, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert_close(r.gradients["input1"], [[0.0, 1.0]])


def test_cosine_embedding_unbatched_gives_a_scalar():
    inputs = {"input1": np.array([1.0, 2.0, 3.0]), "input2": np.array([-1.0, 0.5, 2.0]),
              "targets": np.array(-1.0)}
    check_against_torch("cosine_embedding", inputs, {"margin": 0.1}, "none")
    r = evaluate("cosine_embedding", inputs, {"margin": 0.1}, reduction="none")
    assert to_np(r.value).shape == ()


def test_cosine_embedding_errors():
    x = np.ones((3, 2))
    raises_at("cosine_embedding", {"input1": x, "input2": x, "targets": np.array([1.0, 0.0, 1.0])},
              None, "invalid_label", ("targets", 1))
    raises_at("cosine_embedding", {"input1": x, "input2": x, "targets": np.ones(2)},
              None, "shape_mismatch", ("targets",))
    raises_at("cosine_embedding", {"input1": x, "input2": x, "targets": np.ones((3, 2))},
              None, "shape_mismatch", ("targets",))
    raises_at("cosine_embedding", {"input1": x[0], "input2": x[0], "targets": np.ones(1)},
              None, "shape_mismatch", ("targets",))
    raises_at("cosine_embedding", {"input1": x, "input2": np.ones((3, 3)), "targets": np.ones(3)},
              None, "shape_mismatch", ("input2",))
    raises_at("cosine_embedding", {"input1": np.ones((2, 2, 2)), "input2": np.ones((2, 2, 2)),
                                   "targets": np.ones((2, 2))}, None, "invalid_shape", ("input1",))
    for bad in (1.5, -1.01):
        raises_at("cosine_embedding", {"input1": x, "input2": x, "targets": np.ones(3)},
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
    rng = np.random.default_rng(seed_for(margin, shape, reduction))
    params = {} if margin == 1.0 else {"margin": margin}
    check_against_torch("hinge_embedding", _hinge(rng, shape, margin), params, reduction)


def test_hinge_embedding_golden_value():
    # by hand: [0.3, 1.2, max(0, 1 - 0.4), max(0, 1 - 2)] = [0.3, 1.2, 0.6, 0]; mean 0.525
    ex = get_loss("hinge_embedding").examples[0]
    r = evaluate("hinge_embedding", ex.inputs, ex.params)
    assert_close(r.value, 0.525)


def test_hinge_embedding_kink_gradient_is_minus_one_like_torch():
    inputs = {"predictions": np.array([1.0, 0.5, 1.5, -2.0]),
              "targets": np.array([-1.0, -1.0, -1.0, 1.0])}
    check_against_torch("hinge_embedding", inputs, {}, "sum")
    r = evaluate("hinge_embedding", inputs, reduction="sum", want_grad=True)
    assert to_np(r.gradients["predictions"]).tolist() == [-1.0, -1.0, -0.0, 1.0]
    assert float(to_np(r.value)) == -1.5  # 0 + 0.5 + 0 - 2: negative for y = 1, x < 0


def test_hinge_embedding_errors():
    x = np.ones((2, 3))
    y = np.ones((2, 3))
    y[1, 0] = 0.0  # torch would add both terms for y = 0; we reject it
    raises_at("hinge_embedding", {"predictions": x, "targets": y}, None, "invalid_label",
              ("targets", 1, 0))
    # ((3,) targets broadcast against (2, 3) predictions as in torch; (4,) do not)
    raises_at("hinge_embedding", {"predictions": x, "targets": np.ones(4)}, None,
              "shape_mismatch", ("targets",))


# ----------------------------------------------------------------------------- all four


@pytest.mark.parametrize("name", ["triplet_margin", "margin_ranking", "cosine_embedding",
                                  "hinge_embedding"])
def test_examples_match_torch(name):
    for ex in get_loss(name).examples:
        inputs = {k: np.asarray(v, dtype=np.float64) for k, v in ex.inputs.items()}
        check_against_torch(name, inputs, dict(ex.params), ex.reduction)


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
        check_against_torch(name, scaled, p, "sum")
