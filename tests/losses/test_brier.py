"""brier (service/losses/brier.py) against an independent reference in torch 2.13.0 ops with
autograd for gradients, and scikit-learn 1.9.1's ``brier_score_loss`` live: binary and multiclass
probabilities, each ``scale_by_half``, sample weights, edges and every error code."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np
from tests.losses.support import REDUCTIONS, check_oracle, loss_error, prob_rows, reduced, rng_for

# ------------------------------------------------------------------------------------- brier


def _torch_brier(s, binary, reduction):
    import torch

    def fn(predictions, targets):
        if binary:
            p = predictions.reshape(-1)
            loss = 2.0 * s * (targets.double() - p) ** 2
        else:
            oh = torch.nn.functional.one_hot(targets, predictions.shape[-1]).double()
            loss = s * ((oh - predictions) ** 2).sum(-1)
        return reduced(loss, reduction)
    return fn


SCALES = {"auto": None, True: 0.5, False: 1.0}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("c", [1, 2, 3, 5])  # c = 1: binary (N,) probabilities
def test_brier_matches_torch_reference(c, scale, reduction):
    rng = rng_for("brier", c, scale, reduction)
    binary = c == 1
    x = rng.uniform(size=7) if binary else prob_rows(rng, (7, c))
    y = rng.integers(0, 2 if binary else c, size=7)
    s = SCALES[scale] if SCALES[scale] is not None else (0.5 if binary or c < 3 else 1.0)
    check_oracle("brier", {"predictions": x, "targets": y}, {"scale_by_half": scale}, reduction,
                 _torch_brier(s, binary, reduction))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("scale", [("auto", "auto"), (True, True), (False, False)])
@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_brier_mean_is_sklearn_brier_score_loss(c, scale, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("sk-brier", c, scale, weighted)
    n = 12
    x = rng.uniform(size=n) if c == 1 else prob_rows(rng, (n, c))
    y = rng.integers(0, 2 if c == 1 else c, size=n)
    y[:2] = [0, 1]
    sw = rng.uniform(0.1, 3.0, size=n) if weighted else None
    kw = {} if c == 1 else {"labels": list(range(c))}
    expected = metrics.brier_score_loss(y, x, sample_weight=sw, scale_by_half=scale[1], **kw)
    r = evaluate("brier", {"predictions": x, "targets": y}, {"scale_by_half": scale[0]},
                 sample_weight=sw)
    assert_close(r.value, expected)
    if c == 1:  # (N, 1) is binary too, as in scikit-learn
        r1 = evaluate("brier", {"predictions": x[:, None], "targets": y},
                      {"scale_by_half": scale[0]}, sample_weight=sw, want_grad=True)
        assert_close(r1.value, expected)
        assert to_np(r1.gradients["predictions"]).shape == (n, 1)


def test_brier_float_binary_labels_and_unnormalised_rows_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = np.array([0.1, 0.9, 0.8, 0.3]), np.array([0.0, 1.0, 1.0, 0.0])
    assert_close(evaluate("brier", {"predictions": x, "targets": y}).value,
                 metrics.brier_score_loss(y, x))
    rows = np.array([[0.5, 0.3, 0.1], [0.2, 0.2, 0.2]])  # sklearn warns, computes
    yi = np.array([0, 2])
    with pytest.warns(UserWarning):
        expected = metrics.brier_score_loss(yi, rows, labels=[0, 1, 2])
    assert_close(evaluate("brier", {"predictions": rows, "targets": yi}).value, expected)


def test_brier_edges():
    r = evaluate("brier", {"predictions": [0.0, 1.0, 1.0, 0.0], "targets": [0, 1, 0, 1]},
                 reduction="none", want_grad=True)
    assert_close(r.value, [0.0, 0.0, 1.0, 1.0])
    assert_close(r.gradients["predictions"], [0.0, 0.0, 2.0, -2.0])


def test_brier_errors():
    e = loss_error("brier", {"predictions": [0.2, 1.2], "targets": [0, 1]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 1)
    e = loss_error("brier", {"predictions": [0.2, 0.7], "targets": [0, 2]})
    assert e.code == "invalid_label" and e.loc == ("targets", 1)
    e = loss_error("brier", {"predictions": [0.2, 0.7], "targets": [0, 1, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    rows = [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
    e = loss_error("brier", {"predictions": rows, "targets": [0, 3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = loss_error("brier", {"predictions": rows, "targets": [0.0, 1.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = loss_error("brier", {"predictions": np.full((2, 2, 2), 0.5), "targets": [0, 1]})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = loss_error("brier", {"predictions": rows, "targets": [0, 1]}, {"scale_by_half": "true"})
    assert e.code == "invalid_param" and e.loc == ("params", "scale_by_half")
    e = loss_error("brier", {"predictions": rows, "targets": [0, 1]}, {"scale_by_half": 1})
    assert e.code == "invalid_param" and e.loc == ("params", "scale_by_half")


def test_brier_kernel_accepts_boolean_scale_by_half():
    # sklearn's booleans, straight to the kernel
    import array_api_compat.numpy as xnp

    from service.losses.brier import brier

    x, y = xnp.asarray([[0.2, 0.3, 0.5]]), xnp.asarray([2])
    assert_close(brier(x, y, scale_by_half=True).loss, [(0.04 + 0.09 + 0.25) / 2])
    assert_close(brier(x, y, scale_by_half=False).loss, [0.04 + 0.09 + 0.25])
