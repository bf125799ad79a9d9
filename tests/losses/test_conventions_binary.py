"""The ``convention`` parameter of binary_cross_entropy (and its ``label_smoothing``),
binary_cross_entropy_with_logits, sigmoid_focal, hinge and squared_hinge.

Oracles: torch 2.13.0 live (``torch.nn.functional``, float64, autograd) for ``torch``, plus the
Keras and scikit-learn formulas written in torch ops (``torch.clamp`` passes the gradient inside
and at the bounds, 0 outside, like the service) for gradients; scikit-learn 1.9.1 live
(``log_loss``, ``hinge_loss``) for ``sklearn`` values; Keras 3.15.1 (JAX backend, float64) and
optax 0.2.8 goldens with ``jax.grad`` gradients, recorded by
``tests/goldens/make_conventions_binary.py`` (``tests/goldens/conventions_binary.json``), for
``keras`` and ``optax`` (the Keras cases cover the generic last-axis mean: a 2-D input under
reductions none, sum and mean, and mean and none with sample_weight); finite differences for
every new gradient path, away from hinge kinks and clip bounds.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "conventions_binary.json").read_text())
F64_EPS = float(np.finfo(np.float64).eps)
F32_EPS = float(np.finfo(np.float32).eps)
REDUCTIONS = ["none", "mean", "sum"]


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _error(name, inputs, params=None, **kw) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params, **kw)
    return exc.value


def _reduce(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _sklearn():
    return pytest.importorskip("sklearn.metrics")


def _probabilities(rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Interior probabilities (no clip active in any convention) and mixed hard/soft labels."""
    p = rng.uniform(0.02, 0.98, size=shape)
    y = rng.uniform(size=shape)
    hard = rng.uniform(size=shape) < 0.5
    return p, np.where(hard, np.round(y), y)


# ------------------------------------------------------------------------------ the catalogue


def test_conventions_offered():
    offered = {name: tuple(c.name for c in get_loss(name).conventions)
               for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits",
                            "sigmoid_focal", "hinge", "squared_hinge")}
    assert offered == {
        "binary_cross_entropy": ("torch", "keras", "sklearn"),
        "binary_cross_entropy_with_logits": ("torch", "keras", "optax"),
        "sigmoid_focal": ("torch", "optax", "keras"),
        "hinge": ("elementwise", "keras", "optax", "sklearn"),  # issue 19: elementwise default
        "squared_hinge": ("elementwise", "keras"),
    }
    for name in offered:
        spec = get_loss(name)
        assert spec.param("convention").default == spec.conventions[0].name
        keras = spec.convention("keras")
        assert keras is not None and keras.last_axis_mean and not keras.weights_in_mean


@pytest.mark.parametrize(("name", "conv"), [("bce", "optax"), ("bce_with_logits", "sklearn"),
                                            ("sigmoid_focal", "sklearn"), ("hinge", "torch"),
                                            ("squared_hinge", "optax"),
                                            ("squared_hinge", "sklearn")])
def test_libraries_without_the_loss_are_refused(name, conv):
    err = _error(name, {"predictions": [0.5], "targets": [1.0]}, {"convention": conv})
    assert err.code == "unsupported_convention" and err.loc == ("params", "convention")


# ----------------------------------------------------------------------------- Keras/optax


def _case_id(c: dict) -> str:
    sw = "-sw" if "sample_weight" in c else ""
    return f"{c['loss']}-{c['library']}-{c['reduction']}{sw}-{c['note'][:18]}"


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=_case_id)
def test_library_goldens(case):
    # Keras 3.15.1 (JAX, float64) / optax 0.2.8: tests/goldens/make_conventions_binary.py
    dtype = case.get("dtype", "float64")
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction=case["reduction"],
                 sample_weight=case.get("sample_weight"), dtype=dtype,
                 want_grad="grad" in case)
    rtol, atol = (1e-6, 1e-6) if dtype == "float32" else (1e-10, 1e-12)
    assert to_np(r.value).shape == np.shape(case["value"])
    assert_close(r.value, case["value"], rtol=rtol, atol=atol)
    if "grad" in case:
        assert_close(r.gradients["predictions"], case["grad"])


