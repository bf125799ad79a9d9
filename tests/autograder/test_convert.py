"""What students return becomes float64 arrays with NaN and infinities intact, through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.autograder.convert import ConversionError, decode, encode, split_returns, to_array


def _roundtrip(a: np.ndarray) -> np.ndarray:
    return decode(json.loads(json.dumps(encode(a))))


def test_numbers_arrays_lists_and_nonfinite_values():
    assert to_array(2.5).shape == () and to_array(np.float32(1.5)).dtype == np.float64
    assert to_array([[1, 2], [3, 4]]).shape == (2, 2)
    assert to_array((np.float64(1.0), 2.0)).tolist() == [1.0, 2.0]
    a = _roundtrip(np.array([np.nan, np.inf, -np.inf, 1e-300]))
    assert np.isnan(a[0]) and a[1] == np.inf and a[2] == -np.inf and a[3] == 1e-300
    assert _roundtrip(np.array(0.1 + 0.2)).item() == 0.1 + 0.2  # every bit


def test_returns_are_split_in_order():
    loss, dw = split_returns((1.0, np.eye(2)), ("value", "gradients.W"))
    assert loss.shape == () and dw.shape == (2, 2)
    assert split_returns((3.0,), ("value",))[0] == 3.0
    with pytest.raises(ConversionError, match=r"returned one float; expected a tuple of 2"):
        split_returns(1.0, ("value", "gradients.W"))
    with pytest.raises(ConversionError, match=r"gradients.W: returned NoneType, not numbers"):
        split_returns((1.0, None), ("value", "gradients.W"))
    with pytest.raises(ConversionError, match=r"returned str"):
        split_returns("1.0", ("value",))


def test_torch_tensors_are_detached_and_moved_to_the_cpu():
    torch = pytest.importorskip("torch")
    w = torch.tensor([[1.0, -2.0]], dtype=torch.float32, requires_grad=True)
    loss = (w * w).sum()
    out = split_returns((loss, w * 2), ("value", "gradients.W"))
    assert out[0].dtype == np.float64 and out[0].item() == 5.0
    assert out[1].tolist() == [[2.0, -4.0]]
    assert np.isnan(to_array(torch.tensor(float("nan"))))
