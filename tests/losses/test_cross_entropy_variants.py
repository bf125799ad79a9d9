"""generalized_cross_entropy and poly1_cross_entropy (service/losses/cross_entropy_variants.py),
and the library goldens of those two and of Keras' focal losses (test_keras_focal.py).

Oracles:
* Keras 3.15.1 and optax 0.2.8 golden values with ``jax.grad`` gradients (JAX, float64), recorded
  by ``tests/goldens/make_cross_entropy_variants.py`` into
  ``tests/goldens/cross_entropy_variants.json``. Keras's BinaryFocalCrossentropy ends in
  ``ops.mean``, which computes in float32 even for float64 inputs: its raw values are compared at
  1e-7, and the same call with that mean done in float64 (also recorded) at 1e-10.
* Independent references in torch 2.13.0 ops (the cited formulas) with autograd for gradients.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np
from tests.losses.support import REDUCTIONS, check_oracle, loss_error, prob_rows, reduced, rng_for

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "cross_entropy_variants.json").read_text())


# ------------------------------------------------------------------------------------ goldens


def _case_id(case) -> str:
    return f"{case['loss']}-{json.dumps(case['params'], sort_keys=True)}-{case['note'][:15]}"


def _golden_inputs(case) -> dict:
    return dict(case["inputs"])


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=_case_id)
def test_library_goldens(case):
    # Keras 3.15.1 / optax 0.2.8 on JAX (float64): tests/goldens/make_cross_entropy_variants.py
    r = evaluate(case["loss"], _golden_inputs(case), case["params"], reduction="none",
                 want_grad=True)
    if case["loss"] == "binary_focal":
        assert_close(r.value, case["unreduced"], rtol=1e-7)  # Keras's float32 mean
        assert_close(r.value, case["unreduced_float64_mean"])
    else:
        assert_close(r.value, case["unreduced"])
    assert_close(r.gradients["predictions"], case["grad_of_sum"])
    if "targets_as_indices" in case:  # the same one-hot targets sent as class indices
        inputs = {**case["inputs"], "targets": case["targets_as_indices"]}
        ri = evaluate(case["loss"], inputs, case["params"], reduction="none", want_grad=True)
        assert_close(ri.value, case["unreduced"])
        assert_close(ri.gradients["predictions"], case["grad_of_sum"])


def test_goldens_cover_every_loss():
    assert {c["loss"] for c in GOLDENS["cases"]} == {
        "binary_focal", "categorical_focal", "generalized_cross_entropy", "poly1_cross_entropy"}


# ------------------------------------------------------------------- generalized_cross_entropy


def _torch_gce(q, reduction):
    import torch

    def fn(predictions, targets):
        p = torch.gather(predictions, -1, targets[..., None])[..., 0]
        return reduced((1.0 - p**q) / q, reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("q", [0.5, 0.05, 0.9, 1.0])
def test_generalized_cross_entropy_matches_torch_reference(q, reduction):
    rng = rng_for("gce", q, reduction)
    x = prob_rows(rng, (6, 4))
    y = rng.integers(0, 4, size=6)
    check_oracle("generalized_cross_entropy", {"predictions": x, "targets": y}, {"q": q}, reduction,
                 _torch_gce(q, reduction))
    check_oracle("generalized_cross_entropy", {"predictions": x[0], "targets": np.int64(y[0])},
                 {"q": q}, reduction, _torch_gce(q, reduction))


def test_generalized_cross_entropy_limits():
    rng = rng_for("gce-limits")
    x, y = prob_rows(rng, (5, 3)), rng.integers(0, 3, size=5)
    p_y = x[np.arange(5), y]
    small = evaluate("generalized_cross_entropy", {"predictions": x, "targets": y},
                     {"q": 1e-6}, reduction="none")
    assert_close(small.value, -np.log(p_y), rtol=1e-5)  # q -> 0: cross-entropy
    one = evaluate("generalized_cross_entropy", {"predictions": x, "targets": y}, {"q": 1.0},
                   reduction="none")
    assert_close(one.value, 1.0 - p_y)
    edge = evaluate("generalized_cross_entropy", {"predictions": [[0.0, 1.0], [1.0, 0.0]],
                                                  "targets": [1, 1]}, reduction="none",
                    want_grad=True)
    assert_close(edge.value, [0.0, 2.0])  # p_y = 1 gives 0, p_y = 0 gives 1/q
    g = to_np(edge.gradients["predictions"])
    assert_close(g[0], [0.0, -1.0])
    assert g[1, 1] == -np.inf and g[1, 0] == 0.0  # -p^(q-1) at p = 0


def test_generalized_cross_entropy_errors():
    e = loss_error("generalized_cross_entropy", {"predictions": [[0.5, 0.5]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = loss_error("generalized_cross_entropy", {"predictions": [[1.5, -0.5]], "targets": [0]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 0, 0)
    for q in (0.0, 1.5, -0.1):
        e = loss_error("generalized_cross_entropy", {"predictions": [[0.5, 0.5]], "targets": [0]},
                       {"q": q})
        assert e.code == "invalid_param" and e.loc == ("params", "q")


# ----------------------------------------------------------------------- poly1_cross_entropy


def _torch_poly1(eps, reduction):
    import torch

    def fn(predictions, targets):
        logp = torch.log_softmax(predictions, -1)
        if not targets.is_floating_point():
            targets = torch.nn.functional.one_hot(targets, predictions.shape[-1]).double()
        loss = -(targets * logp).sum(-1) + eps * (targets * (1.0 - logp.exp())).sum(-1)
        return reduced(loss, reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (6, 5)])
@pytest.mark.parametrize("eps", [2.0, -1.0, 0.0, 7.5])
def test_poly1_matches_torch_reference(eps, shape, reduction):
    rng = rng_for("poly", eps, shape, reduction)
    x = rng.normal(size=shape) * 2.0
    probs = prob_rows(rng, shape)
    idx = np.asarray(rng.integers(0, 5, size=shape[:-1]), dtype=np.int64)
    for t in (probs, idx):
        check_oracle("poly1_cross_entropy", {"predictions": x, "targets": t}, {"epsilon": eps},
                     reduction, _torch_poly1(eps, reduction))


def test_poly1_epsilon_zero_is_cross_entropy():
    rng = rng_for("poly-ce")
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 4, size=8)
    a = evaluate("poly1_cross_entropy", {"predictions": x, "targets": y}, {"epsilon": 0.0},
                 want_grad=True)
    b = evaluate("cross_entropy", {"predictions": x, "targets": y}, want_grad=True)
    assert_close(a.value, b.value)
    assert_close(a.gradients["predictions"], b.gradients["predictions"])


def test_poly1_stable_at_logits_of_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    y = np.array([1, 2])
    r = check_oracle("poly1_cross_entropy", {"predictions": x, "targets": y}, {}, "none",
                     _torch_poly1(2.0, "none"))
    assert_close(r.value, [2000.0 + 2.0, 1.0 + np.log1p(np.exp(-1.0)) + 2.0 * (1 - 1 / (1 + np.e))],
                 rtol=1e-12)


def test_poly1_accurate_when_the_target_dominates():
    # p_y = 1 - 1e-13: CE and 1 - p_y are both ~1e-13, computed without cancellation
    d = 13 * np.log(10.0)
    r = evaluate("poly1_cross_entropy", {"predictions": [[d, 0.0]], "targets": [0]},
                 {"epsilon": 2.0}, reduction="none")
    q = np.exp(-d) / (1 + np.exp(-d))  # 1 - p_y
    assert_close(r.value, [np.log1p(np.exp(-d)) + 2.0 * q], rtol=1e-12)


def test_poly1_errors():
    e = loss_error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [[0.5, 0.6]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 0)
    e = loss_error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = loss_error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = loss_error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [0]},
                   {"epsilon": -1.5})
    assert e.code == "invalid_param" and e.loc == ("params", "epsilon")