def test_goldens_cover_every_keras_and_optax_convention():
    covered = {(c["loss"], c["params"]["convention"]) for c in GOLDENS["cases"]}
    assert covered == {
        ("binary_cross_entropy", "keras"), ("binary_cross_entropy_with_logits", "keras"),
        ("binary_cross_entropy_with_logits", "optax"), ("sigmoid_focal", "keras"),
        ("sigmoid_focal", "optax"), ("hinge", "keras"), ("hinge", "optax"),
        ("squared_hinge", "keras")}
    with_weights = {(c["loss"], c["reduction"]) for c in GOLDENS["cases"]
                    if "sample_weight" in c}
    assert {n for n, r in with_weights if r == "mean"} == {
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal", "hinge",
        "squared_hinge"}


# ------------------------------------------------------------------------- headline numbers


@pytest.mark.parametrize(("conv", "expected"), [
    ("torch", 100.0), ("keras", -np.log(1e-7)), ("sklearn", -np.log(F64_EPS)),
])
def test_headline_bce_at_p0_y1(conv, expected):
    # issue: BCE at p = 0, y = 1 gives 100 (torch) / 16.118 (keras) / 36.04 (sklearn, float64)
    r = evaluate("bce", {"predictions": [0.0], "targets": [1.0]}, {"convention": conv},
                 want_grad=True)
    assert_close(r.value, expected)
    assert round(float(to_np(r.value)), 2) == {"torch": 100.0, "keras": 16.12,
                                               "sklearn": 36.04}[conv]
    # torch's gradient formula -1/max(p(1 - p), 1e-12f) even where the log is clamped; the
    # clipping libraries give 0 (the clip is active)
    assert_close(r.gradients["predictions"], [-1.0 / 9.999999960041972e-13 if conv == "torch"
                                              else 0.0])


def test_headline_sklearn_values_live():
    m = _sklearn()
    r = evaluate("bce", {"predictions": [0.0], "targets": [1.0]}, {"convention": "sklearn"})
    assert_close(r.value, m.log_loss([1], [0.0], labels=[0, 1]))
    h = evaluate("hinge", {"predictions": [0.5, 2.0], "targets": [1.0, 1.0]},
                 {"convention": "sklearn"})
    assert_close(h.value, 2.25)  # sklearn quirk: one distinct label means -1 for every label
    assert_close(h.value, m.hinge_loss([1, 1], [0.5, 2.0]))


def test_headline_keras_float32_rounds_the_upper_clip_bound():
    # p = 1, y = 0: -log(1 - float32(1 - 1e-7)) = -log(2^-23) = 15.94 in float32
    r = evaluate("bce", {"predictions": [[1.0]], "targets": [[0.0]]}, {"convention": "keras"},
                 reduction="none", dtype="float32")
    assert_close(r.value, [23 * np.log(2.0)], rtol=1e-6)
    r64 = evaluate("bce", {"predictions": [[1.0]], "targets": [[0.0]]}, {"convention": "keras"},
                   reduction="none")
    assert_close(r64.value, [-np.log(1.0 - (1.0 - 1e-7))])


# ------------------------------------------------------------------- torch (live PyTorch)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ls", [0.1, 0.35, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_torch_label_smoothing_is_bce_on_smoothed_targets(weighted, ls, reduction):
    torch = pytest.importorskip("torch")
    rng = _rng("bce-ls", weighted, ls, reduction)
    p, y = _probabilities(rng, (5, 3))
    p[0, 0], p[1, 1], y[0, 0], y[1, 1] = 0.0, 1.0, 1.0, 0.0  # PyTorch's -100 log clamp
    w = [float(v) for v in rng.uniform(0.5, 2.0, size=3)] if weighted else None
    ys = y * (1.0 - ls) + 0.5 * ls

    def ref(predictions, targets):
        wt = None if w is None else torch.as_tensor(w, dtype=torch.float64)
        return torch.nn.functional.binary_cross_entropy(predictions, targets, weight=wt,
                                                        reduction=reduction)

    value, grads = torch_oracle(ref, {"predictions": p, "targets": ys}, ("predictions",),
                                reduction)
    params = {"label_smoothing": ls} | ({"weight": w} if weighted else {})
    for conv in ({}, {"convention": "torch"}):
        r = evaluate("bce", {"predictions": p, "targets": y}, params | conv, reduction=reduction,
                     want_grad=True)
        assert_close(r.value, value)
        assert_close(r.gradients["predictions"], grads["predictions"])


