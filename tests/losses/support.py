"""Helpers shared by the loss test modules that test one service module each (binary,
multiclass, the convention tests...): the float eps and Keras' epsilon, a generator seeded from a
key, PyTorch (or a skip) and a param as its tensor, the LossError a call raises, a reduction
written for the torch references, random probability rows, scikit-learn's metrics (or a skip), and
the service's value and gradients checked against a torch oracle."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, torch_oracle

REDUCTIONS = ["none", "mean", "sum"]
F64_EPS = float(np.finfo(np.float64).eps)
F32_EPS = float(np.finfo(np.float32).eps)
KERAS_EPS = 1e-7  # Keras' epsilon, its probability clip


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from ``key`` (crc32: stable across runs, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def torch_or_skip():
    """PyTorch (the oracle), or a clean skip where it is not installed."""
    return pytest.importorskip("torch")


def tensor_or_none(value):
    """A weight param as a float64 tensor for torch (None stays None)."""
    torch = torch_or_skip()

    if value is None:
        return None
    return torch.as_tensor(value, dtype=torch.float64)


def loss_error(name: str, inputs: Any, params: Any = None, **kw: Any) -> LossError:
    """The LossError that ``evaluate(name, inputs, params, **kw)`` raises."""
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params, **kw)
    return exc.value


def reduced(loss: Any, reduction: str) -> Any:
    """A torch (or NumPy) loss reduced as ``reduction`` says: none, mean or sum."""
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def prob_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random rows over the last axis, each summing to 1, every entry at least about 0.05/C."""
    p = rng.uniform(0.05, 1.0, size=shape)
    return p / p.sum(axis=-1, keepdims=True)


def sklearn_metrics():
    """``sklearn.metrics`` (a live oracle), or a clean skip where it is not installed."""
    return pytest.importorskip("sklearn.metrics")


def check_oracle(name: str, inputs: dict, params: Any, reduction: str,
                 torch_fn: Callable[..., Any], wrt: tuple[str, ...] = ("predictions",),
                 rtol: float = 1e-10) -> Any:
    """The service's value and its gradients of ``wrt`` equal the torch function's (autograd)."""
    value, grads = torch_oracle(torch_fn, inputs, wrt, reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=bool(wrt))
    assert_close(r.value, value, rtol=rtol)
    for k in wrt:
        assert_close(r.gradients[k], grads[k], rtol=rtol)
    return r
