"""Weights that broadcast like PyTorch's weight tensors (issue 19, item 1): ``weight`` of
binary_cross_entropy, binary_cross_entropy_with_logits and multilabel_soft_margin and
``pos_weight`` of the logits loss as nested lists of shapes (N, C), (1, C), (N, 1) against torch
2.13.0 in float64 (value for every reduction, per-sample values, gradients of predictions and, on
request, targets); a shape that does not broadcast to the input's shape unchanged is refused at
``("params", name)`` with both shapes, as torch refuses it; multi_margin keeps torch's rule (one
weight per class, a 1-D list of length C)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, accel, evaluate

N, C = 5, 5
SHAPES = [(N, C), (1, C), (N, 1), (C,), (1,), ()]
REDUCTIONS = ["none", "mean", "sum"]
# service loss, torch function name, the weight parameters it takes
LOSSES = [("binary_cross_entropy", "binary_cross_entropy", ("weight",)),
          ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
           ("weight", "pos_weight")),
          ("multilabel_soft_margin", "multilabel_soft_margin_loss", ("weight",))]


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _inputs(loss: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(0.05, 0.95, (N, C)) if loss == "binary_cross_entropy" else \
        rng.normal(size=(N, C))
    return x, rng.uniform(0.0, 1.0, (N, C))


def _param(a: np.ndarray) -> float | list:
    return float(a) if a.ndim == 0 else a.tolist()


def _torch_result(fn_name: str, x: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray],
                  reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    kw = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()}
    out = getattr(torch.nn.functional, fn_name)(xt, yt, reduction=reduction, **kw)
    gx, gy = torch.autograd.grad(out.sum(), (xt, yt))
    return out.detach().numpy(), gx.numpy(), gy.numpy()


def _per_sample(out: np.ndarray) -> np.ndarray:
    return out.reshape(out.shape[0], -1).mean(axis=1)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", LOSSES, ids=lambda c: c[0])
def test_broadcast_weights_match_torch(case, shape, reduction) -> None:
    loss, fn_name, names = case
    rng = _rng(loss, shape, reduction)
    x, y = _inputs(loss, rng)
    for chosen in [(n,) for n in names] + ([names] if len(names) > 1 else []):
        arrays = {n: rng.uniform(0.2, 2.0, shape) for n in chosen}
        value, gx, gy = _torch_result(fn_name, x, y, arrays, reduction)
        for acceleration in (accel.OFF, accel.Acceleration()):
            r = evaluate(loss, {"predictions": x, "targets": y},
                         {n: _param(a) for n, a in arrays.items()}, reduction=reduction,
                         want_grad=True, wrt=["predictions", "targets"],
                         acceleration=acceleration)
            np.testing.assert_allclose(np.asarray(r.value), value, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(np.asarray(r.gradients["predictions"]), gx, rtol=1e-10,
                                       atol=1e-12)
            np.testing.assert_allclose(np.asarray(r.gradients["targets"]), gy, rtol=1e-10,
                                       atol=1e-12)
            if reduction == "none":
                np.testing.assert_allclose(np.asarray(r.per_sample), _per_sample(value),
                                           rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", LOSSES, ids=lambda c: c[0])
@pytest.mark.parametrize("shape", [(3,), (N, 3), (2, C), (1, N, C), (N, C, 1)], ids=str)
def test_a_weight_that_does_not_broadcast_is_refused_with_both_shapes(case, shape) -> None:
    loss, _, names = case
    x, y = _inputs(loss, _rng(loss))
    for name in names:
        with pytest.raises(LossError) as info:
            evaluate(loss, {"predictions": x, "targets": y}, {name: np.ones(shape).tolist()})
        assert info.value.code == "invalid_param"
        assert info.value.loc == ("params", name)
        assert str(shape).replace(" ", "") in info.value.message.replace(" ", "") or \
            "x".join(map(str, shape)) in info.value.message
        assert f"({N}, {C})" in info.value.message.replace(",)", ")") or \
            f"{N}x{C}" in info.value.message or f"[{N}, {C}]" in info.value.message


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(1, N, C), (3,), (N, 3)], ids=str)
def test_torch_refuses_the_same_shapes_for_bce(shape) -> None:
    torch = pytest.importorskip("torch")
    x = torch.full((N, C), 0.5, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(x, x, weight=torch.ones(shape,
                                                                          dtype=torch.float64))


def test_a_ragged_or_non_numeric_weight_is_located() -> None:
    x, y = _inputs("binary_cross_entropy_with_logits", _rng("ragged"))
    inputs = {"predictions": x, "targets": y}
    with pytest.raises(LossError) as info:
        evaluate("binary_cross_entropy_with_logits", inputs, {"weight": [[1.0, 2.0], [1.0]]})
    assert info.value.code == "invalid_param" and info.value.loc == ("params", "weight")
    with pytest.raises(LossError) as info:
        evaluate("binary_cross_entropy_with_logits", inputs, {"pos_weight": [[1.0, "a"]]})
    assert info.value.loc == ("params", "pos_weight", 0, 1)


def test_a_negative_nested_weight_is_a_located_warning() -> None:
    x, y = _inputs("binary_cross_entropy_with_logits", _rng("negative"))
    w = np.ones((N, C))
    w[1, 2] = -1.0
    inputs = {"predictions": x, "targets": y}
    r = evaluate("binary_cross_entropy_with_logits", inputs, {"weight": w.tolist()},
                 validate="lenient")
    assert [(w.code, w.loc) for w in r.warnings] == [("invalid_param", ("params", "weight", 1, 2))]
    with pytest.raises(LossError) as info:
        evaluate("binary_cross_entropy_with_logits", inputs, {"weight": w.tolist()},
                 validate="strict")
    assert info.value.loc == ("params", "weight", 1, 2)


def test_a_scalar_input_takes_a_length_one_weight_as_before() -> None:
    r = evaluate("binary_cross_entropy", {"predictions": 0.3, "targets": 1.0}, {"weight": [2.0]})
    assert np.isclose(float(r.value), -2.0 * np.log(0.3))


@pytest.mark.torch
@pytest.mark.parametrize("weight", [2.0, [[1.0, 2.0, 3.0]], [1.0, 2.0]], ids=str)
def test_multi_margin_takes_one_weight_per_class_only_as_torch(weight) -> None:
    torch = pytest.importorskip("torch")
    x, t = np.random.default_rng(0).normal(size=(4, 3)), np.array([0, 1, 2, 1])
    with pytest.raises((RuntimeError, ValueError)):
        torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor(t),
                                              weight=torch.tensor(weight, dtype=torch.float64))
    with pytest.raises(LossError) as info:
        evaluate("multi_margin", {"predictions": x, "targets": t}, {"weight": weight})
    assert info.value.code == "invalid_param" and info.value.loc[:2] == ("params", "weight")
