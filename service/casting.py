"""Value-preserving casts: the one place where an array of received numbers changes dtype.

Every conversion of a request's numbers goes through :func:`cast`: the wire decoder
(:mod:`service.transport.arrays`: a tensor object's ``data`` to its ``dtype``), the core
(:func:`service.losses.evaluate`: inputs to the computation's dtype, class indices to int64,
list-valued parameters), the fused kernels' casts of integer inputs and of class weights, and
the clients' packing of integer arrays. Its rules (docs/api.md, "Numbers keep their values"):

* to an integer dtype: integers only (booleans and floats are refused), each within the
  target's range; an integer outside it is refused, never wrapped around (``astype`` turns
  4294967297 into 1 in int32);
* to a floating-point dtype: each value becomes the nearest value of the target, rounded as
  NumPy and PyTorch round (integers beyond 2**53 in float64 and 2**24 in float32, float64 to
  float32's 24 bits, tiny values to subnormals or 0); a finite value beyond the target's largest
  is refused ("overflows float32"), never turned into an infinity;
* with ``finite=True``, NaN and infinities of the source are refused too, in the same pass.

A widening cast (int32 to int64, float32 to float64, any integer to a float) costs no check; a
narrowing one a reduction or one pass over the result, and the first offending element is looked
for only once one is known to exist. Works on any array-API namespace (NumPy, CuPy, PyTorch,
``array_api_strict``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace

Index = tuple[int, ...]


class CastError(ValueError):
    """A value that a cast would change (or a non-finite one, with ``finite``).

    ``code`` is the problem code: ``invalid_number`` (an integer outside the target's range),
    ``nonfinite_input`` (a float that overflows the target; NaN or an infinity) or
    ``invalid_dtype`` (values that are not integers where integers are needed). ``index`` is the
    element's multi-index in the array, ``value`` the element as sent, and ``what`` a noun phrase
    for messages ("4294967297, which is out of the int32 range [-2147483648, 2147483647]"): the
    caller names the array and the location (``f"{name} contains {what} at index [1]"``).
    """

    def __init__(self, code: str, what: str, index: Index, value: Any = None):
        super().__init__(f"{what} at index {list(index)}")
        self.code = code
        self.what = what
        self.index = index
        self.value = value


def dtype_name(dtype: Any) -> str:
    """``float32`` for ``np.float32``, ``np.dtype("<f4")`` or ``array_api_strict.float32``."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return getattr(dtype, "__name__", str(dtype)).rsplit(".", 1)[-1]


def out_of_range(value: int, dtype: Any, lo: int | None = None, hi: int | None = None) -> str:
    """The phrase for an integer outside ``dtype``'s range (``lo``/``hi``: its bounds, found
    with NumPy's ``iinfo`` when not given)."""
    if lo is None or hi is None:
        info = np.iinfo(np.dtype(dtype_name(dtype)))
        lo, hi = int(info.min), int(info.max)
    return f"{value}, which is out of the {dtype_name(dtype)} range [{lo}, {hi}]"


def overflows(value: float, dtype: Any) -> str:
    """The phrase for a finite value beyond ``dtype``'s largest finite value."""
    return f"{value:g}, which overflows {dtype_name(dtype)}"


def _first(xp: Any, mask: Any) -> Index:
    """The multi-index of the first True element of ``mask`` (row-major); () for a 0-d mask."""
    if mask.ndim == 0:
        return ()
    return tuple(int(h[0]) for h in xp.nonzero(mask))


@functools.lru_cache(maxsize=256)
def _kind(xp: Any, dtype: Any) -> str:
    """The dtype's kind (``xp.isdtype`` costs microseconds per call: cached)."""
    for kind in ("bool", "signed integer", "unsigned integer", "real floating"):
        if xp.isdtype(dtype, kind):
            return kind
    return "other"


@functools.lru_cache(maxsize=256)
def _bounds(xp: Any, dtype: Any) -> tuple[Any, Any]:
    """(smallest, largest) finite value of a numeric dtype: Python ints for integers."""
    if _kind(xp, dtype) == "real floating":
        info = xp.finfo(dtype)
        return float(info.min), float(info.max)
    info = xp.iinfo(dtype)
    return int(info.min), int(info.max)


def _scalar(xp: Any, a: Any, index: Index) -> Any:
    item = a[index] if index else a
    return int(item) if _kind(xp, a.dtype).endswith("integer") else float(item)


def cast(a: Any, dtype: Any, *, xp: Any = None, finite: bool = False) -> Any:
    """``a`` as ``dtype`` with every value preserved (see the module docstring), or
    :class:`CastError` for the first element that would change. ``a`` itself when it already
    has the dtype (no copy: the kernels never write to their inputs)."""
    xp = array_namespace(a) if xp is None else xp
    source, target = _kind(xp, a.dtype), _kind(xp, dtype)
    if source in ("bool", "other") or target in ("bool", "other"):
        raise CastError("invalid_dtype", f"values of dtype {dtype_name(a.dtype)}, which are "
                        f"not converted to {dtype_name(dtype)}", ())
    if target.endswith("integer"):
        return _to_integer(xp, a, dtype, source)
    narrowing = _bounds(xp, a.dtype)[1] > _bounds(xp, dtype)[1]  # never for integers
    if a.dtype == dtype:
        out = a
    elif narrowing:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            out = xp.astype(a, dtype)
    else:
        out = xp.astype(a, dtype)
    if not (narrowing or finite) or math.prod(a.shape) == 0 or bool(xp.all(xp.isfinite(out))):
        return out
    bad = ~xp.isfinite(out)
    if not finite:
        bad = bad & xp.isfinite(a)  # the source's own NaN and infinities stay as they are
        if not bool(xp.any(bad)):
            return out
    index = _first(xp, bad)
    value = _scalar(xp, a, index)
    if math.isfinite(value):
        raise CastError("nonfinite_input", overflows(value, dtype), index, value)
    raise CastError("nonfinite_input", f"a non-finite value ({value})", index, value)


def _to_integer(xp: Any, a: Any, dtype: Any, source: str) -> Any:
    if source == "real floating":
        raise CastError("invalid_dtype", f"{dtype_name(a.dtype)} values where integers "
                        f"({dtype_name(dtype)}) are needed", ())
    (have_lo, have_hi), (lo, hi) = _bounds(xp, a.dtype), _bounds(xp, dtype)
    # only a bound the source can pass is checked (and it is representable in the source dtype)
    low, high = have_lo < lo, have_hi > hi
    if (low or high) and math.prod(a.shape) and ((low and int(xp.min(a)) < lo)
                                     or (high and int(xp.max(a)) > hi)):
        bad = xp.zeros(a.shape, dtype=xp.bool)
        if low:
            bad = bad | (a < lo)
        if high:
            bad = bad | (a > hi)
        index = _first(xp, bad)
        value = _scalar(xp, a, index)
        raise CastError("invalid_number", out_of_range(value, dtype, lo, hi), index, value)
    return a if a.dtype == dtype else xp.astype(a, dtype)
