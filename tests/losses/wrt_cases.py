"""The cases of the ``wrt`` tests (test_wrt.py): every loss/input pair with a gradient on
request, each with its inputs' maker, its params and, where PyTorch has the loss (or its formula
is written here in torch), PyTorch's function; TORCH_CASES are PyTorch's losses, OTHER_CASES the
others (finite differences only, or their formulas in torch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

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


def xy(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": rng.normal(size=shape) * 1.5, "targets": rng.normal(size=shape)}


def _probs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"predictions": rng.uniform(0.05, 0.95, size=shape),
            "targets": rng.uniform(0.0, 1.0, size=shape)}


def logits(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
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


def ce_probs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    t = rng.uniform(0.05, 1.0, size=shape)
    axis = 1 if len(shape) > 1 else 0  # the class axis
    return {"predictions": rng.normal(size=shape) * 2.0,
            "targets": t / t.sum(axis=axis, keepdims=True)}


def _pce(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Probabilities (rows not summing to 1, for keras' renormalisation) and float rows."""
    inputs = ce_probs(rng, shape)
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
    Case("mse", "mse", xy, torch_fn=_t("mse", F.mse_loss, *PT)),
    Case("l1", "l1", xy, torch_fn=_t("l1", F.l1_loss, *PT)),
    Case("huber", "huber", xy, {"delta": 0.7},
         torch_fn=_t("huber", F.huber_loss, *PT, delta=0.7)),
    Case("smooth_l1", "smooth_l1", xy, {"beta": 0.6},
         torch_fn=_t("smooth_l1", F.smooth_l1_loss, *PT, beta=0.6)),
    Case("smooth_l1-beta0", "smooth_l1", xy, {"beta": 0.0},
         torch_fn=_t("smooth_l1", F.smooth_l1_loss, *PT, beta=0.0)),
    Case("bce", "binary_cross_entropy", _probs, torch_fn=_t("bce", F.binary_cross_entropy, *PT)),
    Case("bce-weight", "binary_cross_entropy", _probs, {"weight": W3},
         torch_fn=_t("bce", F.binary_cross_entropy, *PT, weight=W3), shapes=((4, 3), (2, 5, 3))),
    Case("bce_logits", "binary_cross_entropy_with_logits", logits,
         torch_fn=_t("bcel", F.binary_cross_entropy_with_logits, *PT)),
    Case("bce_logits-weights", "binary_cross_entropy_with_logits", logits,
         {"weight": W3, "pos_weight": [3.0, 0.5, 1.5]},
         torch_fn=_t("bcel", F.binary_cross_entropy_with_logits, *PT, weight=W3,
                     pos_weight=[3.0, 0.5, 1.5]), shapes=((4, 3), (2, 5, 3))),
    Case("multilabel_soft_margin", "multilabel_soft_margin", logits, {"weight": W3},
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
    Case("cross_entropy-probs", "cross_entropy", ce_probs, {"weight": W3,
                                                             "label_smoothing": 0.2},
         torch_fn=_t("ce", F.cross_entropy, *PT, weight=W3, label_smoothing=0.2),
         shapes=((4, 3), (2, 3, 5))),
    Case("cross_entropy-probs-plain", "cross_entropy", ce_probs,
         torch_fn=_t("ce", F.cross_entropy, *PT), shapes=((4, 3),)),
    # torch.nn.functional.linear_cross_entropy is cross_entropy(X W + b)
    Case("linear_softmax", "linear_softmax", _linear, torch_fn=_linear_torch,
         shapes=((5, 4, 3), (1, 2, 6))),
)


# losses PyTorch does not have (or conventions it does not have): finite differences only
OTHER_CASES: tuple[Case, ...] = (
    Case("log_cosh", "log_cosh", xy),
    Case("half_mse", "half_mse", xy),
    Case("mape", "mape", _mape),
    Case("mape-keras", "mape", _mape, {"convention": "keras"}),
    Case("msle", "msle", _msle),
    Case("msle-keras", "msle", _msle, {"convention": "keras"}),
    Case("pinball", "pinball", xy, {"alpha": 0.3}),
    Case("mse-keras", "mse", xy, {"convention": "keras"}),
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
    Case("cosine_similarity", "cosine_similarity", xy, shapes=((4, 3), (5,))),
    # targets on the simplex: their formulas written in torch, no finite differences
    Case("categorical_hinge", "categorical_hinge", ce_probs, torch_fn=_categorical_hinge_torch,
         shapes=((4, 3), (5,)), fd=False),
    Case("poly1_cross_entropy", "poly1_cross_entropy", ce_probs, {"epsilon": 1.5},
         torch_fn=_poly1_torch, shapes=((4, 3), (5,)), fd=False),
    Case("probability_cross_entropy", "probability_cross_entropy", _pce,
         {"label_smoothing": 0.1}, torch_fn=_pce_torch("sklearn", 0.1), shapes=((4, 3), (5,)),
         fd=False),
    Case("probability_cross_entropy-keras", "probability_cross_entropy", _pce,
         {"convention": "keras"}, torch_fn=_pce_torch("keras", 0.0), shapes=((4, 3), (5,)),
         fd=False),
    Case("sigmoid_focal", "sigmoid_focal", logits, torch_fn=_sigmoid_focal_torch(0.25, 2.0)),
    Case("sigmoid_focal-gamma", "sigmoid_focal", logits, {"alpha": 0.6, "gamma": 0.5},
         torch_fn=_sigmoid_focal_torch(0.6, 0.5)),
    Case("sigmoid_focal-optax", "sigmoid_focal", logits, {"convention": "optax", "gamma": 1.0},
         torch_fn=_sigmoid_focal_torch(-1.0, 1.0)),
    Case("linear_softmax-reg", "linear_softmax", _linear, {"reg": 0.3}, shapes=((5, 4, 3),)),
    Case("linear_svm", "linear_svm", _linear, {"reg": 0.3}, shapes=((5, 4, 3),)),
)


ALL_CASES = TORCH_CASES + OTHER_CASES
