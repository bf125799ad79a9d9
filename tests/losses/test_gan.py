"""GAN losses (Goodfellow et al. 2014) against references written with torch ops (float64).

torch has no GAN loss, so the references are the textbook forms built from torch primitives:
the discriminator as BCE-with-logits of the real logits against ones plus the fake logits against
zeros (and, independently, with F.logsigmoid); the generator as BCE-with-logits against ones
(non-saturating) and log(1 - sigmoid(f)) (saturating). Gradients come from torch autograd.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, torch_oracle

SHAPES = [(), (7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _reduce(t, reduction: str):
    return t if reduction == "none" else (t.mean() if reduction == "mean" else t.sum())


def _logits(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    # |logit| <= 6 keeps log(1 - sigmoid(f)) (the naive saturating reference) accurate to 1e-13
    return np.clip(rng.normal(size=shape) * 2.5, -6.0, 6.0)


# --------------------------------------------------------------------------------------------
# gan_discriminator
# --------------------------------------------------------------------------------------------


def _disc_bce(reduction: str):
    import torch
    import torch.nn.functional as F

    def fn(real, fake):
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real),
                                                   reduction=reduction)
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake),
                                                     reduction=reduction))

    return fn


def _disc_logsigmoid(reduction: str):
    import torch.nn.functional as F

    def fn(real, fake):
        # -[log D(x) + log(1 - D(G(z)))], log(1 - sigmoid(f)) = logsigmoid(-f)
        return _reduce(-(F.logsigmoid(real) + F.logsigmoid(-fake)), reduction)

    return fn


@pytest.mark.parametrize("reference", ["bce", "logsigmoid"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_discriminator_matches_torch(shape, reduction, reference):
    pytest.importorskip("torch")
    rng = np.random.default_rng(_seed("disc", shape, reduction))
    inputs = {"real": _logits(rng, shape) + 1.0, "fake": _logits(rng, shape) - 1.0}
    fn = _disc_bce(reduction) if reference == "bce" else _disc_logsigmoid(reduction)
    value, grads = torch_oracle(fn, inputs, ("real", "fake"), reduction)
    r = evaluate("gan_discriminator", inputs, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == value.shape
    assert_close(r.value, value)
    assert_close(r.gradients["real"], grads["real"])
    assert_close(r.gradients["fake"], grads["fake"])


def test_discriminator_mean_is_sum_of_the_two_bce_means():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    r = evaluate("gan_discriminator", {"real": real, "fake": fake}, reduction="mean")
    # mean BCE(real, 1) + mean BCE(fake, 0), each by hand from sigmoid
    bce_real = np.mean(-np.log(1 / (1 + np.exp(-real))))
    bce_fake = np.mean(-np.log(1 - 1 / (1 + np.exp(-fake))))
    assert_close(r.value, bce_real + bce_fake)


def test_discriminator_golden_at_the_global_optimum():
    # Goodfellow et al. 2014, Theorem 1: at D = 1/2 (logit 0) the value is V = -log 4,
    # so the discriminator loss -V is log 4 per pair; gradients sigma(0) - 1 = -1/2 and 1/2.
    r = evaluate("gan_discriminator", {"real": [0.0, 0.0], "fake": [0.0, 0.0]},
                 reduction="none", want_grad=True)
    assert_close(r.value, [math.log(4.0)] * 2)
    assert_close(r.gradients["real"], [-0.5, -0.5])
    assert_close(r.gradients["fake"], [0.5, 0.5])


def test_discriminator_stable_at_extreme_logits():
    torch = pytest.importorskip("torch")
    real = np.array([1000.0, -1000.0, 1000.0, -1000.0, 40.0])
    fake = np.array([1000.0, -1000.0, -1000.0, 1000.0, -40.0])
    inputs = {"real": real, "fake": fake}
    value, grads = torch_oracle(_disc_bce("none"), inputs, ("real", "fake"), "none")
    r = evaluate("gan_discriminator", inputs, reduction="none", want_grad=True)
    assert np.all(np.isfinite(to_np(r.value)))
    assert_close(r.value, value)
    assert_close(r.value, [1000.0, 1000.0, 0.0, 2000.0, 2 * math.log1p(math.exp(-40.0))])
    assert_close(r.gradients["real"], grads["real"])
    assert_close(r.gradients["fake"], grads["fake"])
    # sigma(40) - 1 = -sigma(-40) ~ -4.2e-18 exactly, where 1 - sigma(40) would round to 0
    g = to_np(r.gradients["real"])[4]
    assert_close(g, -1.0 / (1.0 + math.exp(40.0)), rtol=1e-14, atol=0)
    assert torch.sigmoid(torch.tensor(40.0, dtype=torch.float64)).item() == 1.0


@pytest.mark.parametrize(("real", "fake"), [
    (np.zeros(3), np.zeros(4)), (np.zeros((3, 1)), np.zeros(3)), (np.zeros(3), np.zeros(())),
])
def test_discriminator_shape_mismatch(real, fake):
    with pytest.raises(LossError) as exc:
        evaluate("gan_discriminator", {"real": real, "fake": fake})
    assert exc.value.code == "shape_mismatch" and exc.value.loc == ("fake",)


def test_discriminator_missing_input():
    with pytest.raises(LossError) as exc:
        evaluate("gan_discriminator", {"real": [1.0]})
    assert exc.value.code == "missing_input" and exc.value.loc == ("fake",)


# --------------------------------------------------------------------------------------------
# gan_generator
# --------------------------------------------------------------------------------------------


def _gen_torch(variant: str, reduction: str, form: str):
    import torch
    import torch.nn.functional as F

    def fn(fake):
        if variant == "non_saturating":
            if form == "textbook":
                return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake),
                                                          reduction=reduction)
            return _reduce(-F.logsigmoid(fake), reduction)
        if form == "textbook":  # the minimax form, as written in the paper
            return _reduce(torch.log(1 - torch.sigmoid(fake)), reduction)
        return _reduce(-F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake),
                                                           reduction="none"), reduction)

    return fn


@pytest.mark.parametrize("form", ["textbook", "stable"])
@pytest.mark.parametrize("variant", ["non_saturating", "saturating"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_generator_matches_torch(shape, reduction, variant, form):
    pytest.importorskip("torch")
    rng = np.random.default_rng(_seed("gen", shape, reduction, variant))
    inputs = {"fake": _logits(rng, shape)}
    value, grads = torch_oracle(_gen_torch(variant, reduction, form), inputs, ("fake",),
                                reduction)
    r = evaluate("gan_generator", inputs, {"variant": variant}, reduction=reduction,
                 want_grad=True)
    assert to_np(r.value).shape == value.shape
    assert_close(r.value, value)
    assert_close(r.gradients["fake"], grads["fake"])


def test_generator_default_is_non_saturating():
    f = [-2.0, 0.0, 1.0]
    a = evaluate("gan_generator", {"fake": f}, reduction="none")
    b = evaluate("gan_generator", {"fake": f}, {"variant": "non_saturating"}, reduction="none")
    assert_close(a.value, b.value)
    assert_close(a.value, [math.log1p(math.exp(2.0)), math.log(2.0), math.log1p(math.exp(-1.0))])


def test_generator_golden_at_half():
    # D(G(z)) = 1/2: -log(1/2) = log 2 (non-saturating), log(1/2) = -log 2 (saturating);
    # gradients sigma(0) - 1 = -1/2 and -sigma(0) = -1/2.
    ns = evaluate("gan_generator", {"fake": [0.0]}, reduction="sum", want_grad=True)
    sat = evaluate("gan_generator", {"fake": [0.0]}, {"variant": "saturating"},
                   reduction="sum", want_grad=True)
    assert_close(ns.value, math.log(2.0))
    assert_close(sat.value, -math.log(2.0))
    assert_close(ns.gradients["fake"], [-0.5])
    assert_close(sat.gradients["fake"], [-0.5])


def test_generator_saturating_gradient_vanishes_when_d_rejects_fakes():
    # The motivation for the non-saturating loss (Goodfellow et al. 2014, Section 3).
    f = [-10.0]
    sat = evaluate("gan_generator", {"fake": f}, {"variant": "saturating"}, want_grad=True)
    ns = evaluate("gan_generator", {"fake": f}, want_grad=True)
    assert abs(float(to_np(sat.gradients["fake"])[0])) < 1e-4
    assert_close(ns.gradients["fake"], [-1.0 / (1.0 + math.exp(-10.0))])


@pytest.mark.parametrize("variant", ["non_saturating", "saturating"])
def test_generator_stable_at_extreme_logits(variant):
    pytest.importorskip("torch")
    inputs = {"fake": np.array([1000.0, -1000.0, 0.0])}
    # log(1 - sigmoid(1000)) is -inf in floating point, so the reference is the logsigmoid form
    value, grads = torch_oracle(_gen_torch(variant, "none", "stable"), inputs, ("fake",),
                                "none")
    r = evaluate("gan_generator", inputs, {"variant": variant}, reduction="none",
                 want_grad=True)
    assert np.all(np.isfinite(to_np(r.value)))
    assert_close(r.value, value)
    assert_close(r.gradients["fake"], grads["fake"])
    if variant == "non_saturating":  # softplus(-f)
        expected = [0.0, 1000.0, math.log(2.0)]
    else:  # -softplus(f)
        expected = [-1000.0, 0.0, -math.log(2.0)]
    assert_close(r.value, expected)


@pytest.mark.parametrize("variant", ["minimax", "", "Saturating", 1, None])
def test_generator_invalid_variant(variant):
    with pytest.raises(LossError) as exc:
        evaluate("gan_generator", {"fake": [0.0]}, {"variant": variant})
    assert exc.value.code == "invalid_param" and exc.value.loc == ("params", "variant")


def test_generator_unknown_input():
    with pytest.raises(LossError) as exc:
        evaluate("gan_generator", {"fake": [0.0], "real": [1.0]})
    assert exc.value.code == "unknown_input" and exc.value.loc == ("real",)
