"""Binary losses against the PyTorch oracle (torch 2.13.0, float64), references written here with
torch ops where PyTorch has no equivalent (hinge, squared_hinge, sigmoid_focal, likelihood), the
seed worked examples, stability at logits of +-1000, edge cases and every error we raise."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle

ELEMENTWISE_SHAPES = [(), (7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]


def _torch():
    """PyTorch (the oracle), or a clean skip where it is not installed."""
    return pytest.importorskip("torch")


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _soft_labels(rng, shape) -> np.ndarray:
    y = rng.uniform(0.0, 1.0, size=shape)
    hard = rng.uniform(size=shape) < 0.5
    return np.where(hard, np.round(y), y)


def _tensor_or_none(value):
    torch = _torch()

    if value is None:
        return None
    return torch.as_tensor(value, dtype=torch.float64)


def _check_against(name, params, inputs, reference, reduction, rtol=1e-10):
    value, grads = torch_oracle(reference, inputs, ("predictions",), reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value, rtol=rtol)
    assert to_np(r.gradients["predictions"]).shape == np.shape(inputs["predictions"])
    assert_close(r.gradients["predictions"], grads["predictions"], rtol=rtol)
    return r


def _weight_for(kind: str | None, shape: tuple[int, ...], rng):
    """A weight param: None, a scalar, a length-1 list or a last-axis list."""
    if kind is None:
        return None
    if kind == "scalar":
        return float(rng.uniform(0.5, 2.0))
    if kind == "one":
        return [float(rng.uniform(0.5, 2.0))]
    return [float(v) for v in rng.uniform(0.2, 3.0, size=shape[-1] if shape else 1)]


# --------------------------------------------------------------------------------------------
# PyTorch oracle: binary_cross_entropy, binary_cross_entropy_with_logits, soft_margin,
# multilabel_soft_margin
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("weight_kind", [None, "scalar", "one", "last"])
def test_bce_matches_torch(weight_kind, shape, reduction):
    F = _torch().nn.functional

    rng = _rng("bce", weight_kind, shape, reduction)
    p = rng.uniform(0.001, 0.999, size=shape)
    y = _soft_labels(rng, shape)
    weight = _weight_for(weight_kind, shape, rng)
    if shape == () and isinstance(weight, list):
        weight = weight[0]  # torch refuses a (1,) weight for a 0-d input (tested separately)

    def ref(predictions, targets):
        return F.binary_cross_entropy(predictions, targets, weight=_tensor_or_none(weight),
                                      reduction=reduction)

    params = {} if weight is None else {"weight": weight}
    _check_against("binary_cross_entropy", params, {"predictions": p, "targets": y}, ref,
                   reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize(("weight_kind", "pos_kind"), [
    (None, None), ("last", None), (None, "last"), ("scalar", "last"), ("last", "one"),
    ("one", "scalar"),
])
def test_bce_with_logits_matches_torch(weight_kind, pos_kind, shape, reduction):
    F = _torch().nn.functional

    rng = _rng("bcel", weight_kind, pos_kind, shape, reduction)
    x = rng.normal(size=shape) * 3.0
    y = _soft_labels(rng, shape)
    weight = _weight_for(weight_kind, shape, rng)
    pos_weight = _weight_for(pos_kind, shape, rng)
    if shape == ():
        weight = weight[0] if isinstance(weight, list) else weight
        pos_weight = pos_weight[0] if isinstance(pos_weight, list) else pos_weight

    def ref(predictions, targets):
        return F.binary_cross_entropy_with_logits(
            predictions, targets, weight=_tensor_or_none(weight),
            pos_weight=_tensor_or_none(pos_weight), reduction=reduction)

    params = {k: v for k, v in (("weight", weight), ("pos_weight", pos_weight)) if v is not None}
    _check_against("binary_cross_entropy_with_logits", params, {"predictions": x, "targets": y},
                   ref, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_soft_margin_matches_torch(shape, reduction):
    F = _torch().nn.functional

    rng = _rng("sm", shape, reduction)
    x = rng.normal(size=shape) * 3.0
    y = rng.choice([-1.0, 1.0], size=shape)
    _check_against("soft_margin", {}, {"predictions": x, "targets": y},
                   lambda predictions, targets: F.soft_margin_loss(predictions, targets,
                                                                   reduction=reduction),
                   reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (1, 3), (6, 5)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("soft", [False, True])
def test_multilabel_soft_margin_matches_torch(soft, weighted, shape, reduction):
    F = _torch().nn.functional

    rng = _rng("mlsm", soft, weighted, shape, reduction)
    x = rng.normal(size=shape) * 3.0
    y = _soft_labels(rng, shape) if soft else rng.integers(0, 2, size=shape).astype(float)
    weight = [float(v) for v in rng.uniform(0.2, 3.0, size=shape[-1])] if weighted else None

    def ref(predictions, targets):
        return F.multilabel_soft_margin_loss(predictions, targets,
                                             weight=_tensor_or_none(weight), reduction=reduction)

    r = _check_against("multilabel_soft_margin", {"weight": weight},
                       {"predictions": x, "targets": y}, ref, reduction)
    if reduction == "none":
        assert to_np(r.value).shape == shape[:-1]  # (N,), or () for a 1-D input


def test_multilabel_soft_margin_is_mean_over_classes_of_bce_with_logits():
    rng = _rng("mlsm-bce")
    x, y = rng.normal(size=(4, 3)), rng.integers(0, 2, size=(4, 3)).astype(float)
    w = [0.5, 1.0, 2.0]
    a = evaluate("multilabel_soft_margin", {"predictions": x, "targets": y}, {"weight": w},
                 reduction="none")
    b = evaluate("bce_with_logits", {"predictions": x, "targets": y}, {"weight": w},
                 reduction="none")
    assert_close(a.value, to_np(b.value).mean(axis=1))


# --------------------------------------------------------------------------------------------
# References written here (no PyTorch equivalent)
# --------------------------------------------------------------------------------------------


def _torch_hinge(margin: float, squared: bool, zero_one: bool, reduction: str, keras: bool):
    """max(0, m - y s) (squared), with y = 2t - 1 for {0, 1} labels; relu'(0) = 0 at the kink;
    elementwise (the default since issue 19), or then Keras' mean over the last axis."""
    torch = _torch()

    def fn(predictions, targets):
        y = 2.0 * targets - 1.0 if zero_one else targets
        h = torch.relu(margin - y * predictions)
        loss = h * h if squared else h
        if keras and loss.ndim:
            loss = loss.mean(dim=-1)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("margin", [1.0, 0.0, 2.5])
