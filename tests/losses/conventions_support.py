"""Shared by the tests of the ``convention`` parameter (test_conventions_*.py): the inputs they
draw, and the service's value and gradients checked against a torch oracle and against finite
differences."""

from __future__ import annotations

import numpy as np

from service.losses import evaluate
from tests.conftest import assert_close, finite_difference, torch_oracle


def interior_probabilities(rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Interior probabilities (no clip active in any convention) and mixed hard/soft labels."""
    p = rng.uniform(0.02, 0.98, size=shape)
    y = rng.uniform(size=shape)
    hard = rng.uniform(size=shape) < 0.5
    return p, np.where(hard, np.round(y), y)


def check_torch(name, inputs, params, reduction, fn, wrt):
    """The service's value and gradients of ``wrt`` equal the torch function's (autograd)."""
    value, grads = torch_oracle(fn, inputs, wrt, reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    for k in wrt:
        assert_close(r.gradients[k], grads[k], err_msg=k)
    return r


def check_fd(name, inputs, params, reductions=("mean", "sum", "none"), rtol=1e-6, atol=1e-7,
             sample_weight=None):
    """Every gradient the service gives matches central finite differences, per reduction."""
    for reduction in reductions:
        r = evaluate(name, inputs, params, reduction=reduction, want_grad=True,
                     sample_weight=sample_weight)
        for wrt, g in r.gradients.items():
            fd = finite_difference(name, inputs, params, reduction, wrt,
                                   sample_weight=sample_weight)
            assert_close(g, fd, rtol=rtol, atol=atol, err_msg=f"{reduction} d/d{wrt}")


def triplet_inputs(rng, shape=(5, 4)):
    """Anchors with positives nearer (on average) than negatives."""
    a = rng.normal(size=shape)
    return {"anchor": a, "positive": a + 0.6 * rng.normal(size=shape),
            "negative": a + 0.9 * rng.normal(size=shape)}


def ctc_inputs(rng, t_len=6, n=4, c=5):
    """Log-probabilities (T, N, C) and four padded targets with their lengths."""
    x = rng.normal(size=(t_len, n, c))
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return {"log_probs": lp, "targets": np.array([[1, 2, 1], [3, 3, 0], [4, 0, 0], [2, 4, 1]]),
            "input_lengths": np.array([6, 5, 4, 6]), "target_lengths": np.array([3, 2, 1, 3])}


def regression_inputs(name: str, shape: tuple, rng: np.random.Generator) -> dict:
    """Inputs away from every kink (x == y, |d| == delta, x == eps)."""
    if name == "mape":
        y = rng.uniform(0.2, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        x = y + rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)
    elif name == "msle":
        x = rng.uniform(-0.9, 4.0, size=shape)
        y = rng.uniform(-0.9, 4.0, size=shape)
        x = np.where(np.abs(x) < 1e-3, 0.5, x)
    else:
        y = rng.normal(size=shape) * 2.0
        x = y + rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.05, 3.0, size=shape)
        if name == "huber":
            x = np.where(np.abs(np.abs(x - y) - 1.0) < 1e-3, y + 0.5, x)
    return {"predictions": np.asarray(x, dtype=float), "targets": np.asarray(y, dtype=float)}
