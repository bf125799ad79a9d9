"""Helpers shared by the loss test modules that test one service module each (binary,
multiclass, the convention tests...): a generator seeded from a key and the LossError a call
raises."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

from service.losses import LossError, evaluate

REDUCTIONS = ["none", "mean", "sum"]


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