def test_bce_label_smoothing_zero_changes_nothing():
    rng = _rng("ls0")
    p, y = _probabilities(rng, (4, 3))
    for conv in ("torch", "keras", "sklearn"):
        a = evaluate("bce", {"predictions": p, "targets": y}, {"convention": conv},
                     want_grad=True)
        b = evaluate("bce", {"predictions": p, "targets": y},
                     {"convention": conv, "label_smoothing": 0.0}, want_grad=True)
        assert np.array_equal(to_np(a.value), to_np(b.value))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_torch_and_optax_agree_with_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = _rng("bcel", reduction)
    x = rng.normal(size=(4, 3)) * 5.0
    x[0, 0] = -800.0
    y = rng.uniform(size=(4, 3))

    def ref(predictions, targets):
        return torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets,
                                                                    reduction=reduction)

    value, grads = torch_oracle(ref, {"predictions": x, "targets": y}, ("predictions",),
                                reduction)
    for conv in ("torch", "optax"):
        r = evaluate("bce_with_logits", {"predictions": x, "targets": y}, {"convention": conv},
                     reduction=reduction, want_grad=True)
        assert_close(r.value, value)
        assert_close(r.gradients["predictions"], grads["predictions"])


def test_bce_with_logits_keras_is_the_row_mean_of_torch_with_weights_too():
    rng = _rng("bcel-k")
    x, y = rng.normal(size=(4, 3)) * 3.0, rng.uniform(size=(4, 3))
    params = {"weight": [0.5, 1.0, 2.0], "pos_weight": 3.0}
    t = evaluate("bce_with_logits", {"predictions": x, "targets": y}, params, reduction="none",
                 want_grad=True)
    k = evaluate("bce_with_logits", {"predictions": x, "targets": y},
                 params | {"convention": "keras"}, reduction="none", want_grad=True)
    assert_close(k.value, to_np(t.value).mean(axis=-1))
    assert_close(k.gradients["predictions"], to_np(t.gradients["predictions"]) / 3.0)


