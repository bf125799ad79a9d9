"""log_cosh, half_mse, mape, msle, pinball: against references written in torch ops (torch 2.13.0,
float64, autograd gradients), scikit-learn 1.9.1 live, and Keras 3 / optax goldens."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle

SHAPES = [(), (7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]
F64_EPS = float(np.finfo(np.float64).eps)  # scikit-learn's MAPE floor
GOLDENS = Path(__file__).parent.parent / "goldens" / "robust_regression.json"


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


# --------------------------------------------------------------------------------------------
# Independent references in torch ops (the cited formulas), reduced like PyTorch
# --------------------------------------------------------------------------------------------


def _reduce(t, reduction: str):
    return t if reduction == "none" else (t.mean() if reduction == "mean" else t.sum())


def _keras_convention(name: str, params: dict) -> bool:
    """mape and msle under convention keras: per-sample = the mean over the last axis (their
    default, scikit-learn's, is elementwise since issue 19)."""
    return name in ("mape", "msle") and params.get("convention") == "keras"


def _torch_loss(name: str, params: dict, reduction: str):
    import torch

    sklearn = params.get("convention", "sklearn") == "sklearn"  # the default

    def log_cosh(predictions, targets):  # optax: logaddexp(d, -d) - log 2
        d = predictions - targets
        return torch.logaddexp(d, -d) - math.log(2.0)

    def half_mse(predictions, targets):  # optax l2_loss
        return 0.5 * (predictions - targets) ** 2

    def mape(predictions, targets):  # Keras / scikit-learn; torch.abs'(0) = 0
        scale = 100.0 if params.get("percent", not sklearn) else 1.0
        eps = params.get("eps", F64_EPS if sklearn else 1e-7)
        den = torch.clamp(torch.abs(targets), min=eps)
        return scale * torch.abs(targets - predictions) / den

    def msle(predictions, targets):  # Keras, with log1p; clamp passes the gradient at x == eps
        eps = params.get("eps", None if sklearn else 1e-7)
        if eps is None:  # scikit-learn: no clipping
            return (torch.log1p(predictions) - torch.log1p(targets)) ** 2
        return (torch.log1p(torch.clamp(predictions, min=eps))
                - torch.log1p(torch.clamp(targets, min=eps))) ** 2

    def pinball(predictions, targets):  # relu'(0) = 0: the subgradient 0 at the kink
        a = params.get("alpha", 0.5)
        return a * torch.relu(targets - predictions) + (1 - a) * torch.relu(predictions - targets)

    fn = locals()[name]
    if _keras_convention(name, params):  # a 0-d input is one value; a 1-D input one sample
        return lambda predictions, targets: _reduce(
            (lambda t: t.mean(dim=-1) if t.ndim else t)(fn(predictions, targets)), reduction)
    return lambda predictions, targets: _reduce(fn(predictions, targets), reduction)


def _inputs(name: str, params: dict, shape: tuple, rng: np.random.Generator) -> dict:
    if name == "mape":
        y = rng.uniform(0.05, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        x = y + rng.normal(size=shape)
    elif name == "msle":
        x, y = rng.exponential(2.0, size=shape) - 0.3, rng.exponential(2.0, size=shape) - 0.3
    else:
        x, y = rng.normal(size=shape) * 2.0, rng.normal(size=shape) * 2.0
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size > 1:  # an exact match: the kink of mape / pinball, 0 for every loss
        x.reshape(-1)[0] = y.reshape(-1)[0]
    if name == "msle" and x.size > 2:  # exactly at the clip floor: the unclipped side is used
        x.reshape(-1)[1] = params.get("eps", 1e-7) or 1e-7
    return {"predictions": x, "targets": y}


KERAS = {"convention": "keras"}
CASES = [
    ("log_cosh", {}), ("half_mse", {}),
    ("mape", KERAS), ("mape", {**KERAS, "percent": False, "eps": F64_EPS}),
    ("mape", {**KERAS, "eps": 0.5}),
    ("mape", {}), ("mape", {"percent": True}), ("mape", {"eps": 0.5}),
    ("mape", {"convention": "sklearn"}), ("mape", {"convention": "sklearn", "eps": 0.5}),
    ("msle", KERAS), ("msle", {**KERAS, "eps": 0.0}), ("msle", {**KERAS, "eps": 0.7}),
    ("msle", {}), ("msle", {"eps": 0.7}),
    ("msle", {"convention": "sklearn"}), ("msle", {"convention": "sklearn", "eps": 0.0}),
    ("pinball", {}), ("pinball", {"alpha": 0.1}), ("pinball", {"alpha": 0.95}),
    ("pinball", {"alpha": 0.0}), ("pinball", {"alpha": 1.0}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_matches_torch_reference(name, params, shape, reduction):
    rng = np.random.default_rng(_seed(name, params, shape, reduction))
    inputs = _inputs(name, params, shape, rng)
    value, grads = torch_oracle(_torch_loss(name, params, reduction), inputs, ("predictions",),
                                reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


# --------------------------------------------------------------------------------------------
# scikit-learn 1.9.1, live
# --------------------------------------------------------------------------------------------


def _sk_inputs(name: str, shape: tuple, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "mape":
        y = rng.uniform(0.1, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        y.reshape(-1)[-1] = 0.0  # a zero target: |x| / eps64
        return y + rng.normal(size=shape), y
    if name == "msle":  # scikit-learn's domain shared with eps = 0: values >= 0
        x, y = rng.exponential(2.0, size=shape), rng.exponential(2.0, size=shape)
        x.reshape(-1)[0] = 0.0
        return x, y
    return rng.normal(size=shape), rng.normal(size=shape)


SK_CASES = [
    ("mape", {"convention": "sklearn"}, "mean_absolute_percentage_error", {}),
    ("mape", {"convention": "sklearn", "percent": False, "eps": F64_EPS},
     "mean_absolute_percentage_error", {}),
    ("msle", {"convention": "sklearn"}, "mean_squared_log_error", {}),
    ("pinball", {}, "mean_pinball_loss", {}),
    ("pinball", {"alpha": 0.9}, "mean_pinball_loss", {"alpha": 0.9}),
    ("pinball", {"alpha": 0.0}, "mean_pinball_loss", {"alpha": 0.0}),
    ("pinball", {"alpha": 1.0}, "mean_pinball_loss", {"alpha": 1.0}),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(9,), (6, 3)])
@pytest.mark.parametrize(("name", "params", "sk_name", "sk_kwargs"), SK_CASES)
def test_matches_sklearn(name, params, sk_name, sk_kwargs, shape, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = _sk_inputs(name, shape, _seed(name, params, shape))
    sw = np.random.default_rng(1).uniform(0.1, 3.0, size=shape[0]) if weighted else None
    expected = getattr(metrics, sk_name)(y, x, sample_weight=sw, **sk_kwargs)
    r = evaluate(name, {"predictions": x, "targets": y}, params, reduction="mean",
                 sample_weight=sw)
    assert_close(r.value, expected)
    if weighted and len(shape) == 1:  # the weighted mean is sum(s l) / sum(s)
        per = to_np(evaluate(name, {"predictions": x, "targets": y}, params,
                             reduction="none").value)
        assert_close(r.value, np.sum(sw * per) / np.sum(sw))


def test_mape_percent_is_100_times_the_fraction():
    x, y = np.array([2.5, 0.0, 2.0, 8.0]), np.array([3.0, -0.5, 2.0, 7.0])
    for conv in ("sklearn", "keras"):
        pct = evaluate("mape", {"predictions": x, "targets": y},
                       {"convention": conv, "percent": True}, reduction="none")
        frac = evaluate("mape", {"predictions": x, "targets": y},
                        {"convention": conv, "percent": False}, reduction="none")
        assert_close(pct.value, 100.0 * to_np(frac.value))
    default = evaluate("mape", {"predictions": x, "targets": y}, reduction="none")
    assert_close(default.value, np.abs(x - y) / np.abs(y))  # a fraction, elementwise


def test_msle_sklearn_and_keras_differ_only_below_eps():
    # scikit-learn allows values in (-1, 0) (log1p of them); Keras (and this loss) clip to eps
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = np.array([-0.5, 1.0, 2.0]), np.array([0.5, 1.0, 3.0])
    ours = float(to_np(evaluate("msle", {"predictions": x, "targets": y},
                                {"convention": "keras", "eps": 0.0}).value))
    assert ours != pytest.approx(metrics.mean_squared_log_error(y, x))
    clipped = np.maximum(x, 0.0)
    assert_close(ours, metrics.mean_squared_log_error(y, clipped))


def test_pinball_half_is_half_l1_and_half_mse_is_half_mse():
    rng = np.random.default_rng(3)
    inputs = {"predictions": rng.normal(size=10), "targets": rng.normal(size=10)}
    p = evaluate("pinball", inputs, reduction="none", want_grad=True)
    a = evaluate("l1", inputs, reduction="none", want_grad=True)
    assert_close(p.value, 0.5 * to_np(a.value))
    assert_close(p.gradients["predictions"], 0.5 * to_np(a.gradients["predictions"]))
    h = evaluate("half_mse", inputs, reduction="none")
    m = evaluate("mse", inputs, reduction="none")
    assert_close(h.value, 0.5 * to_np(m.value))


# --------------------------------------------------------------------------------------------
# Keras 3 and optax goldens (tests/goldens/robust_regression.json, written by
# tests/goldens/make_robust_regression.py: Keras 3.15.1 on its NumPy backend, float32;
# optax 0.2.8 on jax 0.10.2 with x64, float64 and jax.grad)
# --------------------------------------------------------------------------------------------

GOLDEN_CASES = json.loads(GOLDENS.read_text())["cases"]


@pytest.mark.parametrize("case", [c for c in GOLDEN_CASES if c["library"] == "keras"],
                         ids=lambda c: f"{c['loss']}-{c['note'][:20]}")
def test_keras_goldens(case):
    # Keras computes in float32 (it maps float64 to float32 outside TensorFlow), so our float32
    # evaluation is compared at float32 precision, and our float64 one to that precision too.
    # Keras's per-sample value (mean over the last axis) is our per-sample breakdown; its
    # default reduction (sum_over_batch_size) is our mean.
    for dtype in ("float32", "float64"):
        r = evaluate(case["loss"], case["inputs"], case["params"], reduction="mean", dtype=dtype)
        assert_close(r.per_sample, case["per_sample"], rtol=2e-6, atol=1e-6)
        assert_close(r.value, case["value"], rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in GOLDEN_CASES if c["library"] == "optax"],
                         ids=lambda c: f"{c['loss']}-{c['note'][:20]}")
def test_optax_goldens(case):
    # optax returns the elementwise loss (no reduction): our reduction 'none'; gradients of its sum
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction="none", want_grad=True)
    assert_close(r.value, case["unreduced"], rtol=1e-13, atol=1e-15)
    assert_close(r.gradients["predictions"], case["grad_of_sum"], rtol=1e-13, atol=1e-15)


def test_goldens_record_their_libraries():
    libs = json.loads(GOLDENS.read_text())["libraries"]
    assert libs["keras"].startswith("3.") and libs["keras_backend"] == "numpy"
    assert libs["optax"] and libs["jax"]


# --------------------------------------------------------------------------------------------
# Stability and edge cases
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_cosh_is_stable_for_large_errors(dtype):
    x = np.array([1000.0, -1000.0, 1e5, -3e38 if dtype == "float32" else -1e300])
    r = evaluate("log_cosh", {"predictions": x, "targets": np.zeros(4)}, reduction="none",
                 dtype=dtype, want_grad=True)
    v, g = to_np(r.value), to_np(r.gradients["predictions"])
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    tol = 1e-15 if dtype == "float64" else 1e-7
    assert_close(v[:3], np.abs(x[:3]) - math.log(2.0), rtol=tol)
    assert g.tolist() == [1.0, -1.0, 1.0, -1.0]


def test_log_cosh_is_exact_near_zero():
    # log cosh d = d^2/2 - d^4/12 + d^6/45 - ...: no cancellation for tiny errors
    d = np.array([1e-8, -3e-5, 1e-3, 0.5, 0.999])
    series = d**2 / 2 - d**4 / 12 + d**6 / 45 - 17 * d**8 / 2520 + 31 * d**10 / 14175
    r = evaluate("log_cosh", {"predictions": d, "targets": np.zeros(5)}, reduction="none")
    assert_close(to_np(r.value)[:3], series[:3], rtol=1e-14, atol=0)
    exact = np.log(np.cosh(d))  # fine away from 0
    assert_close(to_np(r.value)[3:], exact[3:], rtol=1e-14)
    # the two branches meet continuously at |d| = 1
    near = evaluate("log_cosh", {"predictions": [1 - 1e-12, 1.0], "targets": [0.0, 0.0]},
                    reduction="none")
    v = to_np(near.value)
    assert abs(v[1] - v[0]) < 1e-11 and v[1] == pytest.approx(math.log(math.cosh(1.0)), 1e-15)


def test_mape_zero_target_is_finite_and_large():
    # Keras: 100 |x| / 1e-7 = 1e9 |x|; scikit-learn (the default): |x| / eps64 = 4.5e15 |x|
    r = evaluate("mape", {"predictions": [0.5], "targets": [0.0]}, {"convention": "keras"},
                 want_grad=True)
    assert_close(r.value, 0.5e9)
    assert_close(r.gradients["predictions"], [1e9])
    sk = evaluate("mape", {"predictions": [0.5], "targets": [0.0]},
                  {"convention": "keras", "percent": False, "eps": F64_EPS})
    assert_close(sk.value, 0.5 / F64_EPS)
    default = evaluate("mape", {"predictions": [0.5], "targets": [0.0]}, want_grad=True)
    assert_close(default.value, 0.5 / F64_EPS)
    assert_close(default.gradients["predictions"], [1.0 / F64_EPS])


@pytest.mark.parametrize(("name", "params", "x", "y"), [
    ("msle", {"convention": "keras"}, [1e300, -1e300, 1e-300, 0.0], [0.0, 1e300, 0.0, 1e-300]),
    ("msle", {}, [1e300, -1 + 1e-12, 1e-300, 0.0], [0.0, 1e300, -1 + 1e-12, 1e-300]),
    ("pinball", {}, [1e300, -1e300, 1e-300, 0.0], [0.0, 0.0, 0.0, 1e-300]),
    ("mape", {}, [1e300, -1e300, 1e-300, 0.0], [1.0, 1.0, 1e-300, 1e300]),
    ("mape", {"convention": "keras"}, [1e300, -1e300, 1e-300, 0.0], [1.0, 1.0, 1e-300, 1e300]),
    ("half_mse", {}, [1e150, -1e150, 1e-300, 0.0], [0.0, 0.0, 0.0, 1e-300]),
])
def test_extreme_values_stay_finite(name, params, x, y):
    r = evaluate(name, {"predictions": x, "targets": y}, params, reduction="none",
                 want_grad=True)
    assert np.all(np.isfinite(to_np(r.value)))
    assert np.all(np.isfinite(to_np(r.gradients["predictions"])))


def test_kinks_use_the_zero_subgradient():
    # mape and pinball: gradient 0 at x == y (sign(0) = 0 / a subgradient in [-a, 1 - a])
    x, y = [1.0, 2.0, 0.0], [1.0, 1.0, 1.0]
    m = evaluate("mape", {"predictions": x, "targets": y}, {"convention": "keras"},
                 reduction="sum", want_grad=True)
    # Keras: a 1-D input is one sample, the mean of its three values
    assert_close(m.gradients["predictions"], [0.0, 100.0 / 3, -100.0 / 3])
    for params in ({"convention": "sklearn"}, {}):  # scikit-learn's is the default
        m = evaluate("mape", {"predictions": x, "targets": y}, params, reduction="sum",
                     want_grad=True)
        assert to_np(m.gradients["predictions"]).tolist() == [0.0, 1.0, -1.0]
    p = evaluate("pinball", {"predictions": x, "targets": y}, {"alpha": 0.8}, reduction="sum",
                 want_grad=True)
    assert_close(p.gradients["predictions"], [0.0, 0.2, -0.8])
    assert_close(p.value, 0.2 * 1.0 + 0.8 * 1.0)


def test_msle_clipped_predictions_get_no_gradient():
    # below eps the prediction is clipped (gradient 0); at exactly eps the unclipped side is used
    # (a column: Keras' mean over the last axis is then the elementwise loss)
    x = np.array([[-0.5], [1e-7], [0.0], [3.0]])
    y = np.array([[1.0], [1.0], [1.0], [1.0]])
    r = evaluate("msle", {"predictions": x, "targets": y}, {"convention": "keras"},
                 reduction="sum", want_grad=True)
    g = to_np(r.gradients["predictions"]).ravel()
    assert g[0] == 0.0 and g[2] == 0.0
    r_eps = math.log1p(1e-7) - math.log1p(1.0)
    assert_close(g[1], 2 * r_eps / (1 + 1e-7))
    assert_close(g[3], 2 * (math.log1p(3.0) - math.log1p(1.0)) / 4.0)
    # negative predictions all give the loss at eps
    v = to_np(evaluate("msle", {"predictions": x, "targets": y}, {"convention": "keras"},
                       reduction="none").value)
    assert v.shape == (4,) and v[0] == v[2] == pytest.approx(r_eps**2, rel=1e-15)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log_cosh", "half_mse", "mape", "msle", "pinball"])
def test_shape_mismatch_is_not_broadcast(name):
    with pytest.raises(LossError) as exc:
        evaluate(name, {"predictions": np.zeros((3, 1)), "targets": np.ones(3)})
    assert exc.value.code == "shape_mismatch" and exc.value.loc == ("targets",)


@pytest.mark.parametrize(("name", "params"), [
    ("mape", {"eps": 0.0}), ("mape", {"eps": -1e-7}), ("mape", {"percent": 1}),
    ("msle", {"eps": -1e-7}), ("msle", {"eps": float("inf")}),
    ("pinball", {"alpha": -0.1}), ("pinball", {"alpha": 1.5}), ("pinball", {"alpha": "0.5"}),
])
def test_invalid_params(name, params):
    with pytest.raises(LossError) as exc:
        evaluate(name, {"predictions": [1.0], "targets": [2.0]}, params)
    assert exc.value.code == "invalid_param"
    assert exc.value.loc == ("params", next(iter(params)))


def test_aliases_and_families():
    assert get_loss("l2_loss").name == "half_mse"
    assert get_loss("quantile").name == "pinball"
    for name in ("log_cosh", "half_mse", "mape", "msle", "pinball"):
        assert get_loss(name).family == "regression"
    r = evaluate("l2_loss", {"predictions": [3.0], "targets": [1.0]})
    assert float(to_np(r.value)) == 2.0
