"""kl_div against the PyTorch oracle (torch 2.13.0, float64), edge cases and errors."""

from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle

SHAPES = [(), (7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum", "batchmean"]


def _torch_kl(reduction: str, log_target: bool = False):
    import torch.nn.functional as F

    def fn(predictions, targets):
        with warnings.catch_warnings():  # torch warns that 'mean' is not the true KL
            warnings.simplefilter("ignore", UserWarning)
            return F.kl_div(predictions, targets, reduction=reduction, log_target=log_target)

    return fn


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], log_target: bool) -> dict:
    x = -rng.exponential(1.5, size=shape)  # log q <= 0 (not normalised: kl_div is pointwise)
    if log_target:
        t = -rng.exponential(1.5, size=shape)
    else:
        t = rng.uniform(0.0, 1.0, size=shape)
        if t.size > 1:
            t.reshape(-1)[0] = 0.0  # an exact zero: contributes 0 (xlogy)
            t.reshape(-1)[-1] = 1.0  # an exact one
    return {"predictions": np.asarray(x), "targets": np.asarray(t)}


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch(shape, reduction, log_target):
    rng = np.random.default_rng(zlib.crc32(repr((shape, reduction, log_target)).encode()))
    inputs = _inputs(rng, shape, log_target)
    value, grads = torch_oracle(_torch_kl(reduction, log_target), inputs, ("predictions",),
                                reduction)
    r = evaluate("kl_div", inputs, {"log_target": log_target}, reduction=reduction,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


@pytest.mark.parametrize("log_target", [False, True])
def test_batchmean_on_distributions_matches_torch(log_target):
    # the intended use: rows of log_softmax outputs against rows of probabilities
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = torch.log_softmax(torch.tensor(rng.normal(size=(6, 5)) * 3), dim=-1).numpy()
    p = torch.softmax(torch.tensor(rng.normal(size=(6, 5)) * 3), dim=-1).numpy()
    t = np.log(p) if log_target else p
    inputs = {"predictions": x, "targets": t}
    value, grads = torch_oracle(_torch_kl("batchmean", log_target), inputs, ("predictions",),
                                "batchmean")
    r = evaluate("kl_div", inputs, {"log_target": log_target}, reduction="batchmean",
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    # batchmean is the true KL averaged over rows: mean_n sum_c p log(p / q)
    assert_close(r.value, np.mean(np.sum(p * (np.log(p) - x), axis=-1)))


def test_batchmean_of_a_1d_input_divides_by_the_number_of_classes():
    # torch divides by input.size(0): for one unbatched distribution that is C, not 1
    inputs = {"predictions": np.log([0.25, 0.75, 1e-3]), "targets": np.array([0.5, 0.5, 0.0])}
    value, grads = torch_oracle(_torch_kl("batchmean"), inputs, ("predictions",), "batchmean")
    r = evaluate("kl_div", inputs, reduction="batchmean", want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    total = evaluate("kl_div", inputs, reduction="sum")
    assert_close(r.value, float(to_np(total.value)) / 3)


def test_golden_value_by_hand():
    # p = (1/2, 1/2), q = (1/4, 3/4): KL(p||q) = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3), by hand
    r = evaluate("kl_div", {"predictions": np.log([0.25, 0.75]), "targets": [0.5, 0.5]},
                 reduction="sum", want_grad=True)
    assert_close(r.value, 0.5 * math.log(4.0 / 3.0))
    assert_close(r.gradients["predictions"], [-0.5, -0.5])  # dl/dx = -p


def test_default_reduction_is_torch_mean_over_elements():
    x = np.log([[0.25, 0.75], [0.5, 0.5]])
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert get_loss("kl_divergence").default_reduction == "mean"
    r = evaluate("kl_divergence", {"predictions": x, "targets": p})
    assert r.loss == "kl_div"
    value, _ = torch_oracle(_torch_kl("mean"), {"predictions": x, "targets": p}, (), "mean")
    assert_close(r.value, value)
    assert_close(r.value, np.sum(p * (np.log(p) - x)) / 4)


def test_zero_targets_contribute_nothing():
    # p = 0 gives 0 whatever log q is (even log q = -1000), and gradient -p = 0
    r = evaluate("kl_div", {"predictions": [-1000.0, -0.5, -1e-300], "targets": [0.0, 0.0, 0.0]},
                 reduction="none", want_grad=True)
    assert to_np(r.value).tolist() == [0.0, 0.0, 0.0]
    assert to_np(r.gradients["predictions"]).tolist() == [0.0, 0.0, 0.0]


def test_target_one_gives_minus_log_q():
    r = evaluate("kl_div", {"predictions": [-2.5, 0.0], "targets": [1.0, 1.0]}, reduction="none")
    assert_close(r.value, [2.5, 0.0])


@pytest.mark.parametrize("log_target", [False, True])
def test_extreme_log_probabilities_match_torch(log_target):
    x = np.array([-1000.0, -1e-300, 0.0, -700.0])
    t = np.array([-1000.0, -0.1, -800.0, 0.0]) if log_target else np.array([1.0, 0.3, 0.0, 1e-300])
    inputs = {"predictions": x, "targets": t}
    value, grads = torch_oracle(_torch_kl("none", log_target), inputs, ("predictions",), "none")
    r = evaluate("kl_div", inputs, {"log_target": log_target}, reduction="none", want_grad=True)
    assert np.all(np.isfinite(to_np(r.value)))
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_log_target_equals_probability_target():
    rng = np.random.default_rng(3)
    x = -rng.exponential(size=(4, 3))
    p = rng.uniform(0.01, 1.0, size=(4, 3))
    a = evaluate("kl_div", {"predictions": x, "targets": p}, reduction="none", want_grad=True)
    b = evaluate("kl_div", {"predictions": x, "targets": np.log(p)}, {"log_target": True},
                 reduction="none", want_grad=True)
    assert_close(b.value, a.value)
    assert_close(b.gradients["predictions"], a.gradients["predictions"])


def test_pointwise_terms_can_be_negative_but_kl_is_not():
    # p = 0.2 < q = 0.8 gives a negative term; the row sum is still >= 0 (Gibbs)
    r = evaluate("kl_div", {"predictions": np.log([[0.8, 0.2]]), "targets": [[0.2, 0.8]]},
                 reduction="none")
    v = to_np(r.value)
    assert v[0, 0] < 0 and v.sum() > 0
    assert not get_loss("kl_div").nonnegative


@pytest.mark.parametrize("log_target", [False, True])
def test_examples_match_torch(log_target):
    for ex in get_loss("kl_div").examples:
        if bool(ex.params.get("log_target", False)) != log_target:
            continue
        inputs = {k: np.asarray(v, dtype=np.float64) for k, v in ex.inputs.items()}
        value, grads = torch_oracle(_torch_kl(ex.reduction, log_target), inputs,
                                    ("predictions",), ex.reduction)
        r = evaluate("kl_div", ex.inputs, ex.params, reduction=ex.reduction, want_grad=True)
        assert_close(r.value, value)
        assert_close(r.gradients["predictions"], grads["predictions"])


# ----------------------------------------------------------------------------- errors


def test_shape_mismatch_is_not_broadcast():
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": np.full((2, 3), -1.0), "targets": np.full(3, 0.3)})
    assert exc.value.code == "shape_mismatch" and exc.value.loc == ("targets",)


def test_positive_log_probability_rejected_with_location():
    # torch does not check this; log q > 0 means q > 1
    x = np.full((2, 3), -1.0)
    x[1, 2] = 0.5
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": x, "targets": np.full((2, 3), 0.3)})
    assert exc.value.code == "invalid_value" and exc.value.loc == ("predictions", 1, 2)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_target_outside_unit_interval_rejected(bad):
    t = np.full((2, 3), 0.3)
    t[0, 1] = bad
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": np.full((2, 3), -1.0), "targets": t})
    assert exc.value.code == "probability_out_of_range" and exc.value.loc == ("targets", 0, 1)


def test_positive_log_target_rejected():
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": [-1.0, -1.0, -1.0], "targets": [-0.5, -2.0, 0.1]},
                 {"log_target": True})
    assert exc.value.code == "invalid_value" and exc.value.loc == ("targets", 2)
    # the same targets are fine as probabilities except the negative ones
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": [-1.0, -1.0, -1.0], "targets": [-0.5, -2.0, 0.1]})
    assert exc.value.code == "probability_out_of_range" and exc.value.loc == ("targets", 0)


@pytest.mark.parametrize("value", [1, "true", None])
def test_log_target_must_be_bool(value):
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": [-1.0], "targets": [0.5]}, {"log_target": value})
    assert exc.value.code == "invalid_param" and exc.value.loc == ("params", "log_target")


def test_unknown_reduction_rejected():
    with pytest.raises(LossError) as exc:
        evaluate("kl_div", {"predictions": [-1.0], "targets": [0.5]}, reduction="average")
    assert exc.value.code == "unsupported_reduction" and exc.value.loc == ("reduction",)