@pytest.mark.parametrize("zero_one", [False, True])
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("convention", [None, "keras"])  # None: the default, elementwise
def test_hinge_losses_match_reference(name, convention, zero_one, margin, shape, reduction):
    rng = _rng(name, zero_one, margin, shape, reduction)
    pm = rng.choice([-1.0, 1.0], size=shape)
    s = rng.normal(size=shape) * 2.0
    if np.size(s) > 1:  # put one element exactly on the kink y s = m
        s.reshape(-1)[0] = pm.reshape(-1)[0] * margin
    y = (pm + 1.0) / 2.0 if zero_one else pm
    ref = _torch_hinge(margin, name == "squared_hinge", zero_one, reduction,
                       keras=convention == "keras")
    params = {"margin": margin} if convention is None else {"margin": margin,
                                                            "convention": convention}
    _check_against(name, params, {"predictions": s, "targets": y}, ref, reduction)


def _keras_hinge_per_sample(y_true: np.ndarray, y_pred: np.ndarray, squared: bool) -> np.ndarray:
    """keras.losses.Hinge / SquaredHinge (reference doc section 2): convert all-{0, 1} labels by
    2y - 1, then mean over the last axis of max(1 - y * y_pred, 0) (squared)."""
    if np.all((y_true == 0) | (y_true == 1)):
        y_true = 2.0 * y_true - 1.0
    h = np.maximum(1.0 - y_true * y_pred, 0.0)
    return np.mean(h * h if squared else h, axis=-1)


@pytest.mark.parametrize("labels", [(-1.0, 1.0), (0.0, 1.0)])
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_losses_match_keras_formula(name, labels):
    rng = _rng("keras", name, labels)
    y = rng.choice(labels, size=(6, 4))
    s = rng.normal(size=(6, 4)) * 1.5
    r = evaluate(name, {"predictions": s, "targets": y}, {"convention": "keras"},
                 reduction="mean")
    expected = _keras_hinge_per_sample(y, s, squared=name == "squared_hinge")
    assert_close(r.per_sample, expected)
    assert_close(r.value, expected.mean())  # Keras sum_over_batch_size of the per-sample values


