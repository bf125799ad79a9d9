"""cosine_similarity (Keras), ntxent (optax) and circle (Keras).

Oracles: golden values recorded from Keras 3.15.1 (jax backend, float64) and optax 0.2.8 by
``tests/goldens/make_contrastive.py`` (stored in ``tests/goldens/contrastive.json``), and
independent references written here in torch ops (torch 2.13.0, float64) from the libraries'
formulas, whose autograd gradients every analytic gradient is checked against.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

GOLDENS = json.loads((Path(__file__).parents[1] / "goldens" / "contrastive.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]


def _seed(*key: object) -> int:
    return zlib.crc32(repr(key).encode())


def _golden(loss: str, library: str) -> list[dict]:
    return [c for c in GOLDENS["cases"] if c["loss"] == loss and c["library"] == library]


def _raises(name: str, inputs: dict, params: dict | None, code: str, loc: tuple) -> None:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params or {})
    assert exc.value.code == code, exc.value
    assert exc.value.loc == loc, exc.value


def _check_grads(r, grads: dict) -> None:
    """Recorded jax gradients; rows the library gave NaN for are left out ("rows_checked")."""
    rows = grads.get("rows_checked")
    for k, g in grads.items():
        if k == "rows_checked":
            continue
        ours, ref = to_np(r.gradients[k]), np.asarray(g)
        if rows is not None:
            ours, ref = ours[rows], ref[rows]
        assert_close(ours, ref, atol=1e-12 * max(1.0, np.max(np.abs(ref))), err_msg=k)


# ----------------------------------------------------------------------------- references in torch


def _torch_cosine(reduction: str):
    """Keras: -sum(x / max(||x||, 1e-7) * y / max(||y||, 1e-7)) over the last axis."""
    import torch

    def fn(predictions, targets):
        nx = torch.clamp_min(torch.linalg.vector_norm(predictions, dim=-1, keepdim=True), 1e-7)
        ny = torch.clamp_min(torch.linalg.vector_norm(targets, dim=-1, keepdim=True), 1e-7)
        loss = -torch.sum(predictions / nx * (targets / ny), dim=-1)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


def _torch_ntxent_parts(embeddings, targets, temperature):
    """optax's formula per positive pair, literally: -log(e^s_ij / (e^s_ij + sum_neg e^s_ik))."""
    import torch

    n = embeddings.shape[0]
    eps = torch.finfo(embeddings.dtype).eps
    norm = torch.sqrt(torch.clamp_min(torch.sum(embeddings**2, dim=1, keepdim=True), eps))
    u = embeddings / norm
    s = u @ u.T / temperature
    same = targets[:, None] == targets[None, :]
    pos = same & ~torch.eye(n, dtype=torch.bool)
    neg_s = s.masked_fill(same, -torch.inf)
    comb = torch.cat([s[:, :, None], neg_s[:, None, :].expand(n, n, n)], dim=2)
    pair = torch.logsumexp(comb, dim=2) - s
    per_anchor = torch.where(pos, pair, torch.zeros_like(pair)).sum(dim=1)
    return per_anchor, pos.sum()


def _torch_ntxent(reduction: str, temperature: float):
    def fn(embeddings, targets):
        per_anchor, n_pairs = _torch_ntxent_parts(embeddings, targets, temperature)
        return {"none": per_anchor, "mean": per_anchor.sum() / n_pairs,
                "sum": per_anchor.sum()}[reduction]

    return fn


