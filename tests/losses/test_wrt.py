"""Gradients on request (``wrt``): every loss/input pair beyond the default gradients.

* against PyTorch's autograd (float64, over reductions and shapes) for the losses PyTorch has;
* against central finite differences of the service's own value (sample weights included), for
  every pair, PyTorch's and the others (Keras/optax/scikit-learn losses);
* the predictions' gradient is the same whether or not ``wrt`` also asks for targets (the
  reference runs then, the fused kernels otherwise);
* ``wrt`` naming an input without a gradient is refused at ``("wrt", i)``.

The cases, one per loss/input pair: wrt_cases.py.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from service.losses import LOSSES, LossError, accel, evaluate, get_loss
from tests.losses.wrt_cases import ALL_CASES, TORCH_CASES, Case, ce_probs, logits, xy

torch = pytest.importorskip("torch")


def _extra(loss: str) -> list[str]:
    spec = get_loss(loss)
    return [n for n in spec.wrt_inputs if n not in spec.differentiable_inputs]


def test_every_requestable_pair_is_tested():
    """Each input with a gradient on request is exercised by a case here (a new one is added
    with its test)."""
    tested = {(get_loss(c.loss).name, n) for c in ALL_CASES for n in _extra(c.loss)}
    declared = {(s.name, n) for s in LOSSES.values() for n in s.wrt_inputs
                if n not in s.differentiable_inputs}
    assert declared == tested


def _torch_grads(case: Case, inputs: dict[str, np.ndarray], reduction: str,
                 wrt: list[str]) -> dict[str, np.ndarray]:
    assert case.torch_fn is not None
    ts = {k: torch.tensor(v) if v.dtype.kind == "i" else
          torch.tensor(v, dtype=torch.float64, requires_grad=k in wrt)
          for k, v in inputs.items()}
    with warnings.catch_warnings():  # kl_div's mean: "will be changed"
        warnings.simplefilter("ignore")
        out = case.torch_fn(ts, reduction)
    grads = torch.autograd.grad(out.sum(), [ts[n] for n in wrt])
    return {n: g.numpy() for n, g in zip(wrt, grads, strict=True)}


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.torch_fn is not None],
                         ids=lambda c: c.id)
def test_against_torch_autograd(case):
    """PyTorch's own loss, or (cases of losses it lacks) the loss's formula written in torch."""
    rng = np.random.default_rng(19)
    spec = get_loss(case.loss)
    wrt = list(spec.wrt_inputs)
    for shape in case.shapes:
        inputs = case.make(rng, shape)
        for reduction in case.reductions:
            r = evaluate(case.loss, inputs, case.params, reduction=reduction, want_grad=True,
                         wrt=wrt)
            assert list(r.gradients) == wrt
            expected = _torch_grads(case, inputs, reduction, wrt)
            for n in wrt:
                np.testing.assert_allclose(r.gradients[n], expected[n], rtol=1e-10,
                                           atol=1e-12, err_msg=f"{case.id} {shape} "
                                           f"{reduction} d/d{n}")


def _fd(loss: str, inputs: dict[str, np.ndarray], params: dict[str, Any], reduction: str,
        sw: np.ndarray | None, name: str, h: float = 1e-6) -> np.ndarray:
    """Central differences of sum(value) with respect to ``inputs[name]`` (lenient: a moved
    sign label or probability row is a warning, not a refusal)."""
    base = inputs[name]
    g = np.empty_like(base)
    for idx in np.ndindex(base.shape):
        vals = []
        for step in (h, -h):
            moved = base.copy()
            moved[idx] += step
            v = evaluate(loss, {**inputs, name: moved}, params, reduction=reduction,
                         sample_weight=sw, want_per_sample=False, validate="lenient").value
            vals.append(float(np.sum(v)))
        g[idx] = (vals[0] - vals[1]) / (2 * h)
    return g


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.fd], ids=lambda c: c.id)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_against_finite_differences_with_sample_weights(case, reduction):
    rng = np.random.default_rng(7)
    shape = case.shapes[0]
    inputs = case.make(rng, shape)
    r0 = evaluate(case.loss, inputs, case.params, reduction="none")
    n = np.asarray(r0.value).shape[0] if np.ndim(r0.value) else 1
    sw = rng.uniform(0.2, 2.0, size=n) if np.ndim(r0.value) else None
    wrt = _extra(case.loss)
    r = evaluate(case.loss, inputs, case.params, reduction=reduction, sample_weight=sw,
                 want_grad=True, wrt=wrt)
    for name in wrt:
        expected = _fd(case.loss, inputs, case.params, reduction, sw, name)
        np.testing.assert_allclose(r.gradients[name], expected, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case.id} {reduction} d/d{name}")


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_sample_weight_scales_the_targets_gradient_as_the_predictions(case):
    """``sum`` with sample weights: each sample's gradient rows are multiplied by its weight,
    for every input, exactly as for the default ones."""
    rng = np.random.default_rng(3)
    inputs = case.make(rng, case.shapes[0])
    spec = get_loss(case.loss)
    r0 = evaluate(case.loss, inputs, case.params, reduction="none")
    if np.ndim(r0.value) == 0 or any(np.shape(inputs[n])[:1] != np.shape(r0.value)[:1]
                                     for n in spec.wrt_inputs):
        pytest.skip("no per-sample axis shared by the inputs")
    n = np.asarray(r0.value).shape[0]
    sw = rng.uniform(0.2, 2.0, size=n)
    wrt = list(spec.wrt_inputs)
    plain = evaluate(case.loss, inputs, case.params, reduction="sum", want_grad=True, wrt=wrt)
    weighted = evaluate(case.loss, inputs, case.params, reduction="sum", sample_weight=sw,
                        want_grad=True, wrt=wrt)
    for name in wrt:
        g = plain.gradients[name]
        np.testing.assert_allclose(weighted.gradients[name],
                                   g * sw.reshape((n,) + (1,) * (g.ndim - 1)), rtol=1e-13)


@pytest.mark.parametrize("name", sorted({get_loss(c.loss).name for c in ALL_CASES}))
def test_default_gradients_unchanged_and_predictions_identical_with_wrt(name):
    """Without wrt: the differentiable inputs, as before. With wrt asking for more: the same
    default gradients to the last bit (the reference runs then), in wrt's order."""
    spec = get_loss(name)
    rng = np.random.default_rng(5)
    case = next(c for c in ALL_CASES if get_loss(c.loss).name == name)
    inputs = case.make(rng, case.shapes[0])
    default = evaluate(name, inputs, case.params, want_grad=True)
    assert list(default.gradients) == [n for n in spec.differentiable_inputs if n in inputs]
    wrt = list(reversed(spec.wrt_inputs))
    both = evaluate(name, inputs, case.params, want_grad=True, wrt=wrt)
    assert list(both.gradients) == wrt
    for n in spec.differentiable_inputs:
        np.testing.assert_array_equal(both.gradients[n], default.gradients[n])
    assert both.value == default.value