def test_hinge_gradient_is_zero_at_the_kink():
    # y s = margin exactly: strict 1[m - y s > 0] gives 0 (torch relu's choice); (N, 1) inputs
    # keep one value per score under the keras convention's last-axis mean too
    r = evaluate("hinge", {"predictions": [[1.0], [-1.0], [0.5], [2.0]],
                           "targets": [[1.0], [-1.0], [1.0], [-1.0]]},
                 reduction="sum", want_grad=True)
    assert to_np(r.value).item() == 0.0 + 0.0 + 0.5 + 3.0
    assert to_np(r.gradients["predictions"]).tolist() == [[0.0], [0.0], [-1.0], [1.0]]
    r2 = evaluate("squared_hinge", {"predictions": [1.0], "targets": [1.0]}, reduction="sum",
                  want_grad=True)
    assert to_np(r2.gradients["predictions"]).tolist() == [0.0]


def test_hinge_all_zero_one_batch_is_mapped():
    a = evaluate("hinge", {"predictions": [[0.3], [-0.2], [1.7]], "targets": [[1.0], [0.0], [0.0]]},
                 reduction="none")
    b = evaluate("hinge", {"predictions": [[0.3], [-0.2], [1.7]],
                           "targets": [[1.0], [-1.0], [-1.0]]}, reduction="none")
    assert_close(a.value, b.value)
    assert_close(a.value, [[0.7], [0.8], [2.7]])  # max(0, 1 - y s) by hand, elementwise
    # an all-ones batch is valid in both conventions and means +1 either way
    c = evaluate("hinge", {"predictions": [0.3], "targets": [1.0]})
    assert_close(c.value, 0.7)


