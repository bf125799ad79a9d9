"""CTC loss against PyTorch 2.13.0 (``F.ctc_loss``, float64), a brute-force sum over alignments,
finite differences, hand-computed values, stability and every error with its location."""

from __future__ import annotations

import itertools
import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle

REDUCTIONS = ["none", "mean", "sum"]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _case(seed_key, t, n, c, s, blank=0, repeats=True, scale=1.0):
    """Random log_softmax frames, feasible padded targets (with repeats) and lengths."""
    rng = np.random.default_rng(zlib.crc32(repr(seed_key).encode()))
    lp = _log_softmax(rng.normal(size=(t, n, c)) * scale)
    labels = [k for k in range(c) if k != blank]
    targets = rng.choice(labels, size=(n, s))
    if repeats and s >= 2:
        targets[0, 1] = targets[0, 0]  # a repeat: needs a blank between the two
    tl = rng.integers(0, s + 1, size=n)
    tl[0] = s
    # shortest input that can emit the target: L + number of adjacent repeats
    need = np.array([tl[i] + sum(targets[i, j] == targets[i, j - 1] for j in range(1, tl[i]))
                     for i in range(n)])
    il = np.array([rng.integers(min(need[i], t), t + 1) for i in range(n)])
    il[0] = t
    # padding past each length: junk that must be ignored
    for i in range(n):
        targets[i, tl[i]:] = -1 if i % 2 else blank
    return lp, targets.astype(np.int64), il.astype(np.int64), tl.astype(np.int64)


def _torch_ctc(reduction, blank=0, zero_infinity=False):
    import torch.nn.functional as F

    def fn(log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank,
                          reduction=reduction, zero_infinity=zero_infinity)

    return fn


def _concat(targets, tl):
    return np.concatenate([targets[i, :tl[i]] for i in range(len(tl))]).astype(np.int64)


