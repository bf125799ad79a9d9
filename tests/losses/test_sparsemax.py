"""sparsemax (binary) and multiclass_sparsemax.

Oracles: optax 0.2.8 golden values with ``jax.grad`` gradients and the projection of
``optax.projections.projection_simplex`` (JAX, float64), recorded by
``tests/goldens/make_sparsemax.py`` into ``tests/goldens/sparsemax.json``; independent references in
torch 2.13.0 ops (the sort-based projection of Martins and Astudillo 2016 and the Fenchel-Young
loss, and sparse_plus), with autograd for gradients.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import array_api_compat.numpy as xnp
import numpy as np
import pytest

from service.losses import LossError, evaluate
from service.losses.sparsemax import sparsemax_projection
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle

GOLDENS = json.loads((Path(__file__).parents[1] / "goldens" / "sparsemax.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _reduce(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _check(name, inputs, reduction, torch_fn):
    value, grads = torch_oracle(torch_fn, inputs, ("predictions",), reduction)
    r = evaluate(name, inputs, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    return r


def _torch_projection(z):
    """Sort-based sparsemax in torch ops (Martins and Astudillo 2016, Algorithm 1)."""
    import torch

    zs, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cs = zs.cumsum(-1)
    support = (1 + k * zs > cs).to(z.dtype)
    kz = support.sum(-1, keepdim=True)
    tau = ((support * zs).sum(-1, keepdim=True) - 1) / kz
    return torch.clamp(z - tau, min=0.0)


def _torch_multiclass(reduction):
    import torch

    def fn(predictions, targets):
        p = _torch_projection(predictions)
        z_y = torch.gather(predictions, -1, targets[..., None])
        # Fenchel-Young: Omega*(z) - z_y with Omega(p) = (|p|^2 - 1)/2 the Gini negentropy
        loss = (p * (predictions - z_y)).sum(-1) + 0.5 * (1.0 - (p * p).sum(-1))
        return _reduce(loss, reduction)
    return fn


def _torch_binary(reduction):
    import torch

    def fn(predictions, targets):
        u = torch.where(targets == 1.0, -predictions, predictions)
        v = torch.where(u <= -1.0, torch.zeros_like(u),
                        torch.where(u >= 1.0, u, (u + 1.0) ** 2 / 4.0))
        return _reduce(v, reduction)
    return fn


# ------------------------------------------------------------------------------------ goldens


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=lambda c: f"{c['loss']}-{c['note'][:20]}")
def test_optax_goldens(case):
    # optax 0.2.8 on JAX (float64): tests/goldens/make_sparsemax.py
    r = evaluate(case["loss"], case["inputs"], reduction="none", want_grad=True)
    assert_close(r.value, case["unreduced"])
    assert_close(r.gradients["predictions"], case["grad_of_sum"])


def test_projection_matches_optax_projection_simplex(xp):
    g = GOLDENS["projection"]
    p = sparsemax_projection(xp, to_xp(xp, np.asarray(g["scores"])))
    assert_close(p, g["sparsemax"], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------ torch references


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (7, 5), (4, 2), (30, 12)])
@pytest.mark.parametrize("scale", [0.3, 1.0, 5.0])
def test_multiclass_sparsemax_matches_torch_reference(scale, shape, reduction):
    rng = _rng("mcs", scale, shape, reduction)
    x = rng.normal(size=shape) * scale
    y = np.asarray(rng.integers(0, shape[-1], size=shape[:-1]), dtype=np.int64)
    _check("multiclass_sparsemax", {"predictions": x, "targets": y}, reduction,
           _torch_multiclass(reduction))


def test_projection_is_on_the_simplex_and_sparse():
    rng = _rng("simplex")
    z = rng.normal(size=(200, 6)) * 2.0
    p = np.asarray(sparsemax_projection(xnp, z))
    assert np.all(p >= 0.0)
    assert_close(p.sum(axis=1), np.ones(200))
    assert np.any(p == 0.0)
    # the projection is the closest point of the simplex: no better feasible point nearby
    q = np.abs(p + rng.normal(size=p.shape) * 1e-3)
    q /= q.sum(axis=1, keepdims=True)
    assert np.all(((q - z) ** 2).sum(axis=1) >= ((p - z) ** 2).sum(axis=1) - 1e-12)


def test_multiclass_sparsemax_zero_when_the_projection_is_one_hot():
    x = np.array([[3.0, 1.0, 0.5], [0.0, 0.5, 2.0], [0.0, 0.5, 0.0]])
    r = _check("multiclass_sparsemax", {"predictions": x, "targets": np.array([0, 2, 1])},
               "none", _torch_multiclass("none"))
    # rows 0 and 1: margin > 1, sparsemax = onehot, loss and gradient exactly 0
    assert np.all(to_np(r.value)[:2] == 0.0)
    assert np.all(to_np(r.gradients["predictions"])[:2] == 0.0)
    assert to_np(r.value)[2] > 0.0


def test_multiclass_sparsemax_gradient_where_the_support_changes():
    # x = (0, 1, 2), y = 2: the margin is exactly 1, where class 1 leaves the support. The loss
    # is C^1, so its gradient p - onehot(y) = 0 there (autograd through the sort-and-clamp
    # projection would return another element of the generalized gradient)
    inputs = {"predictions": np.array([[0.0, 1.0, 2.0]]), "targets": np.array([2])}
    r = evaluate("multiclass_sparsemax", inputs, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert np.all(to_np(r.gradients["predictions"]) == 0.0)
    fd = finite_difference("multiclass_sparsemax", inputs, {}, "sum", "predictions", h=1e-5)
    assert_close(fd, np.zeros((1, 3)), atol=1e-5)


def test_multiclass_sparsemax_ties_and_uniform_rows():
    x = np.array([[0.2, 0.2, 0.2], [1.0, 1.0, -1.0]])
    r = _check("multiclass_sparsemax", {"predictions": x, "targets": np.array([2, 0])}, "none",
               _torch_multiclass("none"))
    assert_close(r.gradients["predictions"], [[1 / 3, 1 / 3, -2 / 3], [-0.5, 0.5, 0.0]])


def test_multiclass_sparsemax_stable_at_scores_of_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 999.5, 1000.0], [1e6, 1e6 + 0.5, -1e6]])
    y = np.array([1, 0, 0])
    r = _check("multiclass_sparsemax", {"predictions": x, "targets": y}, "none",
               _torch_multiclass("none"))
    # row 0: sparsemax = onehot(0): 1000 - (-1000). Row 1: tau = (1999.5 - 1)/2, p = (0, 1/4, 3/4):
    # 1/4 (999.5 + 1000) + 3/4 (2000) + (1 - 1/16 - 9/16)/2
    assert_close(to_np(r.value)[:2], [2000.0, 2000.0625], rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(11,), (4, 3), (2, 3, 2)])
def test_sparsemax_matches_torch_reference(shape, reduction):
    rng = _rng("bsm", shape, reduction)
    x = rng.normal(size=shape) * 1.5
    x.reshape(-1)[:2] = [1.0, -1.0]  # the joins of sparse_plus (its slope is continuous there)
    t = rng.integers(0, 2, size=shape).astype(float)
    _check("sparsemax", {"predictions": x, "targets": t}, reduction, _torch_binary(reduction))


def test_sparsemax_values_and_slopes():
    r = evaluate("sparsemax", {"predictions": [2.0, 0.5, -0.5, -3.0, 0.0, 1000.0, -1000.0],
                               "targets": [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]},
                 reduction="none", want_grad=True)
    # u = -x for y = 1, x for y = 0: u = -2, -0.5, -0.5, 3, 0, 1000, 1000
    assert_close(r.value, [0.0, 0.0625, 0.0625, 3.0, 0.25, 1000.0, 1000.0])
    assert_close(r.gradients["predictions"], [0.0, -0.25, 0.25, -1.0, 0.5, 1.0, -1.0])


def test_sparsemax_is_the_two_class_multiclass_loss():
    # sparse_plus((1 - 2y) x) is the two-class Fenchel-Young sparsemax loss of scores whose
    # difference (class 1 minus class 0) is x: e.g. (1 - x)^2 / 4 for y = 1 and |x| < 1
    rng = _rng("two-class")
    x = rng.normal(size=20) * 2.0
    y = rng.integers(0, 2, size=20)
    b = evaluate("sparsemax", {"predictions": x, "targets": y.astype(float)}, reduction="none")
    scores = np.stack([-x / 2.0, x / 2.0], axis=1)  # class 1 has logit x
    m = evaluate("multiclass_sparsemax", {"predictions": scores, "targets": y},
                 reduction="none")
    assert_close(b.value, m.value)


def test_errors():
    def err(name, inputs):
        with pytest.raises(LossError) as exc:
            evaluate(name, inputs)
        return exc.value

    e = err("sparsemax", {"predictions": [0.5, 1.0], "targets": [1.0, 0.5]})
    assert e.code == "invalid_label" and e.loc == ("targets", 1)
    e = err("sparsemax", {"predictions": [0.5, 1.0], "targets": [[1.0, 0.0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = err("multiclass_sparsemax", {"predictions": [[0.5, 1.0]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = err("multiclass_sparsemax", {"predictions": [[0.5, 1.0]], "targets": [[0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = err("multiclass_sparsemax", {"predictions": [[0.5, 1.0]], "targets": [0.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