def _torch_focal(alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, transcribed (torchvision is not installed)."""
    import torch

    def fn(predictions, targets):
        p = torch.sigmoid(predictions)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets,
                                                                  reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
        return _reduce(loss, reduction)

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("params", "alpha"), [
    ({}, 0.25), ({"convention": "torch"}, 0.25), ({"alpha": None}, 0.25),
    ({"alpha": 0.6, "gamma": 1.5}, 0.6), ({"alpha": -1.0}, -1.0),
    ({"convention": "optax"}, -1.0), ({"convention": "optax", "alpha": None}, -1.0),
    ({"convention": "optax", "alpha": 0.25}, 0.25), ({"convention": "optax", "alpha": -1.0}, -1.0),
])
def test_sigmoid_focal_alpha_default_follows_the_convention(params, alpha, reduction):
    pytest.importorskip("torch")
    rng = _rng("focal-alpha", repr(params), reduction)
    x = np.clip(rng.normal(size=(4, 3)) * 2.5, -7.0, 7.0)
    y = rng.uniform(size=(4, 3))
    value, grads = torch_oracle(_torch_focal(alpha, params.get("gamma", 2.0), reduction),
                                {"predictions": x, "targets": y}, ("predictions",), reduction)
    r = evaluate("sigmoid_focal", {"predictions": x, "targets": y}, params, reduction=reduction,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_sigmoid_focal_alpha_param_is_nullable_with_convention_default():
    spec = get_loss("sigmoid_focal")
    assert spec.defaults == {"alpha": None, "gamma": 2.0, "convention": "torch"}
    assert spec.param("alpha").nullable and spec.param("alpha").extra_allowed == (-1.0,)
    for bad in (1.5, -0.5):
        err = _error("sigmoid_focal", {"predictions": [0.5], "targets": [1.0]}, {"alpha": bad})
        assert err.code == "invalid_param" and err.loc == ("params", "alpha")


def test_sigmoid_focal_keras_refuses_an_alpha_weight():
    inputs = {"predictions": [0.5, -1.0], "targets": [1.0, 0.0]}
    for alpha in (0.25, 0.0, 1.0):
        err = _error("sigmoid_focal", inputs, {"convention": "keras", "alpha": alpha})
        assert err.code == "invalid_param" and err.loc == ("params", "alpha")
        assert "binary_focal" in err.message
    a = evaluate("sigmoid_focal", inputs, {"convention": "keras", "alpha": -1.0})
    b = evaluate("sigmoid_focal", inputs, {"convention": "keras"})
    assert_close(a.value, b.value)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_sigmoid_focal_keras_equals_binary_focal_from_logits_row_mean(gamma):
    rng = _rng("focal-k", gamma)
    x, y = rng.normal(size=(3, 4)) * 4.0, rng.uniform(size=(3, 4))
    x[0, 0] = -30.0  # sigmoid below 1e-7: clipped
    k = evaluate("sigmoid_focal", {"predictions": x, "targets": y},
                 {"convention": "keras", "gamma": gamma}, reduction="sum", want_grad=True)
    b = evaluate("binary_focal", {"predictions": x, "targets": y},
                 {"from_logits": True, "gamma": gamma}, reduction="none", want_grad=True)
    assert_close(k.value, to_np(b.value).mean(axis=-1).sum())
    assert_close(k.gradients["predictions"], to_np(b.gradients["predictions"]) / 4.0)
    # not logit-stable: a logit of -1000 with y = 1 saturates at -log(1e-7)
    s = evaluate("sigmoid_focal", {"predictions": [[-1000.0]], "targets": [[1.0]]},
                 {"convention": "keras"}, reduction="none")
    assert_close(s.value, [-np.log(1e-7) * (1.0 - 0.0) ** 2])


# ----------------------------------------------------- clipping formulas in torch (autograd)


def _torch_clipped_bce(conv, reduction, eps=None, row_mean=False):
    """Keras' / sklearn's clipped BCE in torch ops; torch.clamp's gradient is 0 outside."""
    import torch

    def fn(predictions, targets):
        if conv == "keras":
            pc = torch.clamp(predictions, 1e-7, 1 - 1e-7)
            loss = -(targets * torch.log(pc) + (1 - targets) * torch.log(1 - pc))
        else:
            pc = torch.clamp(predictions, eps, 1 - eps)
            qc = torch.clamp(1 - predictions, eps, 1 - eps)
            loss = -((1 - targets) * torch.log(qc) + targets * torch.log(pc))
        if row_mean:
            loss = loss.mean(dim=-1)
        return _reduce(loss, reduction)

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("conv", ["keras", "sklearn"])
def test_clipped_bce_matches_torch_autograd(conv, reduction):
    pytest.importorskip("torch")
    rng = _rng("clip", conv, reduction)
    p, y = _probabilities(rng, (5, 4))
    # clipped in both conventions, clipped in Keras only, and 1 - p rounding to 1 (sklearn)
    p[0, :] = [0.0, 1.0, 1e-9, 1.0 - 1e-9]
    p[1, :2] = [1e-17, 1e-300]
    y[0, :], y[1, :2] = [1.0, 0.0, 0.3, 0.8], [0.0, 1.0]
    value, grads = torch_oracle(
        _torch_clipped_bce(conv, reduction, F64_EPS, row_mean=conv == "keras"),
        {"predictions": p, "targets": y}, ("predictions",), reduction)
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": conv},
                 reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    g = to_np(r.gradients["predictions"])
    assert np.all(g[0, :2] == 0.0)  # p = 0 and p = 1: the clip is active
    assert (g[0, 2] == 0.0) == (conv == "keras")


def test_clip_bounds_pass_the_gradient():
    # exactly at a bound the gradient passes (torch.clamp's choice; jnp.clip gives half)
    p, y = np.array([1e-7, 1.0 - 1e-7]), np.array([0.0, 1.0])
    r = evaluate("bce", {"predictions": [p], "targets": [y]}, {"convention": "keras"},
                 reduction="sum", want_grad=True)
    pc = np.array([1e-7, 1.0 - 1e-7])
    assert_close(r.gradients["predictions"], [((1 - y) / (1 - pc) - y / pc) / 2])


# ------------------------------------------------------------------------- sklearn (live)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("labels", ["hard", "extreme", "one_class"])
def test_bce_sklearn_matches_log_loss(labels, weighted):
    m = _sklearn()
    rng = _rng("log_loss", labels, weighted)
    p = rng.uniform(0.01, 0.99, size=9)
    y = rng.integers(0, 2, size=9).astype(float)
    if labels == "extreme":  # clipped: p = 0 / 1 / tiny / 1 - tiny on the wrong side
        p[:6] = [0.0, 1.0, 1e-20, 1.0 - 1e-17, 0.0, 1.0]
        y[:6] = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    if labels == "one_class":
        y[:] = 1.0
    sw = rng.uniform(0.2, 3.0, size=9) if weighted else None
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 sample_weight=sw)
    assert_close(r.value, m.log_loss(y, p, sample_weight=sw, labels=[0.0, 1.0]))
    s = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 reduction="sum", sample_weight=sw)
    assert_close(s.value, m.log_loss(y, p, sample_weight=sw, labels=[0.0, 1.0],
                                     normalize=False))


