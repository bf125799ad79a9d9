"""binary_cross_entropy_with_logits and multilabel_soft_margin (service/losses/binary_logits.py)
against the PyTorch oracle (torch 2.13.0, float64), every weight and pos_weight form, and exact,
finite values at logits of +-1000 (float64 and float32)."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np
from tests.losses.binary_support import ELEMENTWISE_SHAPES, check_against, soft_labels, weight_for
from tests.losses.support import REDUCTIONS, rng_for, tensor_or_none, torch_or_skip

# --------------------------------------------------------------------------------------------
# PyTorch oracle
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize(("weight_kind", "pos_kind"), [
    (None, None), ("last", None), (None, "last"), ("scalar", "last"), ("last", "one"),
    ("one", "scalar"),
])
def test_bce_with_logits_matches_torch(weight_kind, pos_kind, shape, reduction):
    F = torch_or_skip().nn.functional

    rng = rng_for("bcel", weight_kind, pos_kind, shape, reduction)
    x = rng.normal(size=shape) * 3.0
    y = soft_labels(rng, shape)
    weight = weight_for(weight_kind, shape, rng)
    pos_weight = weight_for(pos_kind, shape, rng)
    if shape == ():
        weight = weight[0] if isinstance(weight, list) else weight
        pos_weight = pos_weight[0] if isinstance(pos_weight, list) else pos_weight

    def ref(predictions, targets):
        return F.binary_cross_entropy_with_logits(
            predictions, targets, weight=tensor_or_none(weight),
            pos_weight=tensor_or_none(pos_weight), reduction=reduction)

    params = {k: v for k, v in (("weight", weight), ("pos_weight", pos_weight)) if v is not None}
    check_against("binary_cross_entropy_with_logits", params, {"predictions": x, "targets": y},
                  ref, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (1, 3), (6, 5)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("soft", [False, True])
def test_multilabel_soft_margin_matches_torch(soft, weighted, shape, reduction):
    F = torch_or_skip().nn.functional

    rng = rng_for("mlsm", soft, weighted, shape, reduction)
    x = rng.normal(size=shape) * 3.0
    y = soft_labels(rng, shape) if soft else rng.integers(0, 2, size=shape).astype(float)
    weight = [float(v) for v in rng.uniform(0.2, 3.0, size=shape[-1])] if weighted else None

    def ref(predictions, targets):
        return F.multilabel_soft_margin_loss(predictions, targets,
                                             weight=tensor_or_none(weight), reduction=reduction)

    r = check_against("multilabel_soft_margin", {"weight": weight},
                      {"predictions": x, "targets": y}, ref, reduction)
    if reduction == "none":
        assert to_np(r.value).shape == shape[:-1]  # (N,), or () for a 1-D input


def test_multilabel_soft_margin_is_mean_over_classes_of_bce_with_logits():
    rng = rng_for("mlsm-bce")
    x, y = rng.normal(size=(4, 3)), rng.integers(0, 2, size=(4, 3)).astype(float)
    w = [0.5, 1.0, 2.0]
    a = evaluate("multilabel_soft_margin", {"predictions": x, "targets": y}, {"weight": w},
                 reduction="none")
    b = evaluate("bce_with_logits", {"predictions": x, "targets": y}, {"weight": w},
                 reduction="none")
    assert_close(a.value, to_np(b.value).mean(axis=1))


# --------------------------------------------------------------------------------------------
# Stability and edge cases
# --------------------------------------------------------------------------------------------


def test_bce_with_logits_at_extreme_logits_equals_torch():
    F = torch_or_skip().nn.functional

    x = np.array([1000.0, -1000.0, 1000.0, -1000.0, 1000.0, -1000.0, 40.0, -40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.7, 0.0, 1.0])
    for params in ({}, {"pos_weight": 2.0, "weight": 0.5}):
        def ref(predictions, targets, params=params):
            return F.binary_cross_entropy_with_logits(
                predictions, targets, weight=tensor_or_none(params.get("weight")),
                pos_weight=tensor_or_none(params.get("pos_weight")), reduction="none")

        r = check_against("bce_with_logits", params, {"predictions": x, "targets": y}, ref,
                          "none")
        assert np.all(np.isfinite(to_np(r.value)))
    r = evaluate("bce_with_logits", {"predictions": x[:2], "targets": y[:2]}, reduction="none")
    assert to_np(r.value).tolist() == [1000.0, 1000.0]


def test_bce_with_logits_extreme_logits_in_float32():
    r = evaluate("bce_with_logits", {"predictions": [1000.0, -1000.0], "targets": [0.0, 1.0]},
                 reduction="none", dtype="float32", want_grad=True)
    assert to_np(r.value).tolist() == [1000.0, 1000.0]
    assert to_np(r.gradients["predictions"]).tolist() == [1.0, -1.0]