def _torch_focal(alpha: float, gamma: float, reduction: str):
    """torchvision.ops.sigmoid_focal_loss, transcribed from torchvision/ops/focal_loss.py."""
    torch = _torch()
    F = _torch().nn.functional

    def fn(predictions, targets):
        p = torch.sigmoid(predictions)
        ce_loss = F.binary_cross_entropy_with_logits(predictions, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce_loss * ((1 - p_t) ** gamma)
        if alpha >= 0:
            alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
            loss = alpha_t * loss
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize(("alpha", "gamma"), [
    (0.25, 2.0), (-1.0, 0.0), (-1.0, 2.0), (0.5, 0.5), (0.8, 1.0), (0.0, 3.0), (1.0, 1.7),
])
def test_sigmoid_focal_matches_torchvision_formula(alpha, gamma, shape, reduction):
    rng = _rng("focal", alpha, gamma, shape, reduction)
    x = np.clip(rng.normal(size=shape) * 2.5, -7.0, 7.0)  # 1 - p_t in torchvision cancels beyond
    y = _soft_labels(rng, shape)
    _check_against("sigmoid_focal", {"alpha": alpha, "gamma": gamma},
                   {"predictions": x, "targets": y}, _torch_focal(alpha, gamma, reduction),
                   reduction)


def test_sigmoid_focal_defaults_are_torchvision_defaults():
    spec = get_loss("sigmoid_focal")
    # alpha = None: the convention's default, 0.25 for the default (torch) convention
    assert spec.defaults == {"alpha": None, "gamma": 2.0, "convention": "torch"}
    assert spec.default_reduction == "mean"  # torchvision's default is 'none' (see notes)
    x, y = np.array([3.0, -1.0, 0.5, -4.0]), np.array([1.0, 1.0, 0.0, 0.0])
    value, _ = torch_oracle(_torch_focal(0.25, 2.0, "mean"), {"predictions": x, "targets": y},
                            (), "mean")
    assert_close(evaluate("sigmoid_focal", {"predictions": x, "targets": y}).value, value)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_without_alpha_and_gamma_is_bce_with_logits(reduction):
    rng = _rng("focal-bce", reduction)
    inputs = {"predictions": rng.normal(size=(5, 4)) * 4, "targets": _soft_labels(rng, (5, 4))}
    a = evaluate("sigmoid_focal", inputs, {"alpha": -1.0, "gamma": 0.0}, reduction=reduction,
                 want_grad=True)
    b = evaluate("bce_with_logits", inputs, reduction=reduction, want_grad=True)
    assert np.array_equal(to_np(a.value), to_np(b.value))
    assert np.array_equal(to_np(a.gradients["predictions"]), to_np(b.gradients["predictions"]))


@pytest.mark.parametrize("gamma", [0.3, 0.5, 0.99, 2.0])
def test_sigmoid_focal_saturated_logits_give_zero_gradient_not_nan(gamma):
    # 1 - p_t == 0 exactly (sigmoid(-1000) underflows): the limit of the gradient is 0
    x, y = np.array([1000.0, -1000.0, 800.0]), np.array([1.0, 0.0, 1.0])
    r = evaluate("sigmoid_focal", {"predictions": x, "targets": y}, {"gamma": gamma},
                 reduction="sum", want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert float(to_np(r.value)) == 0.0
    assert np.all(np.isfinite(g)) and np.all(g == 0.0)


def test_sigmoid_focal_small_gamma_near_saturation_matches_reference():
    # gamma < 1 where 1 - p_t is tiny but representable: finite and equal to the reference
    x = np.array([20.0, -25.0, 30.0])
    y = np.array([1.0, 0.0, 1.0])
    gamma = 0.5
    # torchvision's 1 - p_t rounds to 0 here, so the reference computes 1 - p_t without
    # cancellation (the same formula otherwise)
    torch = _torch()

    def exact(predictions, targets):
        q = torch.sigmoid(predictions) * (1 - targets) + torch.sigmoid(-predictions) * targets
        ce = torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets,
                                                                  reduction="none")
        a_t = 0.25 * targets + 0.75 * (1 - targets)
        return (a_t * q**gamma * ce).sum()

    _check_against("sigmoid_focal", {"gamma": gamma}, {"predictions": x, "targets": y}, exact,
                   "sum")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_likelihood_matches_reference(shape, reduction):
    rng = _rng("lik", shape, reduction)
    p = rng.uniform(0.0, 1.0, size=shape)
    y = _soft_labels(rng, shape)

    def ref(predictions, targets):  # seed 002: -(y p + (1 - y)(1 - p))
        loss = -(targets * predictions + (1 - targets) * (1 - predictions))
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    _check_against("likelihood", {}, {"predictions": p, "targets": y}, ref, reduction)


# --------------------------------------------------------------------------------------------
# Seed worked examples (golden values from the lecture notes in /work/shared/seeds)
# --------------------------------------------------------------------------------------------


def test_seed_002_binary_cross_entropy():
    # seed 002: targets (0,0,1,0,1), probabilities (0.2,0.4,0.8,0.3,0.9) -> 0.28
    inputs = {"predictions": [0.2, 0.4, 0.8, 0.3, 0.9], "targets": [0.0, 0.0, 1.0, 0.0, 1.0]}
    r = evaluate("bce", inputs)
    assert round(float(to_np(r.value)), 2) == 0.28
    F = _torch().nn.functional  # the exact value, from torch
    value, _ = torch_oracle(
        lambda predictions, targets: F.binary_cross_entropy(predictions, targets),
        {k: np.asarray(v) for k, v in inputs.items()}, (), "mean")
    assert_close(r.value, value)


def test_seed_003_binary_cross_entropy_and_gradient():
    # seed 003: y = 0, y_hat = 0.9 -> L_CE = 2.30, dL_CE/dy_hat = 10.00
    r = evaluate("binary_cross_entropy", {"predictions": [0.9], "targets": [0.0]},
                 reduction="mean", want_grad=True)
    assert f"{float(to_np(r.value)):.2f}" == "2.30"
    assert f"{float(to_np(r.gradients['predictions'])[0]):.2f}" == "10.00"
    assert_close(r.value, -np.log(0.1))
    assert_close(r.gradients["predictions"], [0.9 / (0.9 * (1 - 0.9))])


def test_seed_002_likelihood():
    # seed 002: targets (1,1,0,0,0), probabilities (0.5,0.9,0.2,0.6,0.1) -> -0.7
    r = evaluate("maximum_likelihood", {"predictions": [0.5, 0.9, 0.2, 0.6, 0.1],
                                        "targets": [1.0, 1.0, 0.0, 0.0, 0.0]}, want_grad=True)
    assert float(to_np(r.value)) == -0.7
    assert_close(r.gradients["predictions"], np.array([-1, -1, 1, 1, 1]) / 5)


# --------------------------------------------------------------------------------------------
# Stability and edge cases
# --------------------------------------------------------------------------------------------


def test_bce_with_logits_at_extreme_logits_equals_torch():
    F = _torch().nn.functional

    x = np.array([1000.0, -1000.0, 1000.0, -1000.0, 1000.0, -1000.0, 40.0, -40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.7, 0.0, 1.0])
    for params in ({}, {"pos_weight": 2.0, "weight": 0.5}):
        def ref(predictions, targets, params=params):
            return F.binary_cross_entropy_with_logits(
                predictions, targets, weight=_tensor_or_none(params.get("weight")),
                pos_weight=_tensor_or_none(params.get("pos_weight")), reduction="none")

        r = _check_against("bce_with_logits", params, {"predictions": x, "targets": y}, ref,
                           "none")
        assert np.all(np.isfinite(to_np(r.value)))
    r = evaluate("bce_with_logits", {"predictions": x[:2], "targets": y[:2]}, reduction="none")
    assert to_np(r.value).tolist() == [1000.0, 1000.0]


def test_bce_with_logits_extreme_logits_in_float32():
    r = evaluate("bce_with_logits", {"predictions": [1000.0, -1000.0], "targets": [0.0, 1.0]},
                 reduction="none", dtype="float32", want_grad=True)
    assert to_np(r.value).tolist() == [1000.0, 1000.0]
    assert to_np(r.gradients["predictions"]).tolist() == [1.0, -1.0]


def test_soft_margin_extremes_are_exact_where_torch_overflows():
    F = _torch().nn.functional

    x = np.array([-1000.0, 1000.0, 1000.0, -1000.0, 30.0, -30.0])
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, 1.0])
    r = evaluate("soft_margin", {"predictions": x, "targets": y}, reduction="none",
                 want_grad=True)
    # exact: log(1 + e^{1000}) = 1000 (to double precision); log(1 + e^{-1000}) = 0
    assert to_np(r.value)[:4].tolist() == [1000.0, 1000.0, 0.0, 0.0]
    assert to_np(r.gradients["predictions"])[:4].tolist() == [-1.0, 1.0, -0.0, 0.0]
    value, grads = torch_oracle(
        lambda predictions, targets: F.soft_margin_loss(predictions, targets, reduction="none"),
        {"predictions": x, "targets": y}, ("predictions",), "none")
    assert np.isinf(value[0]) and np.isinf(value[1])  # torch is naive there (documented)
    finite = np.isfinite(value)
    assert finite[2:].all()
    assert_close(to_np(r.value)[finite], value[finite])
    assert_close(to_np(r.gradients["predictions"])[finite], grads["predictions"][finite])


