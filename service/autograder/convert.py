"""What a student's function returns, made into arrays the grader can check.

Students return Python floats, NumPy scalars and arrays, PyTorch tensors (possibly on a GPU or
still attached to the autograd graph), lists, or tuples of those, and NaN or infinities when their
code breaks down. This runs in the student's process (where their tensor types exist) and turns
each returned item into ``{"shape": [...], "values": [...]}`` (float64, row-major), which travels
as JSON: the grader never unpickles anything the student's process produced. NaN and +-inf keep
their identity (Python's JSON writes them as ``NaN`` and ``Infinity``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ConversionError(Exception):
    """A returned item that is not numbers (the message says what it was)."""


def _describe(obj: Any) -> str:
    kind = type(obj)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def to_array(obj: Any) -> np.ndarray:
    """``obj`` as a float64 NumPy array: floats, ints, NumPy values, torch tensors (detached and
    moved to the CPU), and (nested) lists or tuples of them; raises ConversionError."""
    if type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, list | tuple):
        obj = [to_array(x) for x in obj]
    if obj is None or isinstance(obj, str | bytes | dict):
        raise ConversionError(f"returned {_describe(obj)}, not numbers")
    try:
        a = np.asarray(obj)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise ConversionError(f"returned {_describe(obj)} that is not an array: {exc}") from None
    if a.dtype.kind not in "biuf":
        raise ConversionError(f"returned {_describe(obj)} of dtype {a.dtype}, not real numbers")
    return a.astype(np.float64)


def encode(a: np.ndarray) -> dict[str, Any]:
    """An array as JSON-ready ``{"shape", "values"}``."""
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


def decode(d: dict[str, Any]) -> np.ndarray:
    """The array :func:`encode` wrote (the grader's side)."""
    shape = tuple(int(k) for k in d["shape"])
    return np.asarray(d["values"], dtype=np.float64).reshape(shape)


def split_returns(returned: Any, names: tuple[str, ...]) -> list[np.ndarray]:
    """The arrays of a return value that holds ``names`` in order (one name: the whole value)."""
    if len(names) == 1:
        if isinstance(returned, tuple) and len(returned) == 1:
            returned = returned[0]
        return [to_array(returned)]
    if not isinstance(returned, tuple | list) or len(returned) != len(names):
        got = (f"{len(returned)} values" if isinstance(returned, tuple | list)
               else f"one {_describe(returned)}")
        raise ConversionError(f"returned {got}; expected a tuple of {len(names)}: "
                              f"({', '.join(names)})")
    out = []
    for name, item in zip(names, returned, strict=True):
        try:
            out.append(to_array(item))
        except ConversionError as exc:
            raise ConversionError(f"{name}: {exc}") from None
    return out
