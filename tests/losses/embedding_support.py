"""Shared by the embedding loss tests (test_embedding.py and test_triplet.py): PyTorch's function
for each loss, a seed per test case, the service's value and gradients checked against PyTorch
(autograd), and a refusal checked for its code and location."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle


def torch_fn(name: str, reduction: str, params: dict):
    """``torch.nn.functional``'s function for loss ``name``, taking its inputs by name."""
    import torch.nn.functional as F

    fns = {
        "triplet_margin": lambda anchor, positive, negative: F.triplet_margin_loss(
            anchor, positive, negative, reduction=reduction, **params),
        "margin_ranking": lambda input1, input2, targets: F.margin_ranking_loss(
            input1, input2, targets, reduction=reduction, **params),
        "cosine_embedding": lambda input1, input2, targets: F.cosine_embedding_loss(
            input1, input2, targets, reduction=reduction, **params),
        "hinge_embedding": lambda predictions, targets: F.hinge_embedding_loss(
            predictions, targets, reduction=reduction, **params),
    }
    return fns[name]


def seed_for(*key: object) -> int:
    """A reproducible seed per test case (``hash`` of a str changes between runs)."""
    return zlib.crc32(repr(key).encode())


def check_against_torch(name: str, inputs: dict, params: dict, reduction: str) -> None:
    """The service's value (of torch's shape) and gradients equal PyTorch's (autograd)."""
    diff = get_loss(name).differentiable_inputs
    value, grads = torch_oracle(torch_fn(name, reduction, params), inputs, diff, reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    for k in diff:
        assert_close(r.gradients[k], grads[k], err_msg=f"d/d{k}")


def raises_at(name: str, inputs: dict, params: dict | None, code: str, loc: tuple) -> None:
    """The call is refused with ``code`` at ``loc``."""
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params or {})
    assert exc.value.code == code, exc.value
    assert exc.value.loc == loc, exc.value