@pytest.mark.skipif(not accel.AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("name", ["mse", "binary_cross_entropy_with_logits", "cross_entropy",
                                  "huber", "l1"])
def test_accelerated_and_reference_predictions_gradient_agree_with_wrt(name):
    """Large inputs: without wrt the fused kernel runs; wrt with targets takes the reference.
    The predictions' gradient is the same either way (to rounding), and the reference's is the
    reference's (bit for bit)."""
    spec = get_loss(name)
    rng = np.random.default_rng(11)
    n, k = 20_000, 8
    if name == "cross_entropy":
        inputs = ce_probs(rng, (n, k))
    elif name == "binary_cross_entropy_with_logits":
        inputs = logits(rng, (n, k))
    else:
        inputs = xy(rng, (n, k))
    fused = evaluate(name, inputs, want_grad=True)
    with_targets = evaluate(name, inputs, want_grad=True, wrt=["predictions", "targets"])
    reference = evaluate(name, inputs, want_grad=True, acceleration=accel.OFF)
    np.testing.assert_array_equal(with_targets.gradients["predictions"],
                                  reference.gradients["predictions"])
    np.testing.assert_allclose(with_targets.gradients["predictions"],
                               fused.gradients["predictions"], rtol=1e-12, atol=1e-18)
    only = evaluate(name, inputs, want_grad=True, wrt=["predictions"])
    assert list(only.gradients) == ["predictions"]
    np.testing.assert_array_equal(only.gradients["predictions"], fused.gradients["predictions"])
    assert spec.wrt_inputs == ("predictions", "targets")


def _refused(name: str, inputs: dict[str, Any], wrt: list[Any], **kw: Any) -> LossError:
    with pytest.raises(LossError) as info:
        evaluate(name, inputs, want_grad=True, wrt=wrt, **kw)
    return info.value


def test_refusals_are_located_at_wrt():
    e = _refused("nll", {"predictions": [[-0.5, -1.0]], "targets": [1]},
                 ["predictions", "targets"])
    assert e.code == "not_differentiable" and e.loc == ("wrt", 1)
    assert "wrt may name: predictions" in str(e)
    # cross_entropy: probability targets have a gradient, integer class indices none
    e = _refused("cross_entropy", {"predictions": [[0.5, 1.0]], "targets": [1]}, ["targets"])
    assert e.code == "not_differentiable" and e.loc == ("wrt", 0)
    assert "integer class indices" in str(e)
    e = _refused("mse", {"predictions": [1.0], "targets": [0.0]}, ["predictions", "nope"])
    assert e.code == "unknown_input" and e.loc == ("wrt", 1)
    e = _refused("mse", {"predictions": [1.0], "targets": [0.0]}, [])
    assert e.loc == ("wrt",)
    e = _refused("soft_margin", {"predictions": [1.0], "targets": [1.0]}, ["targets"])
    assert e.code == "not_differentiable" and e.loc == ("wrt", 0)
    # a convention without the targets' gradient
    e = _refused("kl_div", {"predictions": [[0.5, 0.5]], "targets": [[0.4, 0.6]]},
                 ["targets"], params={"convention": "keras"})
    assert e.code == "not_differentiable" and e.loc == ("wrt", 0)
    e = _refused("sigmoid_focal", {"predictions": [0.5], "targets": [1.0]}, ["targets"],
                 params={"convention": "keras"})
    assert e.code == "not_differentiable" and "not with these parameters" in str(e)
    # integer one-hot rows (cast for the loss) are integers: no gradient
    e = _refused("cross_entropy", {"predictions": [[0.5, 1.0]], "targets": [[0, 1]]},
                 ["targets"])
    assert e.code == "not_differentiable" and "integers" in str(e)


def test_wrt_repeated_names_once_and_names_are_checked_without_a_gradient():
    r = evaluate("mse", {"predictions": [1.0], "targets": [0.0]}, want_grad=True,
                 wrt=["targets", "targets"])
    assert list(r.gradients) == ["targets"] and r.gradients["targets"][0] == -2.0
    with pytest.raises(LossError):
        evaluate("mse", {"predictions": [1.0], "targets": [0.0]}, wrt=["nope"])