def _torch_circle(reduction: str, gamma: float = 80.0, margin: float = 0.4,
                  remove_diagonal: bool = True):
    """keras.losses.circle transcribed op by op (maximum, masks, logsumexp, softplus)."""
    import torch

    def fn(embeddings, targets):
        n = embeddings.shape[0]
        zero = torch.zeros((n, n), dtype=embeddings.dtype)
        d = torch.maximum(1.0 - embeddings @ embeddings.T, zero)
        pos = targets[:, None] == targets[None, :]
        neg = ~pos
        if remove_diagonal:
            pos = pos & ~torch.eye(n, dtype=torch.bool)
        wp = torch.maximum((margin + d) * pos, zero)
        wn = torch.maximum((1.0 + margin - d) * neg, zero)
        a = -gamma * wp * (margin - d)
        b = gamma * wn * (1.0 - margin - d)
        active = pos.any(dim=1) & neg.any(dim=1)  # the others give softplus(-inf) = 0
        lp = torch.logsumexp(torch.where(pos, a, -torch.inf)[active], dim=1)
        ln = torch.logsumexp(torch.where(neg, b, -torch.inf)[active], dim=1)
        loss = torch.zeros(n, dtype=embeddings.dtype).index_put(
            # softplus as jax's logaddexp(z, 0): F.softplus switches to z above 20 (off by e^-z)
            (torch.nonzero(active)[:, 0],), torch.logaddexp(lp + ln, torch.zeros_like(lp)))
        return {"none": loss, "mean": loss.sum() / active.sum(), "sum": loss.sum()}[reduction]

    return fn


def _unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- cosine_similarity


@pytest.mark.parametrize("case", _golden("cosine_similarity", "keras"), ids=lambda c: c["note"])
def test_cosine_similarity_keras_goldens(case):
    r = evaluate("cosine_similarity", case["inputs"], reduction="none", want_grad=True)
    assert_close(r.value, case["unreduced"], rtol=1e-12, atol=1e-15)
    mean = evaluate("cosine_similarity", case["inputs"], reduction="mean")
    assert_close(mean.value, case["reduced"], rtol=1e-12, atol=1e-15)
    _check_grads(r, case["grad_of_sum"])


def test_cosine_similarity_is_minus_optax_similarity():
    (case,) = _golden("cosine_similarity", "optax")
    r = evaluate("cosine_similarity", case["inputs"], reduction="none")
    assert_close(-to_np(r.value), case["optax_similarity"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (5,), (2, 3, 4), (3, 1)])
