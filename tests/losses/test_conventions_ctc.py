"""The ``convention`` parameter of ctc: torch's mean divides each loss by its target length,
Keras' and optax's do not; their sample-weighted means, the exact gradient under finite
differences, and unbatched inputs.

Oracle: PyTorch 2.13.0 live (float64 autograd). Its Keras and optax goldens are in
test_conventions_multiclass.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.conventions_support import check_fd, check_torch, ctc_inputs
from tests.losses.support import REDUCTIONS, reduced, rng_for

# --------------------------------------------------------------------------------- ctc


def _torch_ctc(reduction):
    import torch.nn.functional as F

    def fn(log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths,
                          reduction=reduction)
    return fn


def test_ctc_torch_mean_divides_by_target_length_keras_optax_do_not():
    # headline: the same per-sample losses; torch's mean divides each by its target length
    inputs = ctc_inputs(rng_for("ctc-mean"))
    per = to_np(evaluate("ctc", inputs, reduction="none").value)
    value, _ = torch_oracle(_torch_ctc("mean"), inputs, (), "mean")
    torch_mean = evaluate("ctc", inputs, {"convention": "torch"}, reduction="mean")
    assert_close(torch_mean.value, value)
    assert_close(torch_mean.value, np.mean(per / inputs["target_lengths"]))
    for convention in ("keras", "optax"):
        r = evaluate("ctc", inputs, {"convention": convention}, reduction="mean")
        assert_close(r.value, per.mean())
        none = evaluate("ctc", inputs, {"convention": convention}, reduction="none")
        assert_close(none.value, per)
    assert not np.isclose(per.mean(), value)


@pytest.mark.parametrize("convention", ["keras", "optax"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_library_conventions_match_torch_none_reduced_plainly(convention, reduction):
    inputs = ctc_inputs(rng_for("ctc-plain", convention, reduction))

    def fn(**kw):
        return reduced(_torch_ctc("none")(**kw), reduction)

    check_torch("ctc", inputs, {"convention": convention}, reduction, fn, ("log_probs",))


def test_ctc_weighted_mean_keras_divides_by_n_optax_by_weights():
    inputs = ctc_inputs(rng_for("ctc-w"))
    w = np.array([1.0, 3.0, 0.5, 2.0])
    per = to_np(evaluate("ctc", inputs, reduction="none").value)
    k = evaluate("ctc", inputs, {"convention": "keras"}, sample_weight=w)
    o = evaluate("ctc", inputs, {"convention": "optax"}, sample_weight=w)
    assert_close(k.value, np.sum(w * per) / 4)
    assert_close(o.value, np.sum(w * per) / w.sum())


@pytest.mark.parametrize("convention", ["keras", "optax"])
def test_ctc_exact_gradient_matches_finite_differences(convention):
    inputs = ctc_inputs(rng_for("ctc-fd", convention), t_len=4, n=2, c=3)
    inputs["targets"] = np.array([[1, 2], [2, 0]])
    inputs["input_lengths"] = np.array([4, 3])
    inputs["target_lengths"] = np.array([2, 1])
    params = {"convention": convention, "gradient_convention": "exact"}
    check_fd("ctc", inputs, params, rtol=1e-5, atol=1e-7)
    check_fd("ctc", inputs, params, ("mean",), rtol=1e-5, atol=1e-7,
             sample_weight=np.array([0.5, 2.0]))


def test_ctc_unbatched_under_library_conventions():
    inputs = ctc_inputs(rng_for("ctc-unbatched"))
    one = {"log_probs": inputs["log_probs"][:, 0, :], "targets": inputs["targets"][0],
           "input_lengths": 6, "target_lengths": 3}
    none = evaluate("ctc", one, reduction="none")
    for convention in ("keras", "optax"):
        r = evaluate("ctc", one, {"convention": convention}, reduction="mean")
        assert_close(r.value, none.value)
    torch_mean = evaluate("ctc", one, reduction="mean")
    assert_close(torch_mean.value, to_np(none.value) / 3)