def test_bce_sklearn_float32_uses_the_float32_eps():
    m = _sklearn()
    p = np.array([0.0, 1.0, 0.3, 1e-9], dtype=np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0])
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 dtype="float32")
    assert_close(r.value, m.log_loss(y, p, labels=[0.0, 1.0]), rtol=1e-6)
    one = evaluate("bce", {"predictions": [0.0], "targets": [1.0]}, {"convention": "sklearn"},
                   dtype="float32")
    assert_close(one.value, -np.log(F32_EPS), rtol=1e-6)  # 15.94


def test_bce_sklearn_two_dimensional_is_the_column_average_of_log_loss():
    m = _sklearn()
    rng = _rng("log_loss-2d")
    p = rng.uniform(size=(6, 3))
    p[0, 0] = 0.0
    y = rng.integers(0, 2, size=(6, 3)).astype(float)
    y[0, 0] = 1.0
    sw = rng.uniform(0.5, 2.0, size=6)
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 sample_weight=sw)
    cols = [m.log_loss(y[:, j], p[:, j], sample_weight=sw, labels=[0.0, 1.0]) for j in range(3)]
    assert_close(r.value, np.mean(cols))


def _hinge_labels(kind, rng, n):
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], size=n), np.array([-1.0, 1.0])
    if kind == "01":
        return rng.choice([0.0, 1.0], size=n), np.array([0.0, 1.0])
    if kind == "12":
        return rng.choice([1.0, 2.0], size=n), np.array([1.0, 2.0])
    if kind == "odd":
        return rng.choice([-3.0, 5.0], size=n), np.array([-3.0, 5.0])
    value = {"all1": 1.0, "all0": 0.0, "allm1": -1.0}[kind]
    return np.full(n, value), np.array([value])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["pm1", "01", "12", "odd", "all1", "all0", "allm1"])
def test_hinge_sklearn_matches_hinge_loss(kind, weighted):
    m = _sklearn()
    rng = _rng("sk-hinge", kind, weighted)
    y, values = _hinge_labels(kind, rng, 10)
    if len(values) == 2:
        y[:2] = values  # both values present
    s = rng.normal(size=10) * 1.5
    sw = rng.uniform(0.2, 3.0, size=10) if weighted else None
    r = evaluate("hinge", {"predictions": s, "targets": y}, {"convention": "sklearn"},
                 sample_weight=sw, want_grad=True)
    assert_close(r.value, m.hinge_loss(y, s, sample_weight=sw))
    # the value sklearn computes, per sample, and its gradient (strict at the kink)
    ypm = np.where((y == values.max()) & (len(values) == 2), 1.0, -1.0)
    gap = 1.0 - ypm * s
    none = evaluate("hinge", {"predictions": s, "targets": y}, {"convention": "sklearn"},
                    reduction="none")
    assert_close(none.value, np.maximum(gap, 0.0))
    w = np.ones(10) if sw is None else sw
    assert_close(r.gradients["predictions"], -ypm * (gap > 0) * w / w.sum())