def test_cosine_similarity_matches_torch_reference(shape, reduction):
    rng = np.random.default_rng(_seed("cos", shape, reduction))
    inputs = {"predictions": rng.normal(size=shape), "targets": rng.normal(size=shape)}
    value, grads = torch_oracle(_torch_cosine(reduction), inputs, ("predictions",), reduction)
    r = evaluate("cosine_similarity", inputs, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_cosine_similarity_zero_and_tiny_vectors():
    # zero vectors give 0; below the 1e-7 bound the norm is a constant: gradient -y_hat / 1e-7
    x = np.array([[0.0, 0.0, 0.0], [3e-8, 4e-8, 0.0], [1.0, 2.0, 2.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 3.0, 4.0], [0.0, 0.0, 0.0]])
    r = evaluate("cosine_similarity", {"predictions": x, "targets": y}, reduction="sum",
                 want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert_close(g[0], [-1e7, 0.0, 0.0], rtol=1e-14)
    assert_close(g[1], [0.0, -0.6e7, -0.8e7], rtol=1e-14)
    assert_close(g[2], [0.0, 0.0, 0.0])
    ref = evaluate("cosine_similarity", {"predictions": x, "targets": y}, reduction="none")
    assert_close(ref.value, [0.0, -(4e-8 * 3.0) / (1e-7 * 5.0), 0.0], rtol=1e-14)
    value, grads = torch_oracle(_torch_cosine("sum"), {"predictions": x, "targets": y},
                                ("predictions",), "sum")
    assert_close(r.value, value)
    assert_close(g, grads["predictions"], rtol=1e-12)


def test_cosine_similarity_huge_and_scaled_inputs():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    base = evaluate("cosine_similarity", {"predictions": x, "targets": y}, reduction="none",
                    want_grad=True)
    big = evaluate("cosine_similarity", {"predictions": x * 1e200, "targets": y * 1e150},
                   reduction="none", want_grad=True)
    assert_close(big.value, base.value, rtol=1e-13)  # scale-free: no overflow of sum x^2
    assert_close(to_np(big.gradients["predictions"]) * 1e200, base.gradients["predictions"],
                 rtol=1e-12)
    assert np.all(np.abs(to_np(base.value)) <= 1.0)


def test_cosine_similarity_errors():
    _raises("cosine_similarity", {"predictions": np.zeros((2, 3)), "targets": np.zeros((2, 2))},
            None, "shape_mismatch", ("targets",))
    _raises("cosine_similarity", {"predictions": 1.0, "targets": 1.0}, None, "invalid_shape",
            ("predictions",))
    _raises("cosine_similarity", {"predictions": [[1.0, np.nan]], "targets": [[1.0, 0.0]]},
            None, "nonfinite_input", ("predictions", 0, 1))


# ----------------------------------------------------------------------------- ntxent


@pytest.mark.parametrize("case", _golden("ntxent", "optax"), ids=lambda c: c["note"])
def test_ntxent_optax_goldens(case):
    r = evaluate("ntxent", case["inputs"], case["params"], reduction="mean", want_grad=True)
    assert_close(r.value, case["reduced"], rtol=1e-12, atol=1e-15)
    _check_grads(r, case["grad_of_reduced"])


def _ntxent_inputs(rng: np.random.Generator, labels: list[int], d: int) -> dict:
    labels_a = np.array(labels, dtype=np.int64)
    return {"embeddings": rng.normal(size=(len(labels), d)), "targets": labels_a}


NTXENT_LABELS = [[0, 0, 1, 1], [3, 1, 3, 1, 2, 2], [0, 0, 0, 1, 1, 2, 7], [-4, -4, 9]]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("temperature", [0.07, 1.3])
@pytest.mark.parametrize("labels", NTXENT_LABELS, ids=repr)
def test_ntxent_matches_torch_reference(labels, temperature, reduction):
    rng = np.random.default_rng(_seed("ntxent", labels, temperature, reduction))
    inputs = _ntxent_inputs(rng, labels, 3)
    value, grads = torch_oracle(_torch_ntxent(reduction, temperature), inputs, ("embeddings",),
                                reduction)
    r = evaluate("ntxent", inputs, {"temperature": temperature}, reduction=reduction,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["embeddings"], grads["embeddings"])


def test_ntxent_mean_weights_anchors_by_their_positives():
    # anchors 0-2 have 2 positives each, 3-4 one, 5 none: mean = sum / 8 positive pairs
    rng = np.random.default_rng(1)
    inputs = _ntxent_inputs(rng, [0, 0, 0, 1, 1, 2], 4)
    none = to_np(evaluate("ntxent", inputs, reduction="none").value)
    assert none[5] == 0.0
    mean = evaluate("ntxent", inputs, reduction="mean")
    assert_close(mean.value, none.sum() / 8.0, rtol=1e-14)
    sw = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 4.0])
    wmean = evaluate("ntxent", inputs, reduction="mean", sample_weight=sw)
    assert_close(wmean.value, (sw * none).sum() / (sw * [2, 2, 2, 1, 1, 0]).sum(), rtol=1e-14)


def test_ntxent_without_positive_pairs_has_no_mean():
    inputs = {"embeddings": [[1.0, 0.0], [0.0, 1.0]], "targets": [0, 1]}
    assert to_np(evaluate("ntxent", inputs, reduction="sum").value) == 0.0
    _raises("ntxent", inputs, None, "undefined_mean", ("reduction",))