def test_multilabel_soft_margin_and_focal_extremes_equal_references():
    F = _torch().nn.functional

    x = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, 1000.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.5]])
    _check_against("multilabel_soft_margin", {}, {"predictions": x, "targets": y},
                   lambda predictions, targets: F.multilabel_soft_margin_loss(
                       predictions, targets, reduction="sum"), "sum")
    yf = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    r = _check_against("sigmoid_focal", {}, {"predictions": x, "targets": yf},
                       _torch_focal(0.25, 2.0, "none"), "none")
    assert to_np(r.value).tolist() == [[0.0, 0.0, 750.0], [250.0, 0.0, 0.75 * 0.25 * np.log(2)]]


def test_bce_at_probabilities_zero_and_one_matches_torch():
    F = _torch().nn.functional

    p = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1e-300, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.25, 1.0, 1.0])
    r = _check_against("binary_cross_entropy", {}, {"predictions": p, "targets": y},
                       lambda predictions, targets: F.binary_cross_entropy(
                           predictions, targets, reduction="none"), "none")
    # the -100 clamp: p = 0, y = 1 gives exactly 100; soft labels take the clamped log too
    assert to_np(r.value)[:6].tolist() == [100.0, 100.0, 0.0, 0.0, 50.0, 75.0]
    # torch's gradient formula with its floor 1e-12f (a float32 literal, 9.99999996e-13), as
    # the oracle above shows: (p - y) / 1e-12f, about -+1e12
    eps = float(np.float32(1e-12))
    assert to_np(r.gradients["predictions"])[:4].tolist() == [-1 / eps, 1 / eps, 0.0, 0.0]