def test_hinge_sklearn_refuses_a_third_label_and_two_dimensional_inputs():
    m = _sklearn()
    err = _error("hinge", {"predictions": [0.1, 0.2, 0.3], "targets": [0.0, 1.0, 2.0]},
                 {"convention": "sklearn"})
    assert err.code == "invalid_label" and err.loc == ("targets", 1)  # neither min nor max
    assert "multiclass_hinge_cs" in err.message
    # sklearn refuses continuous (fractional) labels too
    with pytest.raises(ValueError):
        m.hinge_loss([0.5, 1.0], [0.1, 0.2])
    err = _error("hinge", {"predictions": [0.1, 0.2], "targets": [1.0, 0.5]},
                 {"convention": "sklearn"})
    assert err.code == "invalid_label" and err.loc == ("targets", 1)
    for shape in ((2, 2), (4, 1), ()):
        err = _error("hinge", {"predictions": np.zeros(shape), "targets": np.ones(shape)},
                     {"convention": "sklearn"})
        assert err.code == "invalid_shape" and err.loc == ("predictions",)


def test_hinge_sklearn_margin_is_accepted():
    r = evaluate("hinge", {"predictions": [0.5, -0.2], "targets": [2.0, 1.0]},
                 {"convention": "sklearn", "margin": 2.0}, reduction="none")
    assert_close(r.value, [1.5, 1.8])


# ------------------------------------------------------------------------- hinge: optax/keras


def test_hinge_optax_uses_labels_as_given():
    s, y = [0.4, -2.0, 0.3, 1.5], [0.0, -1.0, 1.0, 0.0]
    r = evaluate("hinge", {"predictions": s, "targets": y}, {"convention": "optax"},
                 reduction="none", want_grad=True)
    assert_close(r.value, [1.0, 0.0, 0.7, 1.0])  # a 0 label costs max(0, 1 - 0) = 1
    assert_close(r.gradients["predictions"], [0.0, 0.0, -1.0, 0.0])
    # an all-{0, 1} batch is not mapped (Keras maps it by 2y - 1)
    k = evaluate("hinge", {"predictions": [[0.4, -2.0]], "targets": [[1.0, 0.0]]},
                 {"convention": "keras"}, reduction="none")
    o = evaluate("hinge", {"predictions": [[0.4, -2.0]], "targets": [[1.0, 0.0]]},
                 {"convention": "optax"}, reduction="none")
    assert_close(k.value, [(0.6 + 0.0) / 2])
    assert_close(o.value, [[0.6, 1.0]])
    err = _error("hinge", {"predictions": [0.1, 0.2], "targets": [1.0, 2.0]},
                 {"convention": "optax"})
    assert err.code == "invalid_label" and err.loc == ("targets", 1)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_keras_is_the_last_axis_mean(name):
    # the default until issue 19; now opt-in, with the same numbers
    rng = _rng("keras-default", name)
    y = rng.choice([0.0, 1.0], size=(5, 3))
    s = rng.normal(size=(5, 3))
    keras = {"convention": "keras"}
    r = evaluate(name, {"predictions": s, "targets": y}, keras, reduction="none")
    h = np.maximum(1.0 - (2 * y - 1) * s, 0.0)
    assert_close(r.value, (h if name == "hinge" else h * h).mean(axis=-1))
    one = evaluate(name, {"predictions": s[0], "targets": y[0]}, keras, reduction="none")
    assert to_np(one.value).shape == ()  # a 1-D input is one sample


# --------------------------------------------------------------------- finite differences