@pytest.mark.parametrize("temperature", [1e-3, 0.07])
def test_ntxent_extreme_similarities_stay_finite(temperature):
    # s = cos / tau up to 1000, embeddings of +-1e3 and +-1e200
    rng = np.random.default_rng(9)
    x = rng.normal(size=(6, 3)) * 1e3
    x[1] = x[0] * 2.0  # an exact positive match: s_01 = 1 / tau
    inputs = {"embeddings": x, "targets": np.array([0, 0, 1, 1, 2, 2])}
    value, grads = torch_oracle(_torch_ntxent("mean", temperature), inputs, ("embeddings",),
                                "mean")
    r = evaluate("ntxent", inputs, {"temperature": temperature}, want_grad=True)
    assert np.isfinite(to_np(r.value)) and np.all(np.isfinite(to_np(r.gradients["embeddings"])))
    assert_close(r.value, value, rtol=1e-9)
    assert_close(r.gradients["embeddings"], grads["embeddings"], rtol=1e-9, atol=1e-15)
    huge = evaluate("ntxent", {**inputs, "embeddings": x * 1e197}, {"temperature": temperature})
    assert_close(huge.value, r.value, rtol=1e-9)


def test_ntxent_zero_embedding_follows_optax_clip():
    # a zero row has cosine 0 with everything (its norm is clipped at sqrt(eps)); the clip is a
    # constant, so its gradient has no radial projection
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3))
    x[2] = 0.0
    inputs = {"embeddings": x, "targets": np.array([0, 0, 1, 1, 1])}
    value, grads = torch_oracle(_torch_ntxent("mean", 0.5), inputs, ("embeddings",), "mean")
    r = evaluate("ntxent", inputs, {"temperature": 0.5}, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["embeddings"], grads["embeddings"], rtol=1e-9)


def test_ntxent_on_array_api_strict(xp):
    rng = np.random.default_rng(2)
    inputs = _ntxent_inputs(rng, [0, 0, 0, 1, 1, 2], 4)
    ref = evaluate("ntxent", inputs, {"temperature": 0.2}, reduction="mean", want_grad=True)
    got = evaluate("ntxent", {k: to_xp(xp, v) for k, v in inputs.items()},
                   {"temperature": 0.2}, reduction="mean", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    assert_close(got.gradients["embeddings"], ref.gradients["embeddings"], rtol=1e-13)


def test_ntxent_errors():
    emb = np.zeros((3, 2))
    _raises("ntxent", {"embeddings": emb, "targets": np.array([0, 1])}, None, "shape_mismatch",
            ("targets",))
    _raises("ntxent", {"embeddings": np.zeros(3), "targets": np.array([0, 1, 1])}, None,
            "invalid_shape", ("embeddings",))
    _raises("ntxent", {"embeddings": emb, "targets": np.zeros((3, 1), dtype=np.int64)}, None,
            "invalid_shape", ("targets",))
    _raises("ntxent", {"embeddings": emb, "targets": np.array([0.0, 1.0, 1.0])}, None,
            "invalid_dtype", ("targets",))
    for t in (0.0, -1.0):
        _raises("ntxent", {"embeddings": emb, "targets": np.array([0, 1, 1])},
                {"temperature": t}, "invalid_param", ("params", "temperature"))


# ----------------------------------------------------------------------------- circle


@pytest.mark.parametrize("case", _golden("circle", "keras"), ids=lambda c: c["note"])
def test_circle_keras_goldens(case):
    r = evaluate("circle", case["inputs"], case["params"], reduction="none", want_grad=True)
    assert_close(r.value, case["unreduced"], rtol=1e-12, atol=1e-13)
    mean = evaluate("circle", case["inputs"], case["params"], reduction="mean")
    assert_close(mean.value, case["reduced"], rtol=1e-12)
    _check_grads(r, case["grad_of_sum"])


CIRCLE_CASES = [
    ([0, 0, 1, 1, 2, 2], {}),
    ([0, 1, 0, 1, 0, 1, 5], {"gamma": 32.0, "margin": 0.25}),
    ([2, 2, 2, 7, 7], {"gamma": 8.0, "margin": -0.1}),
    ([0, 1, 1, 2, 2], {"gamma": 16.0, "remove_diagonal": False}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("labels", "params"), CIRCLE_CASES, ids=repr)
def test_circle_matches_torch_reference(labels, params, reduction):
    rng = np.random.default_rng(_seed("circle", labels, params, reduction))
    inputs = {"embeddings": _unit(rng, (len(labels), 3)), "targets": np.array(labels)}
    value, grads = torch_oracle(_torch_circle(reduction, **params), inputs, ("embeddings",),
                                reduction)
    r = evaluate("circle", inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    # the gradient entries are sums of terms of size ~gamma that cancel: atol relative to the
    # largest entry
    assert_close(r.gradients["embeddings"], grads["embeddings"],
                 atol=1e-12 * np.max(np.abs(grads["embeddings"])))


def test_circle_anchors_without_positives_or_negatives_drop_out_of_the_mean():
    rng = np.random.default_rng(8)
    # anchor 4 has no positive; with labels all equal (below) no anchor has a negative
    inputs = {"embeddings": _unit(rng, (5, 3)), "targets": np.array([0, 0, 1, 1, 2])}
    none = to_np(evaluate("circle", inputs, reduction="none").value)
    assert none[4] == 0.0 and np.all(none[:4] > 0)
    assert_close(evaluate("circle", inputs).value, none[:4].mean(), rtol=1e-14)
    same = {**inputs, "targets": np.zeros(5, dtype=np.int64)}
    assert np.all(to_np(evaluate("circle", same, reduction="none").value) == 0.0)
    _raises("circle", same, None, "undefined_mean", ("reduction",))


def test_circle_kinks_take_half_like_maximum():
    # two identical embeddings: d = max(1 - 1, 0) sits on its kink, where torch.maximum and
    # jnp.maximum split the gradient in halves
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, -0.8]])
    inputs = {"embeddings": x, "targets": np.array([0, 0, 1, 1])}
    value, grads = torch_oracle(_torch_circle("sum", gamma=4.0), inputs, ("embeddings",), "sum")
    r = evaluate("circle", inputs, {"gamma": 4.0}, reduction="sum", want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["embeddings"], grads["embeddings"], rtol=1e-12)


