"""Gradients on request (``wrt``): every loss/input pair beyond the default gradients.

* against PyTorch's autograd (float64, over reductions and shapes) for the losses PyTorch has;
* against central finite differences of the service's own value (sample weights included), for
  every pair, PyTorch's and the others (Keras/optax/scikit-learn losses);
* the predictions' gradient is the same whether or not ``wrt`` also asks for targets (the
  reference runs then, the fused kernels otherwise);
* ``wrt`` naming an input without a gradient is refused at ``("wrt", i)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from service.losses import LOSSES, LossError, accel, evaluate, get_loss

torch = pytest.importorskip("torch")
F = torch.nn.functional


@dataclass(frozen=True)
class Case:
    """One loss with inputs (``make(rng, shape)``), params and PyTorch's function."""

    id: str
    loss: str
    make: Callable[[np.random.Generator, tuple[int, ...]], dict[str, np.ndarray]]
    params: dict[str, Any] = field(default_factory=dict)
    # torch_fn(tensors, reduction) -> loss tensor; None: no PyTorch function (FD only)
    torch_fn: Callable[[dict[str, Any], str], Any] | None = None
    shapes: tuple[tuple[int, ...], ...] = ((4, 3), (5,), (2, 3, 4))
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    # False where a moved target leaves the loss's domain even under lenient validation
    # (probability rows that must sum to 1): checked against the formula in torch instead
    fd: bool = True


def _xy(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": rng.normal(size=shape) * 1.5, "targets": rng.normal(size=shape)}


def _probs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": rng.uniform(0.05, 0.95, size=shape),
            "targets": rng.uniform(0.0, 1.0, size=shape)}


def _logits(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": rng.normal(size=shape) * 2.0,
            "targets": rng.uniform(0.0, 1.0, size=shape)}