FD_CASES = [
    ("bce", {"convention": "keras"}),
    ("bce", {"convention": "keras", "label_smoothing": 0.3, "weight": [1.0, 2.0, 0.5]}),
    ("bce", {"convention": "sklearn"}),
    ("bce", {"convention": "sklearn", "label_smoothing": 0.2}),
    ("bce", {"convention": "torch", "label_smoothing": 0.4}),
    ("bce_with_logits", {"convention": "keras", "pos_weight": 2.0}),
    ("sigmoid_focal", {"convention": "keras"}),
    ("sigmoid_focal", {"convention": "keras", "gamma": 0.7}),
    ("sigmoid_focal", {"convention": "optax"}),
    ("hinge", {"convention": "keras"}),
    ("hinge", {"convention": "optax"}),
    ("squared_hinge", {"convention": "keras", "margin": 0.5}),
]


def _fd_inputs(name, params, rng, shape):
    if name == "bce":
        p, y = _probabilities(rng, shape)
        return {"predictions": np.clip(p, 0.05, 0.95), "targets": y}
    if name in ("hinge", "squared_hinge"):
        y = rng.choice([-1.0, 1.0], size=shape)
        if params.get("convention") == "optax":
            y.reshape(-1)[0] = 0.0
        m = params.get("margin", 1.0)
        d = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return {"predictions": y * (m - d) + (y == 0) * 0.3, "targets": y}
    return {"predictions": rng.normal(size=shape) * 2.0, "targets": rng.uniform(size=shape)}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("name", "params"), FD_CASES, ids=lambda v: repr(v)[:40])
def test_gradients_match_finite_differences(name, params, reduction):
    rng = _rng("fd", name, repr(params), reduction)
    inputs = _fd_inputs(name, params, rng, (4, 3))
    sw = rng.uniform(0.5, 2.0, size=4)
    r = evaluate(name, inputs, params, reduction=reduction, sample_weight=sw, want_grad=True)
    fd = finite_difference(name, inputs, params, reduction, "predictions", sample_weight=sw)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-8)


def test_sklearn_hinge_gradient_matches_finite_differences():
    rng = _rng("fd-sk-hinge")
    y = rng.choice([1.0, 2.0], size=8)
    ypm = np.where(y == 2.0, 1.0, -1.0)
    s = ypm * (1.0 - rng.uniform(0.1, 1.0, size=8) * rng.choice([-1.0, 1.0], size=8))
    inputs = {"predictions": s, "targets": y}
    sw = rng.uniform(0.5, 2.0, size=8)
    r = evaluate("hinge", inputs, {"convention": "sklearn"}, sample_weight=sw, want_grad=True)
    fd = finite_difference("hinge", inputs, {"convention": "sklearn"}, "mean", "predictions",
                           sample_weight=sw)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------- across namespaces


@pytest.mark.parametrize(("name", "params"), [
    ("bce", {"convention": "keras", "label_smoothing": 0.1}),
    ("bce", {"convention": "sklearn"}),
    ("bce", {"convention": "torch", "label_smoothing": 0.1}),
    ("sigmoid_focal", {"convention": "keras"}),
    ("sigmoid_focal", {"convention": "optax"}),
    ("hinge", {"convention": "optax"}),
    ("hinge", {"convention": "sklearn"}),
])
def test_conventions_run_on_every_namespace(xp, name, params):
    rng = _rng("xp", name, repr(params))
    shape = (6,) if params["convention"] == "sklearn" and name == "hinge" else (4, 3)
    inputs = _fd_inputs(name, params, rng, shape)
    if name == "hinge" and params["convention"] == "sklearn":
        inputs["targets"] = (inputs["targets"] + 1.0) / 2.0 + 1.0  # labels {1, 2}
    if name == "bce":
        inputs["predictions"].reshape(-1)[:2] = [0.0, 1.0]  # clipped
    w = rng.uniform(0.5, 2.0, size=shape[0])
    for dtype in ("float64", "float32"):
        ref = evaluate(name, inputs, params, reduction="mean", sample_weight=w, dtype=dtype,
                       want_grad=True)
        r = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                     reduction="mean", sample_weight=to_xp(xp, w), dtype=dtype, want_grad=True)
        tol = {"rtol": 1e-10} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
        assert_close(r.value, ref.value, **tol)
        assert_close(r.gradients["predictions"], ref.gradients["predictions"], **tol)