def test_circle_large_gamma_stays_finite():
    rng = np.random.default_rng(12)
    inputs = {"embeddings": _unit(rng, (6, 4)), "targets": np.array([0, 0, 1, 1, 2, 2])}
    params = {"gamma": 1e4}
    value, grads = torch_oracle(_torch_circle("mean", **params), inputs, ("embeddings",), "mean")
    r = evaluate("circle", inputs, params, want_grad=True)
    assert np.isfinite(to_np(r.value)) and np.all(np.isfinite(to_np(r.gradients["embeddings"])))
    assert_close(r.value, value)
    assert_close(r.gradients["embeddings"], grads["embeddings"], rtol=1e-9)


def test_circle_errors():
    emb = _unit(np.random.default_rng(0), (4, 3))
    _raises("circle", {"embeddings": emb, "targets": np.array([0, 1, 1])}, None,
            "shape_mismatch", ("targets",))
    _raises("circle", {"embeddings": emb[None], "targets": np.array([0, 1, 1, 0])}, None,
            "invalid_shape", ("embeddings",))
    _raises("circle", {"embeddings": emb, "targets": np.array([0.5, 1, 1, 0])}, None,
            "invalid_dtype", ("targets",))
    _raises("circle", {"embeddings": emb, "targets": np.array([0, 1, 1, 0])}, {"gamma": 0.0},
            "invalid_param", ("params", "gamma"))
    _raises("circle", {"embeddings": emb, "targets": np.array([0, 1, 1, 0])},
            {"remove_diagonal": "yes"}, "invalid_param", ("params", "remove_diagonal"))
