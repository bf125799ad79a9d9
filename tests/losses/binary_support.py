"""Shared by the binary loss tests (test_binary.py, test_binary_logits.py, test_binary_margin.py
and test_sigmoid_focal.py): the shapes they sweep, soft labels, a weight in each accepted form, and
the service's value and gradient checked against a torch reference."""

from __future__ import annotations

import numpy as np

from service.losses import evaluate
from tests.conftest import assert_close, to_np, torch_oracle

ELEMENTWISE_SHAPES = [(), (7,), (5, 3), (2, 3, 4)]


def soft_labels(rng, shape) -> np.ndarray:
    """Labels in [0, 1], about half of them rounded to 0 or 1."""
    y = rng.uniform(0.0, 1.0, size=shape)
    hard = rng.uniform(size=shape) < 0.5
    return np.where(hard, np.round(y), y)


def check_against(name, params, inputs, reference, reduction, rtol=1e-10):
    """The service's value and predictions' gradient (of their shape) equal the torch
    reference's (autograd)."""
    value, grads = torch_oracle(reference, inputs, ("predictions",), reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value, rtol=rtol)
    assert to_np(r.gradients["predictions"]).shape == np.shape(inputs["predictions"])
    assert_close(r.gradients["predictions"], grads["predictions"], rtol=rtol)
    return r


def weight_for(kind: str | None, shape: tuple[int, ...], rng):
    """A weight param: None, a scalar, a length-1 list or a last-axis list."""
    if kind is None:
        return None
    if kind == "scalar":
        return float(rng.uniform(0.5, 2.0))
    if kind == "one":
        return [float(rng.uniform(0.5, 2.0))]
    return [float(v) for v in rng.uniform(0.2, 3.0, size=shape[-1] if shape else 1)]