def _log_softmax(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    z = rng.normal(size=shape)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _kl(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": _log_softmax(rng, shape), "targets": np.exp(_log_softmax(rng, shape))}


def _kl_log(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": _log_softmax(rng, shape), "targets": _log_softmax(rng, shape)}


def _counts(log_input: bool) -> Callable[[np.random.Generator, tuple[int, ...]],
                                          dict[str, np.ndarray]]:
    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        x = rng.normal(size=shape) if log_input else rng.uniform(0.2, 3.0, size=shape)
        return {"predictions": x, "targets": rng.uniform(0.1, 4.0, size=shape)}
    return make


def _gaussian(var_last: bool) -> Callable[[np.random.Generator, tuple[int, ...]],
                                          dict[str, np.ndarray]]:
    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        vshape = (*shape[:-1], 1) if var_last else shape
        return {"predictions": rng.normal(size=shape), "targets": rng.normal(size=shape),
                "var": rng.uniform(0.3, 2.0, size=vshape)}
    return make


def _signed_counts(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Positive means, observations of both signs (Tweedie powers < 0)."""
    return {"predictions": rng.uniform(0.2, 3.0, size=shape),
            "targets": rng.uniform(0.1, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)}


def _ranking(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"input1": rng.normal(size=shape), "input2": rng.normal(size=shape),
            "targets": rng.choice([-1.0, 1.0], size=shape)}


def _ce_probs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    t = rng.uniform(0.05, 1.0, size=shape)
    axis = 1 if len(shape) > 1 else 0  # the class axis
    return {"predictions": rng.normal(size=shape) * 2.0,
            "targets": t / t.sum(axis=axis, keepdims=True)}


def _pce(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Probabilities (rows not summing to 1, for keras' renormalisation) and float rows."""
    inputs = _ce_probs(rng, shape)
    return {"predictions": rng.uniform(0.05, 0.6, size=shape), "targets": inputs["targets"]}


def _mape(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    y = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return {"predictions": y + rng.normal(size=shape), "targets": y}


def _msle(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": rng.uniform(0.1, 4.0, size=shape),
            "targets": rng.uniform(0.1, 4.0, size=shape)}


def _linear(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    n, d, c = shape
    return {"W": rng.normal(size=(d, c)), "X": rng.normal(size=(n, d)) * 2.0,
            "targets": rng.integers(0, c, size=n), "b": rng.normal(size=c)}


def _linear_torch(ts: dict[str, Any], reduction: str) -> Any:
    return F.cross_entropy(ts["X"] @ ts["W"] + ts["b"], ts["targets"], reduction=reduction)


def _reduced(per_sample: Any, reduction: str) -> Any:
    return {"none": per_sample, "mean": per_sample.mean(), "sum": per_sample.sum()}[reduction]


def _categorical_hinge_torch(ts: dict[str, Any], reduction: str) -> Any:
    """keras.losses.categorical_hinge written in torch."""
    x, t = ts["predictions"], ts["targets"]
    pos = (t * x).sum(-1)
    neg = ((1.0 - t) * x).max(-1).values
    return _reduced(torch.relu(neg - pos + 1.0), reduction)


def _poly1_torch(ts: dict[str, Any], reduction: str, epsilon: float = 1.5) -> Any:
    """optax.losses.poly_loss_cross_entropy written in torch."""
    x, t = ts["predictions"], ts["targets"]
    logp = torch.log_softmax(x, -1)
    return _reduced(-(t * logp).sum(-1) + epsilon * (t * (1.0 - logp.exp())).sum(-1),
                    reduction)


def _pce_torch(convention: str, ls: float) -> Callable[[dict[str, Any], str], Any]:
    """sklearn's log_loss / keras' CategoricalCrossentropy on probabilities, in torch."""
    def fn(ts: dict[str, Any], reduction: str) -> Any:
        p, t = ts["predictions"], ts["targets"]
        t = t * (1.0 - ls) + ls / t.shape[-1]
        if convention == "keras":
            o = (p / p.sum(-1, keepdim=True)).clamp(1e-7, 1.0 - 1e-7)
        else:
            eps = float(np.finfo(np.float64).eps)
            o = p.clamp(eps, 1.0 - eps)
        return _reduced(-(t * o.log()).sum(-1), reduction)
    return fn


def _sigmoid_focal_torch(alpha: float, gamma: float) -> Callable[[dict[str, Any], str], Any]:
    """torchvision.ops.sigmoid_focal_loss, as torchvision writes it."""
    def fn(ts: dict[str, Any], reduction: str) -> Any:
        x, y = ts["predictions"], ts["targets"]
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma)
        if alpha >= 0:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return _reduced(loss, reduction)
    return fn


def _t(name: str, fn: Callable[..., Any], *names: str, **kw: Any) -> Callable[..., Any]:
    """``fn(*tensors[names], reduction=r, **kw)``; list-valued kw become tensors."""
    def call(ts: dict[str, Any], reduction: str) -> Any:
        extra = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v
                 for k, v in kw.items()}
        return fn(*(ts[n] for n in names), reduction=reduction, **extra)
    call.__name__ = name
    return call


PT = ("predictions", "targets")
W3 = [0.5, 1.0, 2.0]

TORCH_CASES: tuple[Case, ...] = (
    Case("mse", "mse", _xy, torch_fn=_t("mse", F.mse_loss, *PT)),
    Case("l1", "l1", _xy, torch_fn=_t("l1", F.l1_loss, *PT)),
    Case("huber", "huber", _xy, {"delta": 0.7},
         torch_fn=_t("huber", F.huber_loss, *PT, delta=0.7)),
    Case("smooth_l1", "smooth_l1", _xy, {"beta": 0.6},
         torch_fn=_t("smooth_l1", F.smooth_l1_loss, *PT, beta=0.6)),
    Case("smooth_l1-beta0", "smooth_l1", _xy, {"beta": 0.0},
         torch_fn=_t("smooth_l1", F.smooth_l1_loss, *PT, beta=0.0)),
    Case("bce", "binary_cross_entropy", _probs, torch_fn=_t("bce", F.binary_cross_entropy, *PT)),
    Case("bce-weight", "binary_cross_entropy", _probs, {"weight": W3},
         torch_fn=_t("bce", F.binary_cross_entropy, *PT, weight=W3), shapes=((4, 3), (2, 5, 3))),
    Case("bce_logits", "binary_cross_entropy_with_logits", _logits,
         torch_fn=_t("bcel", F.binary_cross_entropy_with_logits, *PT)),
    Case("bce_logits-weights", "binary_cross_entropy_with_logits", _logits,
         {"weight": W3, "pos_weight": [3.0, 0.5, 1.5]},
         torch_fn=_t("bcel", F.binary_cross_entropy_with_logits, *PT, weight=W3,
                     pos_weight=[3.0, 0.5, 1.5]), shapes=((4, 3), (2, 5, 3))),
    Case("multilabel_soft_margin", "multilabel_soft_margin", _logits, {"weight": W3},
         torch_fn=_t("mlsm", F.multilabel_soft_margin_loss, *PT, weight=W3),
         shapes=((4, 3), (6, 3))),
    Case("kl_div", "kl_div", _kl, torch_fn=_t("kl", F.kl_div, *PT),
         reductions=("none", "mean", "sum", "batchmean")),
    Case("kl_div-log_target", "kl_div", _kl_log, {"log_target": True},
         torch_fn=_t("kl", F.kl_div, *PT, log_target=True),
         reductions=("none", "mean", "sum", "batchmean")),
    Case("poisson_nll", "poisson_nll", _counts(True), torch_fn=_t("pnll", F.poisson_nll_loss, *PT)),
    Case("poisson_nll-full", "poisson_nll", _counts(True), {"full": True},
         torch_fn=_t("pnll", F.poisson_nll_loss, *PT, full=True)),
    Case("poisson_nll-rates", "poisson_nll", _counts(False), {"log_input": False, "eps": 1e-3},
         torch_fn=_t("pnll", F.poisson_nll_loss, *PT, log_input=False, eps=1e-3)),
    Case("poisson", "poisson", _counts(False),
         torch_fn=_t("pnll", F.poisson_nll_loss, *PT, log_input=False, eps=1e-7)),
    Case("gaussian_nll", "gaussian_nll", _gaussian(False),
         torch_fn=_t("gnll", F.gaussian_nll_loss, "predictions", "targets", "var")),
    Case("gaussian_nll-shared-full", "gaussian_nll", _gaussian(True), {"full": True},
         torch_fn=_t("gnll", F.gaussian_nll_loss, "predictions", "targets", "var", full=True),
         shapes=((4, 3), (2, 3, 4))),
    Case("margin_ranking", "margin_ranking", _ranking, {"margin": 0.3},
         torch_fn=_t("mr", F.margin_ranking_loss, "input1", "input2", "targets", margin=0.3),
         shapes=((7,),)),
    Case("cross_entropy-probs", "cross_entropy", _ce_probs, {"weight": W3,
                                                             "label_smoothing": 0.2},
         torch_fn=_t("ce", F.cross_entropy, *PT, weight=W3, label_smoothing=0.2),
         shapes=((4, 3), (2, 3, 5))),
    Case("cross_entropy-probs-plain", "cross_entropy", _ce_probs,
         torch_fn=_t("ce", F.cross_entropy, *PT), shapes=((4, 3),)),
    # torch.nn.functional.linear_cross_entropy is cross_entropy(X W + b)
    Case("linear_softmax", "linear_softmax", _linear, torch_fn=_linear_torch,
         shapes=((5, 4, 3), (1, 2, 6))),
)

# losses PyTorch does not have (or conventions it does not have): finite differences only
OTHER_CASES: tuple[Case, ...] = (
    Case("log_cosh", "log_cosh", _xy),
    Case("half_mse", "half_mse", _xy),
    Case("mape", "mape", _mape),
    Case("mape-keras", "mape", _mape, {"convention": "keras"}),
    Case("msle", "msle", _msle),
    Case("msle-keras", "msle", _msle, {"convention": "keras"}),
    Case("pinball", "pinball", _xy, {"alpha": 0.3}),
    Case("mse-keras", "mse", _xy, {"convention": "keras"}),
    Case("bce-keras", "binary_cross_entropy", _probs, {"convention": "keras",
                                                       "label_smoothing": 0.1}),
    Case("bce-sklearn", "binary_cross_entropy", _probs, {"convention": "sklearn"}),
    Case("kl_div-optax", "kl_div", _kl, {"convention": "optax"}),
    Case("kl_div-optax-log", "kl_div", _kl_log, {"convention": "optax", "log_target": True}),
    Case("kl_div_with_log_targets", "kl_div_with_log_targets", _kl_log),
    Case("likelihood", "likelihood", _probs),
    Case("generalized_kl", "generalized_kl", _counts(True), shapes=((4, 3), (5,))),
    Case("tweedie-0", "tweedie_deviance", _counts(False), {"power": 0.0}),
    Case("tweedie-neg", "tweedie_deviance", _signed_counts, {"power": -0.5}),
    Case("tweedie-1.5", "tweedie_deviance", _counts(False), {"power": 1.5}),
    Case("tweedie-3", "tweedie_deviance", _counts(False), {"power": 3.0}),
    Case("poisson_deviance", "poisson_deviance", _counts(False)),
    Case("gamma_deviance", "gamma_deviance", _counts(False)),
    Case("dice", "dice", _probs, shapes=((4, 3), (2, 3, 4))),
    Case("tversky", "tversky", _probs, {"alpha": 0.7, "beta": 0.2}, shapes=((4, 3), (2, 3, 4))),
    Case("ranking_softmax", "ranking_softmax", _counts(True), shapes=((4, 3), (5,))),
    Case("cosine_similarity", "cosine_similarity", _xy, shapes=((4, 3), (5,))),
    # targets on the simplex: their formulas written in torch, no finite differences
    Case("categorical_hinge", "categorical_hinge", _ce_probs, torch_fn=_categorical_hinge_torch,
         shapes=((4, 3), (5,)), fd=False),
    Case("poly1_cross_entropy", "poly1_cross_entropy", _ce_probs, {"epsilon": 1.5},
         torch_fn=_poly1_torch, shapes=((4, 3), (5,)), fd=False),
    Case("probability_cross_entropy", "probability_cross_entropy", _pce,
         {"label_smoothing": 0.1}, torch_fn=_pce_torch("sklearn", 0.1), shapes=((4, 3), (5,)),
         fd=False),
    Case("probability_cross_entropy-keras", "probability_cross_entropy", _pce,
         {"convention": "keras"}, torch_fn=_pce_torch("keras", 0.0), shapes=((4, 3), (5,)),
         fd=False),
    Case("sigmoid_focal", "sigmoid_focal", _logits, torch_fn=_sigmoid_focal_torch(0.25, 2.0)),
    Case("sigmoid_focal-gamma", "sigmoid_focal", _logits, {"alpha": 0.6, "gamma": 0.5},
         torch_fn=_sigmoid_focal_torch(0.6, 0.5)),
    Case("sigmoid_focal-optax", "sigmoid_focal", _logits, {"convention": "optax", "gamma": 1.0},
         torch_fn=_sigmoid_focal_torch(-1.0, 1.0)),
    Case("linear_softmax-reg", "linear_softmax", _linear, {"reg": 0.3}, shapes=((5, 4, 3),)),
    Case("linear_svm", "linear_svm", _linear, {"reg": 0.3}, shapes=((5, 4, 3),)),
)

ALL_CASES = TORCH_CASES + OTHER_CASES


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
        inputs = _ce_probs(rng, (n, k))
    elif name == "binary_cross_entropy_with_logits":
        inputs = _logits(rng, (n, k))
    else:
        inputs = _xy(rng, (n, k))
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
