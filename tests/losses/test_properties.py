"""Property tests (hypothesis): reduction consistency, invariances, identities between losses.

The identities tie independently written kernels to each other (cross_entropy vs nll of
log_softmax, bce_with_logits vs bce of sigmoid, ...), so a slip in one shows up as a disagreement.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.losses import LOSSES, evaluate, get_loss
from tests.conftest import assert_close, to_np

PROPS = settings(max_examples=25, deadline=None)
finite = st.floats(-30, 30, allow_nan=False, allow_infinity=False)
shapes = st.tuples(st.integers(1, 6), st.integers(2, 5))


def value(name, inputs, params=None, reduction="none", **kw):
    return to_np(evaluate(name, inputs, params or {}, reduction=reduction, **kw).value)


@pytest.mark.parametrize("name", sorted(LOSSES))
@PROPS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7), c=st.integers(2, 6))
def test_reductions_consistent(name, seed, n, c):
    spec = get_loss(name)
    inputs, params = spec.sampler(np.random.default_rng(seed), n, c)
    none = evaluate(name, inputs, params, reduction="none")
    total = value(name, inputs, params, "sum")
    unreduced = to_np(none.value)
    assert_close(total, unreduced.sum(), rtol=1e-12, atol=1e-12)
    k = unreduced.size / to_np(none.per_sample).shape[0]
    assert_close(total, k * to_np(none.per_sample).sum(), rtol=1e-12, atol=1e-12)
    if spec.nonnegative:
        assert np.all(unreduced >= 0)
    # a constant sample weight w scales sum by w; mean is unchanged where the weights are in
    # its denominator, and scaled by w where they are not (Keras' sum_over_batch_size)
    w = np.full(to_np(none.per_sample).shape[0], 2.5)
    assert_close(value(name, inputs, params, "sum", sample_weight=w), 2.5 * total,
                 rtol=1e-12, atol=1e-12)
    if "mean" in spec.reductions:
        conv = spec.convention(params.get("convention"))
        scale = 1.0 if conv is None or conv.weights_in_mean else 2.5
        assert_close(value(name, inputs, params, "mean", sample_weight=w),
                     scale * value(name, inputs, params, "mean"), rtol=1e-12, atol=1e-12)


def _log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@PROPS
@given(data=st.data(), shape=shapes)
def test_cross_entropy_is_nll_of_log_softmax(data, shape):
    x = data.draw(arrays(np.float64, shape, elements=finite))
    y = data.draw(arrays(np.int64, shape[:1], elements=st.integers(0, shape[1] - 1)))
    ce = evaluate("cross_entropy", {"predictions": x, "targets": y}, want_grad=True)
    nll = evaluate("nll", {"predictions": _log_softmax(x), "targets": y})
    assert_close(ce.value, nll.value, rtol=1e-12, atol=1e-12)


@PROPS
@given(data=st.data(), shape=shapes, shift=st.floats(-1e3, 1e3))
def test_cross_entropy_shift_invariant(data, shape, shift):
    x = data.draw(arrays(np.float64, shape, elements=finite))
    y = data.draw(arrays(np.int64, shape[:1], elements=st.integers(0, shape[1] - 1)))
    a = evaluate("cross_entropy", {"predictions": x, "targets": y}, want_grad=True)
    b = evaluate("cross_entropy", {"predictions": x + shift, "targets": y}, want_grad=True)
    assert_close(b.value, a.value, rtol=1e-9, atol=1e-9)
    assert_close(b.gradients["predictions"], a.gradients["predictions"], rtol=1e-9, atol=1e-9)


@PROPS
@given(data=st.data(), shape=shapes)
def test_bce_with_logits_is_bce_of_sigmoid(data, shape):
    x = data.draw(arrays(np.float64, shape, elements=st.floats(-15, 15)))
    y = data.draw(arrays(np.float64, shape, elements=st.floats(0, 1)))
    a = value("bce_with_logits", {"predictions": x, "targets": y})
    b = value("bce", {"predictions": 1 / (1 + np.exp(-x)), "targets": y})
    assert_close(a, b, rtol=1e-9, atol=1e-12)


@PROPS
@given(data=st.data(), shape=shapes)
def test_soft_margin_is_bce_with_logits_on_01_labels(data, shape):
    x = data.draw(arrays(np.float64, shape, elements=finite))
    y = data.draw(arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))
    a = value("soft_margin", {"predictions": x, "targets": y})
    b = value("bce_with_logits", {"predictions": x, "targets": (y + 1) / 2})
    assert_close(a, b, rtol=1e-12, atol=1e-12)


@PROPS
@given(data=st.data(), shape=shapes)
def test_multiclass_hinge_is_c_times_multi_margin(data, shape):
    x = data.draw(arrays(np.float64, shape, elements=finite))
    y = data.draw(arrays(np.int64, shape[:1], elements=st.integers(0, shape[1] - 1)))
    a = value("multiclass_hinge", {"predictions": x, "targets": y})
    b = value("multi_margin", {"predictions": x, "targets": y})
    assert_close(a, shape[1] * b, rtol=1e-12, atol=1e-12)


@PROPS
@given(data=st.data(), shape=shapes, delta=st.floats(0.01, 10))
def test_huber_is_delta_times_smooth_l1(data, shape, delta):
    x = data.draw(arrays(np.float64, shape, elements=finite))
    t = data.draw(arrays(np.float64, shape, elements=finite))
    a = value("huber", {"predictions": x, "targets": t}, {"delta": delta})
    b = value("smooth_l1", {"predictions": x, "targets": t}, {"beta": delta})
    assert_close(a, delta * b, rtol=1e-12, atol=1e-12)


@PROPS
@given(data=st.data(), shape=shapes)
def test_focal_losses_reduce_to_cross_entropies(data, shape):
    x = data.draw(arrays(np.float64, shape, elements=finite))
    y01 = data.draw(arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    a = value("sigmoid_focal", {"predictions": x, "targets": y01}, {"alpha": -1.0, "gamma": 0.0})
    b = value("bce_with_logits", {"predictions": x, "targets": y01})
    assert_close(a, b, rtol=1e-12, atol=1e-12)
    y = data.draw(arrays(np.int64, shape[:1], elements=st.integers(0, shape[1] - 1)))
    c = value("focal", {"predictions": x, "targets": y}, {"gamma": 0.0})
    d = value("cross_entropy", {"predictions": x, "targets": y})
    assert_close(c, d, rtol=1e-12, atol=1e-12)


@PROPS
@given(data=st.data(), n=st.integers(1, 8))
def test_gan_discriminator_is_two_bce_terms(data, n):
    r = data.draw(arrays(np.float64, (n,), elements=finite))
    f = data.draw(arrays(np.float64, (n,), elements=finite))
    d = value("gan_discriminator", {"real": r, "fake": f})
    real = value("bce_with_logits", {"predictions": r, "targets": np.ones(n)})
    fake = value("bce_with_logits", {"predictions": f, "targets": np.zeros(n)})
    assert_close(d, real + fake, rtol=1e-12, atol=1e-12)


@PROPS
@given(data=st.data(), shape=shapes)
def test_kl_of_distributions_is_nonnegative_per_row(data, shape):
    a = data.draw(arrays(np.float64, shape, elements=st.floats(0.01, 1)))
    b = data.draw(arrays(np.float64, shape, elements=st.floats(0.01, 1)))
    p = a / a.sum(axis=1, keepdims=True)
    q = b / b.sum(axis=1, keepdims=True)
    kl = value("kl_div", {"predictions": np.log(q), "targets": p})
    assert np.all(kl.sum(axis=1) >= -1e-12)
    same = value("kl_div", {"predictions": np.log(p), "targets": p})
    assert_close(same.sum(axis=1), np.zeros(shape[0]), atol=1e-12)
