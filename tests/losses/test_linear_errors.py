"""linear_svm's and linear_softmax's refusals, each with its code and location: shapes, labels,
dtypes, non-finite inputs and params, the SVM's unbatched input and margin, linear_softmax's
linear_cross_entropy options, and a mean over no target."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import to_np

# ------------------------------------------------------------ errors


_OK = {"W": np.zeros((2, 3)), "X": np.ones((4, 2)), "targets": np.array([0, 1, 2, 0])}


@pytest.mark.parametrize("name", ["linear_svm", "linear_softmax"])
@pytest.mark.parametrize(("change", "params", "code", "loc"), [
    ({"W": np.zeros(3)}, {}, "invalid_shape", ("W",)),
    ({"X": np.ones((4, 2, 1))}, {}, "invalid_shape", ("X",)),
    ({"X": np.ones((4, 3))}, {}, "shape_mismatch", ("X",)),
    ({"targets": np.array([0, 1, 2])}, {}, "shape_mismatch", ("targets",)),
    ({"targets": np.array([[0, 1, 2, 0]])}, {}, "shape_mismatch", ("targets",)),
    ({"targets": np.array([0, 1, 3, 0])}, {}, "class_index_out_of_range", ("targets", 2)),
    ({"targets": np.array([0, -1, 1, 0])}, {}, "class_index_out_of_range", ("targets", 1)),
    ({"targets": np.array([0.0, 1.0, 2.0, 0.0])}, {}, "invalid_dtype", ("targets",)),
    ({"b": np.zeros(2)}, {}, "shape_mismatch", ("b",)),
    ({"b": np.zeros((1, 3))}, {}, "shape_mismatch", ("b",)),
    ({"X": np.array([[1.0, np.nan]] * 4)}, {}, "nonfinite_input", ("X", 0, 1)),
    ({}, {"reg": -0.1}, "invalid_param", ("params", "reg")),
    ({}, {"reg_convention": "l2"}, "invalid_param", ("params", "reg_convention")),
])
def test_errors_with_location(name, change, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate(name, {**_OK, **change}, params)
    assert exc.value.code == code
    assert exc.value.loc == loc


def test_svm_takes_no_unbatched_x():
    # linear_softmax takes an unbatched (D,) sample (PyTorch's linear_cross_entropy); the SVM not
    with pytest.raises(LossError) as exc:
        evaluate("linear_svm", {**_OK, "X": np.ones(2), "targets": np.array(1)})
    assert exc.value.code == "invalid_shape" and exc.value.loc == ("X",)


def test_svm_margin_must_be_nonnegative():
    with pytest.raises(LossError) as exc:
        evaluate("linear_svm", _OK, {"margin": -1.0})
    assert exc.value.code == "invalid_param" and exc.value.loc == ("params", "margin")
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", _OK, {"margin": 1.0})
    assert exc.value.code == "unknown_param"


# ------------------------------------------------------------ linear_cross_entropy options


_K = {"W": np.zeros((2, 3, 4)), "X": np.ones((5, 2)), "targets": np.zeros((5, 4), np.int64)}


@pytest.mark.parametrize(("inputs", "params", "code", "loc"), [
    # a target out of range that is not ignore_index
    ({**_OK, "targets": np.array([0, 1, 3, 0])}, {"ignore_index": 3 + 1},
     "class_index_out_of_range", ("targets", 2)),
    ({**_OK, "targets": np.array([0, -100, 1, -1])}, {}, "class_index_out_of_range",
     ("targets", 3)),
    ({**_OK, "targets": np.array([0, 1, 2, 0])}, {"weight": [1.0, 2.0]}, "invalid_param",
     ("params", "weight")),
    ({**_OK, "targets": np.full((4, 3), 1 / 3)}, {"ignore_index": 0}, "invalid_param",
     ("params", "ignore_index")),
    ({**_OK, "targets": np.full((4, 2), 0.5)}, {}, "shape_mismatch", ("targets",)),
    ({**_OK, "X": np.ones(2), "targets": np.array([0])}, {}, "shape_mismatch", ("targets",)),
    ({**_OK, "X": np.ones(3), "targets": np.array(0)}, {}, "shape_mismatch", ("X",)),
    ({**_K, "X": np.ones(2), "targets": np.array(0)}, {}, "invalid_shape", ("X",)),
    ({**_K, "targets": np.zeros((5,), np.int64)}, {}, "shape_mismatch", ("targets",)),
    ({**_K, "b": np.zeros(3)}, {}, "shape_mismatch", ("b",)),
    ({**_K, "targets": np.full((5, 4), 3)}, {}, "class_index_out_of_range", ("targets", 0, 0)),
    ({**_OK}, {"label_smoothing": 1.5}, "invalid_param", ("params", "label_smoothing")),
])
def test_option_errors_with_location(inputs, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", inputs, params)
    assert exc.value.code == code, exc.value.message
    assert exc.value.loc == loc


def test_every_target_ignored_mean_is_undefined():
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", {**_OK, "targets": np.full(4, -100)})
    assert exc.value.code == "undefined_mean"
    r = evaluate("linear_softmax", {**_OK, "targets": np.full(4, -100)}, {"reg": 0.5},
                 reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0  # ignored elements carry no loss and no penalty
    assert np.all(to_np(r.gradients["W"]) == 0.0)