def test_bce_weight_forms_agree():
    p, y = np.array([[0.3, 0.8], [0.6, 0.1]]), np.array([[1.0, 0.0], [0.0, 0.5]])
    base = to_np(evaluate("bce", {"predictions": p, "targets": y}, reduction="none").value)
    scalar = evaluate("bce", {"predictions": p, "targets": y}, {"weight": 2.0}, reduction="none")
    one = evaluate("bce", {"predictions": p, "targets": y}, {"weight": [2.0]}, reduction="none")
    last = evaluate("bce", {"predictions": p, "targets": y}, {"weight": [2.0, 0.5]},
                    reduction="none")
    assert_close(scalar.value, 2 * base)
    assert_close(one.value, 2 * base)
    assert_close(last.value, base * np.array([2.0, 0.5]))
    # mean divides by the element count (4), not by the weights' sum
    mean = evaluate("bce", {"predictions": p, "targets": y}, {"weight": [2.0, 0.5]})
    assert_close(mean.value, (base * np.array([2.0, 0.5])).sum() / 4)
    # a 0-d input takes a length-1 weight as a scalar (torch raises here)
    zero_d = evaluate("bce", {"predictions": 0.3, "targets": 1.0}, {"weight": [2.0]},
                      reduction="none")
    assert to_np(zero_d.value).shape == ()
    assert_close(zero_d.value, -2 * np.log(0.3))


# --------------------------------------------------------------------------------------------
# Errors, each with its code and location
# --------------------------------------------------------------------------------------------


def _error(name, inputs, params=None, **kw) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params, **kw)
    return exc.value


@pytest.mark.parametrize(("name", "inputs", "code", "loc"), [
    ("bce", {"predictions": [[0.2, 1.2], [0.1, 0.5]], "targets": [[0.0, 1.0], [1.0, 0.0]]},
     "probability_out_of_range", ("predictions", 0, 1)),
    ("bce", {"predictions": [0.2, 0.4], "targets": [0.0, -0.1]},
     "probability_out_of_range", ("targets", 1)),
    ("bce", {"predictions": [0.2, 0.4], "targets": [[0.0, 1.0]]}, "shape_mismatch", ("targets",)),
    ("bce_with_logits", {"predictions": [3.0, 4.0, -1.0], "targets": [0.0, 1.0, 2.0]},
     "probability_out_of_range", ("targets", 2)),
    ("bce_with_logits", {"predictions": [3.0], "targets": [[1.0]]}, "shape_mismatch",
     ("targets",)),
    ("soft_margin", {"predictions": [1.0, 2.0], "targets": [1.0, 0.0]}, "invalid_label",
     ("targets", 1)),
    ("soft_margin", {"predictions": [1.0], "targets": [1.0, -1.0]}, "shape_mismatch",
     ("targets",)),
    ("hinge", {"predictions": [1.0, 2.0, 0.0], "targets": [1.0, -1.0, 0.0]}, "invalid_label",
     ("targets", 2)),
    ("hinge", {"predictions": [1.0, 2.0], "targets": [[0.0, -1.0]]}, "shape_mismatch",
     ("targets",)),
    ("squared_hinge", {"predictions": [[1.0, 2.0]], "targets": [[0.5, 1.0]]}, "invalid_label",
     ("targets", 0, 0)),
    ("multilabel_soft_margin", {"predictions": np.zeros((2, 2, 2)), "targets": np.zeros((2, 2, 2))},
     "invalid_shape", ("predictions",)),
    ("multilabel_soft_margin", {"predictions": [[1.0, 2.0]], "targets": [[0.0, 3.0]]},
     "probability_out_of_range", ("targets", 0, 1)),
    ("multilabel_soft_margin", {"predictions": [[1.0, 2.0]], "targets": [0.0, 1.0]},
     "shape_mismatch", ("targets",)),
    ("sigmoid_focal", {"predictions": [1.0, 2.0], "targets": [1.5, 0.0]},
     "probability_out_of_range", ("targets", 0)),
    ("likelihood", {"predictions": [0.5, -0.5], "targets": [1.0, 0.0]},
     "probability_out_of_range", ("predictions", 1)),
    ("likelihood", {"predictions": [0.5, 0.5], "targets": [1.0, 1.5]},
     "probability_out_of_range", ("targets", 1)),
])
def test_input_errors(name, inputs, code, loc):
    err = _error(name, inputs)
    assert (err.code, err.loc) == (code, loc)