SHAPES = [  # (T, N, C, S)
    (1, 1, 2, 1), (5, 3, 4, 2), (8, 4, 5, 3), (12, 2, 3, 5), (6, 7, 6, 1),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("blank", [0, "last"])
@pytest.mark.parametrize("form", ["padded", "concatenated"])
def test_matches_torch(shape, blank, reduction, form):
    t, n, c, s = shape
    blank = c - 1 if blank == "last" else blank
    lp, targets, il, tl = _case((shape, blank, reduction, form), t, n, c, s, blank)
    if form == "concatenated":
        if tl.sum() == 0:
            tl[0] = 1
        targets = _concat(targets, tl)
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    value, grads = torch_oracle(_torch_ctc(reduction, blank), inputs, ("log_probs",), reduction)
    r = evaluate("ctc", inputs, {"blank": blank}, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["log_probs"], grads["log_probs"])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unbatched_matches_torch(reduction):
    lp, targets, _, _ = _case("unbatched", 6, 1, 4, 3, repeats=True)
    inputs = {"log_probs": lp[:, 0, :], "targets": targets[0], "input_lengths": np.int64(6),
              "target_lengths": np.int64(3)}
    value, grads = torch_oracle(_torch_ctc(reduction), inputs, ("log_probs",), reduction)
    r = evaluate("ctc", inputs, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value) == ()
    assert_close(r.value, value)
    assert_close(r.gradients["log_probs"], grads["log_probs"])
    assert to_np(r.gradients["log_probs"]).shape == (6, 4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_infinity_matches_torch(reduction):
    lp, targets, il, tl = _case("zinf", 6, 4, 4, 3)
    targets[1, :3] = [1, 1, 1]  # needs 5 frames
    targets[2, :2] = [2, 3]
    tl[1], il[1] = 3, 4  # impossible
    il[2], tl[2] = 0, 2  # no frames, non-empty target: impossible
    il[3], tl[3] = 0, 0  # no frames, empty target: loss 0
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    value, grads = torch_oracle(_torch_ctc(reduction, zero_infinity=True), inputs,
                                ("log_probs",), reduction)
    r = evaluate("ctc", inputs, {"zero_infinity": True}, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["log_probs"], grads["log_probs"])
    none = to_np(evaluate("ctc", inputs, {"zero_infinity": True}, reduction="none").value)
    assert none[1] == 0.0 and none[2] == 0.0 and none[3] == 0.0


def test_impossible_alignment_is_inf_without_nan_gradients():
    torch = pytest.importorskip("torch")
    lp, targets, il, tl = _case("imp", 5, 2, 4, 2)
    targets[1, :2] = [2, 2]
    il[1], tl[1] = 2, 2  # "2 2" needs 3 frames
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    r = evaluate("ctc", inputs, reduction="none", want_grad=True)
    value = to_np(r.value)
    assert math.isfinite(value[0]) and value[1] == math.inf
    g = to_np(r.gradients["log_probs"])
    assert np.all(np.isfinite(g))
    assert np.all(g[:, 1, :] == 0.0)  # PyTorch gives NaN here; we give 0
    # the feasible sample's gradient is PyTorch's
    t = torch.tensor(lp, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(t, torch.tensor(targets), torch.tensor(il),
                                        torch.tensor(tl), reduction="none")
    (gt,) = torch.autograd.grad(loss.sum(), t)
    assert torch.isnan(gt[:, 1, :]).any()  # the deviation is real
    assert_close(g[:, 0, :], gt[:, 0, :].numpy())
    for red in ("mean", "sum"):
        rr = evaluate("ctc", inputs, reduction=red, want_grad=True)
        assert to_np(rr.value) == math.inf
        assert np.all(np.isfinite(to_np(rr.gradients["log_probs"])))


def _brute_force_nll(lp, target, length, blank):
    """-log sum over all C^T frame paths that collapse (merge repeats, drop blanks) to target."""
    total = 0.0
    c = lp.shape[1]
    for path in itertools.product(range(c), repeat=length):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or k != path[i - 1])]
        if collapsed == list(target):
            total += math.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -math.log(total) if total > 0 else math.inf


@pytest.mark.parametrize("blank", [0, 2])
def test_matches_brute_force_enumeration(blank):
    rng = np.random.default_rng(11 + blank)
    t, c = 5, 3
    lp = _log_softmax(rng.normal(size=(t, 4, c)))
    labels = [k for k in range(c) if k != blank]
    a, b = labels
    targets = np.array([[a, b, a], [a, a, 0], [b, 0, 0], [a, b, b]], dtype=np.int64)
    targets[targets == 0] = a if blank == 0 else targets[targets == 0]
    tl = np.array([3, 2, 1, 3])
    il = np.array([5, 4, 5, 3])  # the last: "a b b" needs 4 frames -> inf
    r = evaluate("ctc", {"log_probs": lp, "targets": targets, "input_lengths": il,
                         "target_lengths": tl}, {"blank": blank}, reduction="none")
    expected = [_brute_force_nll(lp[:, i, :], targets[i, :tl[i]], il[i], blank)
                for i in range(4)]
    assert expected[3] == math.inf
    assert_close(r.value, expected, rtol=1e-12)


def test_hand_computed_two_frames():
    # T = 2, C = 2 (blank 0), target [1]: paths "1 1", "1 -", "- 1" collapse to "1"
    p = np.array([[0.3, 0.7], [0.6, 0.4]])
    expected = -math.log(0.7 * 0.4 + 0.7 * 0.6 + 0.3 * 0.4)  # -log 0.82 = 0.19845...
    r = evaluate("ctc", {"log_probs": np.log(p), "targets": [1], "input_lengths": 2,
                         "target_lengths": 1}, reduction="none", want_grad=True)
    assert_close(r.value, expected, rtol=1e-14)
    # exact derivative: -gamma_t(c) = -(1/P) * sum of the paths' probabilities using c at t
    r = evaluate("ctc", {"log_probs": np.log(p), "targets": [1], "input_lengths": 2,
                         "target_lengths": 1}, {"gradient_convention": "exact"},
                 reduction="none", want_grad=True)
    big_p = 0.82
    gamma = np.array([[0.3 * 0.4, 0.7 * 0.4 + 0.7 * 0.6], [0.7 * 0.6, 0.7 * 0.4 + 0.3 * 0.4]])
    assert_close(r.gradients["log_probs"], -gamma / big_p, rtol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("form", ["padded", "concatenated"])
def test_exact_gradient_matches_finite_differences(reduction, form):
    lp, targets, il, tl = _case(("fd", reduction, form), 6, 3, 4, 3)
    lp = lp + np.random.default_rng(5).normal(size=lp.shape) * 0.3  # not normalised: still exact
    if form == "concatenated":
        targets = _concat(targets, tl)
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    params = {"gradient_convention": "exact"}
    r = evaluate("ctc", inputs, params, reduction=reduction, want_grad=True)
    fd = finite_difference("ctc", inputs, params, reduction, "log_probs")
    assert_close(r.gradients["log_probs"], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_convention_is_exact_plus_probabilities(reduction):
    lp, targets, il, tl = _case(("conv", reduction), 7, 3, 5, 3)
    lp = lp + 0.2  # unnormalised inputs, which PyTorch accepts
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    gt = evaluate("ctc", inputs, reduction=reduction, want_grad=True).gradients["log_probs"]
    ge = evaluate("ctc", inputs, {"gradient_convention": "exact"}, reduction=reduction,
                  want_grad=True).gradients["log_probs"]
    cot = {"none": np.ones(3), "sum": np.ones(3), "mean": 1.0 / np.maximum(tl, 1) / 3}[reduction]
    frames = (np.arange(7)[:, None] < il[None, :]).astype(float)
    assert_close(to_np(gt) - to_np(ge), np.exp(lp) * (frames * cot)[:, :, None], atol=1e-13)
    # and PyTorch agrees on unnormalised inputs too
    _, grads = torch_oracle(_torch_ctc(reduction), inputs, ("log_probs",), reduction)
    assert_close(gt, grads["log_probs"])


def test_both_conventions_give_the_logit_gradient_through_log_softmax():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 2, 4))
    lp = _log_softmax(z)
    inputs = {"log_probs": lp, "targets": np.array([[1, 2], [3, 3]]),
              "input_lengths": np.array([6, 5]), "target_lengths": np.array([2, 2])}
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(zt.log_softmax(-1), torch.tensor(inputs["targets"]),
                                        torch.tensor(inputs["input_lengths"]),
                                        torch.tensor(inputs["target_lengths"]), reduction="sum")
    (gz,) = torch.autograd.grad(loss, zt)
    p = np.exp(lp)
    for conv in ("torch", "exact"):
        g = to_np(evaluate("ctc", inputs, {"gradient_convention": conv}, reduction="sum",
                           want_grad=True).gradients["log_probs"])
        chained = g - p * g.sum(axis=-1, keepdims=True)  # log_softmax's vjp
        assert_close(chained, gz.numpy(), atol=1e-13)


def test_mean_divides_by_target_length():
    lp, targets, il, tl = _case("mean", 6, 4, 4, 3)
    tl[:] = [3, 0, 2, 1]
    targets[:] = [[1, 2, 3], [0, -1, 7], [3, 3, 0], [2, 0, 0]]
    il[:] = [6, 2, 5, 4]
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    none = to_np(evaluate("ctc", inputs, reduction="none").value)
    r = evaluate("ctc", inputs, reduction="mean")
    assert_close(r.value, np.mean(none / np.maximum(tl, 1)))
    assert_close(r.per_sample, none)  # the breakdown is the undivided loss
    sw = np.array([1.0, 2.0, 0.5, 3.0])
    rw = evaluate("ctc", inputs, reduction="mean", sample_weight=sw, want_grad=True)
    assert_close(rw.value, np.sum(sw * none / np.maximum(tl, 1)) / sw.sum())
    fd = finite_difference("ctc", inputs, {"gradient_convention": "exact"}, "mean", "log_probs",
                           sample_weight=sw)
    ge = evaluate("ctc", inputs, {"gradient_convention": "exact"}, reduction="mean",
                  sample_weight=sw, want_grad=True).gradients["log_probs"]
    assert_close(ge, fd, rtol=1e-6, atol=1e-8)


def test_padding_is_ignored():
    lp, targets, il, tl = _case("pad", 6, 2, 4, 3)
    tl[:] = [2, 1]
    a = dict(log_probs=lp, targets=targets, input_lengths=il, target_lengths=tl)
    junk = targets.copy()
    junk[0, 2], junk[1, 1:] = 99, [-5, 0]
    b = dict(a, targets=junk)
    ra = evaluate("ctc", a, reduction="none", want_grad=True)
    rb = evaluate("ctc", b, reduction="none", want_grad=True)
    assert_close(rb.value, ra.value, rtol=0, atol=0)
    assert_close(rb.gradients["log_probs"], ra.gradients["log_probs"], rtol=0, atol=0)


def test_extreme_logits_stay_finite_and_match_torch():
    lp, targets, il, tl = _case("extreme", 6, 3, 4, 2, scale=1000.0)
    inputs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    for reduction in REDUCTIONS:
        value, grads = torch_oracle(_torch_ctc(reduction), inputs, ("log_probs",), reduction)
        r = evaluate("ctc", inputs, reduction=reduction, want_grad=True)
        assert np.all(np.isfinite(to_np(r.value)))
        assert np.all(np.isfinite(to_np(r.gradients["log_probs"])))
        assert_close(r.value, value)
        assert_close(r.gradients["log_probs"], grads["log_probs"], atol=1e-12)
    assert np.min(to_np(evaluate("ctc", inputs, reduction="none").value)) > 100.0


def test_array_api_strict_and_float32_on_long_targets(xp):
    lp, targets, il, tl = _case("strict", 7, 3, 5, 3)
    for tg in (targets, _concat(targets, tl)):
        inputs = {"log_probs": lp, "targets": tg, "input_lengths": il, "target_lengths": tl}
        ref = evaluate("ctc", inputs, reduction="mean", want_grad=True)
        got = evaluate("ctc", {k: to_xp(xp, v) for k, v in inputs.items()}, reduction="mean",
                       want_grad=True)
        assert_close(got.value, ref.value, rtol=1e-13)
        assert_close(got.gradients["log_probs"], ref.gradients["log_probs"], rtol=1e-13,
                     atol=1e-15)
        r32 = evaluate("ctc", inputs, reduction="mean", dtype="float32", want_grad=True)
        assert to_np(r32.value).dtype == np.float32
        assert_close(r32.value, ref.value, rtol=2e-5)
        assert_close(r32.gradients["log_probs"], ref.gradients["log_probs"], rtol=2e-4,
                     atol=1e-5)


# ------------------------------------------------------------------------------------ errors

_BASE = {"log_probs": np.log(np.full((4, 2, 3), 1.0 / 3.0)), "targets": np.array([[1, 2], [2, 2]]),
         "input_lengths": np.array([4, 4]), "target_lengths": np.array([2, 1])}


@pytest.mark.parametrize(("change", "params", "code", "loc"), [
    ({"log_probs": np.zeros(3)}, {}, "invalid_shape", ("log_probs",)),
    ({"log_probs": np.zeros((4, 2, 3, 1))}, {}, "invalid_shape", ("log_probs",)),
    ({}, {"blank": 3}, "invalid_param", ("params", "blank")),
    ({}, {"blank": -1}, "invalid_param", ("params", "blank")),
    ({}, {"gradient_convention": "keras"}, "invalid_param", ("params", "gradient_convention")),
    ({"input_lengths": np.array([4, 5])}, {}, "invalid_value", ("input_lengths", 1)),
    ({"input_lengths": np.array([-1, 4])}, {}, "invalid_value", ("input_lengths", 0)),
    ({"input_lengths": np.array([4, 4, 4])}, {}, "shape_mismatch", ("input_lengths",)),
    ({"target_lengths": np.array([2])}, {}, "shape_mismatch", ("target_lengths",)),
    ({"target_lengths": np.array([2, 3])}, {}, "invalid_value", ("target_lengths", 1)),
    ({"target_lengths": np.array([2, -1])}, {}, "invalid_value", ("target_lengths", 1)),
    ({"targets": np.array([[1, 2], [3, 1]])}, {}, "class_index_out_of_range", ("targets", 1, 0)),
    ({"targets": np.array([[1, -2], [2, 1]])}, {}, "class_index_out_of_range", ("targets", 0, 1)),
    ({"targets": np.array([[1, 0], [2, 1]])}, {}, "invalid_label", ("targets", 0, 1)),
    ({"targets": np.array([[1, 2], [2, 1]])}, {"blank": 2}, "invalid_label", ("targets", 0, 1)),
    ({"targets": np.array([[1, 2]])}, {}, "shape_mismatch", ("targets",)),
    ({"targets": np.array([1, 2, 2, 1])}, {}, "shape_mismatch", ("targets",)),
    ({"targets": np.array([1, 2, 3])}, {}, "class_index_out_of_range", ("targets", 2)),
    ({"targets": np.array([1, 0, 2])}, {}, "invalid_label", ("targets", 1)),
    ({"targets": np.zeros((2, 2, 1), dtype=np.int64)}, {}, "invalid_shape", ("targets",)),
    ({"targets": np.array([[1.0, 2.0], [2.0, 2.0]])}, {}, "invalid_dtype", ("targets",)),
    ({"input_lengths": np.array([4.0, 4.0])}, {}, "invalid_dtype", ("input_lengths",)),
    ({"log_probs": np.full((4, 2, 3), -np.inf)}, {}, "nonfinite_input", ("log_probs", 0, 0, 0)),
])
def test_errors_with_location(change, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate("ctc", {**_BASE, **change}, params)
    assert exc.value.code == code
    assert exc.value.loc == loc


@pytest.mark.parametrize(("change", "code", "loc"), [
    ({"targets": np.array([[1, 2]])}, "invalid_shape", ("targets",)),
    ({"targets": np.array([1, 3])}, "class_index_out_of_range", ("targets", 1)),
    ({"targets": np.array([0, 1])}, "invalid_label", ("targets", 0)),
    ({"input_lengths": np.array([4, 4])}, "invalid_shape", ("input_lengths",)),
    ({"input_lengths": 5}, "invalid_value", ("input_lengths",)),
    ({"target_lengths": 3}, "invalid_value", ("target_lengths",)),
])
def test_unbatched_errors_with_location(change, code, loc):
    base = {"log_probs": _BASE["log_probs"][:, 0, :], "targets": np.array([1, 2]),
            "input_lengths": 4, "target_lengths": 2}
    with pytest.raises(LossError) as exc:
        evaluate("ctc", {**base, **change})
    assert exc.value.code == code
    assert exc.value.loc == loc


def test_unbatched_accepts_one_element_lengths():
    lp = _BASE["log_probs"][:, 0, :]
    a = evaluate("ctc", {"log_probs": lp, "targets": [1, 2], "input_lengths": 4,
                         "target_lengths": 2})
    b = evaluate("ctc", {"log_probs": lp, "targets": [1, 2], "input_lengths": [4],
                         "target_lengths": [2]})
    assert_close(a.value, b.value, rtol=0, atol=0)
    # uniform frames: 1/3^4 per path; "1 2" in 4 frames: b* 1+ b* 2+ b*, C(6, 4) = 15 paths
    assert_close(a.value, -math.log(15 / 81) / 2)


# ------------------------------------------------------------ optax / Keras goldens
# tests/goldens/ctc.json: optax 0.2.8 (optax.ctc_loss) and Keras 3.15.1 (keras.losses.ctc, JAX
# backend, which computes in float32), regenerated by tests/goldens/make_ctc.py. Both take
# batch-major logits and apply log_softmax inside; their per-sequence value is our 'none' on
# log_softmax(logits) moved to (T, N, C), and jax.grad w.r.t. the logits equals our
# gradient_convention='torch' gradient (PyTorch's backward is the logit gradient).

_GOLDEN = json.loads((Path(__file__).parents[1] / "goldens" / "ctc.json").read_text())


@pytest.mark.parametrize("case", _GOLDEN["cases"], ids=lambda c: f"{c['library']}-{c['note']}")
def test_matches_optax_and_keras_goldens(case):
    logits = np.asarray(case["logits"])
    lp = np.transpose(_log_softmax(logits), (1, 0, 2))
    inputs = {"log_probs": lp, "targets": np.asarray(case["labels"]),
              "input_lengths": np.asarray(case["input_lengths"]),
              "target_lengths": np.asarray(case["target_lengths"])}
    r = evaluate("ctc", inputs, {"blank": case["blank"]}, reduction="none", want_grad=True)
    expected = np.asarray(case["per_sequence"])
    g = np.transpose(to_np(r.gradients["log_probs"]), (1, 0, 2))
    tol = {"rtol": 1e-5, "atol": 1e-5} if case["library"] == "keras" else {}
    if "impossible" in case["note"]:
        # optax approximates log 0 by log_epsilon = -1e5: a large finite number, ours is inf
        assert to_np(r.value).tolist() == [math.inf] and 1e4 < expected[0] < 1e6
        assert np.all(g == 0.0)
        return
    assert_close(r.value, expected, **tol)
    assert_close(g, case["grad_of_sum"], **tol)