def test_hinge_mixing_zero_and_minus_one_is_invalid():
    err = _error("hinge", {"predictions": [0.1, 0.2, 0.3], "targets": [-1.0, 1.0, 0.0]})
    assert (err.code, err.loc) == ("invalid_label", ("targets", 2))
    assert "all in {-1, 1} or all in {0, 1}" in err.message


@pytest.mark.parametrize(("name", "shape", "params", "loc"), [
    ("bce", (3, 2), {"weight": [1.0, 2.0, 3.0]}, ("params", "weight")),
    ("bce", (), {"weight": [1.0, 2.0]}, ("params", "weight")),
    ("bce", (2,), {"weight": -1.0}, ("params", "weight")),
    ("bce", (2,), {"weight": [1.0, -1.0]}, ("params", "weight", 1)),
    ("bce", (2,), {"weight": [[1.0, 2.0]]}, ("params", "weight")),  # (1, 2): torch refuses too
    ("bce", (2,), {"weight": [[1.0, 2.0], [1.0]]}, ("params", "weight")),  # ragged
    ("bce", (2,), {"weight": [[1.0, True]]}, ("params", "weight", 0, 1)),
    ("bce", (2,), {"weight": "2"}, ("params", "weight")),
    ("bce_with_logits", (3, 2), {"weight": [1.0, 2.0, 3.0]}, ("params", "weight")),
    ("bce_with_logits", (3, 2), {"pos_weight": [1.0, 2.0, 3.0]}, ("params", "pos_weight")),
    ("bce_with_logits", (3, 2), {"pos_weight": -0.5}, ("params", "pos_weight")),
    ("multilabel_soft_margin", (3, 2), {"weight": [1.0, 2.0, 3.0]}, ("params", "weight")),
    ("multilabel_soft_margin", (3, 2), {"weight": [[1.0], [2.0]]}, ("params", "weight")),
    ("hinge", (2,), {"margin": -0.1}, ("params", "margin")),
    ("squared_hinge", (2,), {"margin": float("inf")}, ("params", "margin")),
    ("sigmoid_focal", (2,), {"alpha": 1.5}, ("params", "alpha")),
    ("sigmoid_focal", (2,), {"alpha": -0.5}, ("params", "alpha")),
    ("sigmoid_focal", (2,), {"gamma": -1.0}, ("params", "gamma")),
])
def test_param_errors(name, shape, params, loc):
    inputs = {"predictions": np.full(shape, 0.5), "targets": np.ones(shape)}
    err = _error(name, inputs, params)
    assert (err.code, err.loc) == ("invalid_param", loc)


def test_focal_alpha_minus_one_is_valid():
    r = evaluate("sigmoid_focal", {"predictions": [0.5], "targets": [1.0]}, {"alpha": -1.0})
    assert np.isfinite(float(to_np(r.value)))


def test_focal_alpha_defaults_per_convention():
    # one definition of the default, shared by the loss, the fused kernel and the grader
    from service.losses.sigmoid_focal import TORCH_FOCAL_ALPHA, focal_alpha

    assert focal_alpha(None, "torch") == TORCH_FOCAL_ALPHA == 0.25
    assert focal_alpha(None, "optax") == focal_alpha(None, "keras") == -1.0
    assert focal_alpha(0.3, "optax") == 0.3 and focal_alpha(-1.0, "torch") == -1.0
    x, y = [0.5, -1.0], [1.0, 0.0]
    default = evaluate("sigmoid_focal", {"predictions": x, "targets": y})
    explicit = evaluate("sigmoid_focal", {"predictions": x, "targets": y}, {"alpha": 0.25})
    assert float(to_np(default.value)) == float(to_np(explicit.value))


@pytest.mark.parametrize(("alias", "name"), [
    ("bce", "binary_cross_entropy"), ("log_loss", "binary_cross_entropy"),
    ("binary_crossentropy", "binary_cross_entropy"),
    ("bce_with_logits", "binary_cross_entropy_with_logits"),
    ("maximum_likelihood", "likelihood"),
])
def test_aliases(alias, name):
    assert get_loss(alias).name == name


def test_family_and_property_flags():
    names = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "soft_margin",
             "multilabel_soft_margin", "hinge", "squared_hinge", "sigmoid_focal", "likelihood"]
    for n in names:
        spec = get_loss(n)
        assert spec.family == "binary"
        assert spec.nonnegative == (n != "likelihood")
        assert not spec.zero_at_match and not spec.shift_invariant
