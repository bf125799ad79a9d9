"""Request arrays -> NumPy: every rule of an array (dtype, shape, element limit, booleans) here.

An array in a request is a number, a nested JSON list of numbers (integers stay integers: class
indices), or a tensor object ``{"shape", "dtype", and one of "data" (flat row-major list),
"b64" (base64 of little-endian row-major bytes) or "binary_data_size" (bytes after the JSON
header of an ``application/octet-stream`` body, put in as :class:`BinaryData` by
:func:`service.transport.request.parse_binary`)}``. A NumPy array stands for a nested list the
body parser read in place (:mod:`service.transport.json_arrays`).

Nothing allocates in proportion to a *claimed* shape before checking it against the element
limit and the data actually sent. A tensor's ``data`` becomes its ``dtype`` through
:func:`service.casting.cast`: a value that does not fit (an int32 tensor's 4294967297, a float32
tensor's 1e39) is refused at its index, never wrapped or made infinite. Nothing recurses on the
nesting depth a request chose (at most :data:`MAX_DIMS` dimensions; the walks are iterative).
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pybase64

from ..casting import CastError, cast, out_of_range

WIRE_DTYPES: dict[str, str] = {"float64": "<f8", "float32": "<f4", "int64": "<i8", "int32": "<i4"}
NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # JSON has no NaN: text
_TEXT = {text: float(key) for key, text in NONFINITE.items()}  # "NaN" -> nan, ...
_PLAIN = frozenset({int, float, bool, type(None)})  # JSON values that replace_text keeps

Loc = tuple[str | int, ...]


class EncodingError(ValueError):
    """A malformed array; ``loc`` is its place in the request body, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, loc: Loc, status: int = 422):
        super().__init__(message)
        self.code = code
        self.message = message
        self.loc = loc
        self.status = status


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


MAX_DIMS = 32  # the most dimensions of a request array (a nested list or a tensor's shape)


def _too_deep(loc: Loc) -> tuple[str, str, Loc]:
    return ("too_deep", f"the array is nested more than {MAX_DIMS} deep; arrays have at most "
            f"{MAX_DIMS} dimensions", loc)


def _locate_problem(obj: Any, loc: Loc) -> tuple[str, str, Loc]:
    """Walk a nested list that NumPy refused; return (code, message, loc) of the first problem
    in document order.

    Iterative (an explicit stack of the lists being walked): the request controls the depth,
    and a recursive walk of a list nested 1000 deep (JSON allows 1024) exceeds Python's
    recursion limit. The expected shape, read along the first elements, is at most
    :data:`MAX_DIMS` deep (deeper: ``too_deep``), and the walk goes no deeper than it.
    """
    expected: list[int] = []
    x = obj
    while isinstance(x, list):
        if len(expected) == MAX_DIMS:
            return _too_deep(loc)
        expected.append(len(x))
        if not x:
            break
        x = x[0]
    shape = tuple(expected)

    def problem(x: Any, depth: int, here: Loc) -> tuple[str, str, Loc] | None:
        """The problem of ``x`` itself (at ``depth``), not of its items."""
        if depth < len(shape):
            if not isinstance(x, list):
                return ("ragged_array", f"expected a list of length {shape[depth]} here "
                        f"(the array's shape is {shape} from its first elements), got a number",
                        here)
            if len(x) != shape[depth]:
                return ("ragged_array", f"ragged array: this list has {len(x)} elements, the "
                        f"first list at this depth has {shape[depth]}", here)
            return None
        if isinstance(x, list):
            return ("ragged_array", "ragged array: a list where a number was expected", here)
        if isinstance(x, bool):
            return ("invalid_number", "booleans are not numbers", here)
        if not _is_number(x):
            return ("invalid_number", f"expected a number, got {type(x).__name__}", here)
        if isinstance(x, int) and not -(2**63) <= x < 2**63:
            return ("invalid_number", "integer out of the int64 range", here)
        return None

    found = problem(obj, 0, loc)
    # (items of a list still to walk, their depth, the list's location), innermost last
    stack: list[tuple[Iterator[tuple[int, Any]], int, Loc]] = []
    if found is None and shape:
        stack.append((enumerate(obj), 1, loc))
    while found is None and stack:
        items, depth, here = stack[-1]
        for i, item in items:
            at = (*here, i)
            found = problem(item, depth, at)
            if found is not None:
                break
            if depth < len(shape):  # a list of the expected length: walk it first
                stack.append((enumerate(item), depth + 1, at))
                break
        else:
            stack.pop()
    return found or ("invalid_array", "not a rectangular array of numbers", loc)


def _decode_nested(obj: Any, loc: Loc, max_elements: int, check_bools: bool) -> np.ndarray:
    try:
        arr = np.asarray(obj)
    except (ValueError, TypeError, OverflowError):
        raise EncodingError(*_locate_problem(obj, loc)) from None
    if _is_number(obj):  # (an integer from 2**63 is uint64 here: refused below, as in a list)
        if arr.dtype.kind in "if":
            return arr
        raise EncodingError(*_locate_problem(obj, loc))
    if arr.ndim > MAX_DIMS:
        raise EncodingError(*_too_deep(loc))
    # unsigned: NumPy's type for a list holding an integer from 2**63 (out of int64's range)
    if arr.dtype.kind not in "if" or (check_bools and _contains_bool(obj)):
        raise EncodingError(*_locate_problem(obj, loc))
    if arr.size > max_elements:
        raise EncodingError("too_many_elements", f"the array has {arr.size} elements; the limit "
                            f"is {max_elements}", loc, status=413)
    return arr


def _contains_bool(obj: Any) -> bool:
    """True if any leaf is a bool (NumPy silently turns True into 1.0 in a float list).
    Iterative, like :func:`_locate_problem`."""
    stack = [obj]
    while stack:
        x = stack.pop()
        if type(x) is bool:
            return True
        if isinstance(x, list) and x:
            if isinstance(x[0], list):
                stack.extend(x)
            elif bool in map(type, x):  # (type(v) is bool for any v, at C speed)
                return True
    return False


class B64Text:
    """The base64 text of a tensor, left in the request body (see
    :func:`service.transport.json_in.parse_json`): ``view`` is a read-only memoryview of its
    characters, which :func:`binascii.a2b_base64` decodes without a ``str`` of them ever
    existing."""

    __slots__ = ("view",)

    def __init__(self, view: memoryview):
        self.view = view


class BinaryData:
    """The bytes of a tensor sent after the JSON header of an ``application/octet-stream``
    request (see :func:`service.transport.request.parse_binary`): ``view`` is a read-only
    memoryview of the request body, which becomes the array without a copy (unless it is
    misaligned)."""

    __slots__ = ("view",)

    def __init__(self, view: memoryview):
        self.view = view


def array_from_bytes(view: Any, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    """The array over ``view`` (little-endian bytes), in native byte order; copied only if the
    bytes are not aligned to the item size (the kernels, like NumPy's fast loops, want aligned
    arrays)."""
    arr = np.frombuffer(view, dtype=dtype).reshape(shape)
    if not arr.flags.aligned:
        arr = arr.copy()
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _decode_tensor(obj: dict[str, Any], loc: Loc, max_elements: int,
                   check_bools: bool = True) -> np.ndarray:
    keys = set(obj)
    payload = keys & {"data", "b64", "binary_data_size"}
    allowed = {"shape", "dtype", "data", "b64", "binary_data_size"}
    for k in keys - allowed:
        raise EncodingError("invalid_tensor", f"unknown field {k!r} in a tensor object "
                            "(allowed: shape, dtype, and one of data, b64, binary_data_size)",
                            (*loc, k))
    if len(payload) != 1:
        raise EncodingError("invalid_tensor", "a tensor object needs exactly one of 'data', "
                            "'b64' and 'binary_data_size'", loc)
    if "shape" not in obj:
        raise EncodingError("invalid_tensor", "a tensor object needs 'shape'", (*loc, "shape"))
    shape = obj["shape"]
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ) or len(shape) > MAX_DIMS:
        raise EncodingError("invalid_tensor", f"shape must be a list of at most {MAX_DIMS} "
                            "non-negative integers", (*loc, "shape"))
    n = math.prod(shape)

    def check_limit() -> None:  # after the structure is known good: a real payload that big
        if n > max_elements:
            raise EncodingError("too_many_elements", f"the tensor has {n} elements; the limit "
                                f"is {max_elements}", (*loc, "shape"), status=413)

    dtype_name = obj.get("dtype", "float64")
    if not isinstance(dtype_name, str) or dtype_name not in WIRE_DTYPES:
        got = f"{dtype_name!r:.40}" if isinstance(dtype_name, str) else type(dtype_name).__name__
        raise EncodingError("unsupported_dtype", f"dtype must be one of "
                            f"{', '.join(WIRE_DTYPES)}; got {got}", (*loc, "dtype"))
    dtype = np.dtype(WIRE_DTYPES[dtype_name])
    if "binary_data_size" in obj:
        blob = obj["binary_data_size"]
        if not isinstance(blob, BinaryData):
            raise EncodingError("invalid_tensor", "binary_data_size is for a tensor whose bytes "
                                "follow the JSON header of an application/octet-stream request; "
                                "in a JSON body send data or b64", (*loc, "binary_data_size"))
        nbytes = n * dtype.itemsize
        if len(blob.view) != nbytes:
            raise EncodingError(
                "invalid_tensor", f"binary_data_size is {len(blob.view)} bytes; shape {shape} "
                f"and dtype {dtype_name} need {nbytes}", (*loc, "binary_data_size"))
        check_limit()
        return array_from_bytes(blob.view, dtype, shape)
    if "b64" in obj:
        text = obj["b64"]
        if isinstance(text, B64Text):
            text = text.view
        elif not isinstance(text, str):
            raise EncodingError("invalid_base64", "b64 must be a string", (*loc, "b64"))
        nbytes = n * dtype.itemsize
        nchars = 4 * -(-nbytes // 3)  # integer arithmetic: a claimed shape may be astronomical
        if len(text) != nchars:
            raise EncodingError(
                "invalid_tensor", f"b64 holds {len(text)} characters; shape {shape} and dtype "
                f"{dtype_name} need {nbytes} bytes, i.e. {nchars} base64 characters",
                (*loc, "b64"))
        check_limit()
        try:  # reads the text's own buffer (no copy to bytes first); pybase64's SIMD codec
            # accepts exactly what binascii.a2b_base64(strict_mode=True) accepts, ~40x faster
            raw = pybase64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise EncodingError("invalid_base64", "b64 is not valid base64",
                                (*loc, "b64")) from None
        if len(raw) != nbytes:
            raise EncodingError("invalid_tensor", f"b64 decodes to {len(raw)} bytes; expected "
                                f"{nbytes}", (*loc, "b64"))
        # a read-only view of the decoded bytes: no copy on little-endian machines
        return array_from_bytes(raw, dtype, shape)
    data = obj["data"]  # a list, or an array parsed in place (service.transport.json_arrays)
    if isinstance(data, np.ndarray):
        if data.ndim != 1:
            raise EncodingError("invalid_tensor", "data must be a flat list of numbers",
                                (*loc, "data"))
    elif not isinstance(data, list) or any(isinstance(v, list) for v in data[:1]):
        raise EncodingError("invalid_tensor", "data must be a flat list of numbers",
                            (*loc, "data"))
    if len(data) != n:
        raise EncodingError("invalid_tensor", f"data has {len(data)} values; shape {shape} needs "
                            f"{n}", (*loc, "data"))
    check_limit()
    flat = _decode_nested(data, (*loc, "data"), max_elements, check_bools=check_bools)
    if flat.ndim != 1:
        raise EncodingError("invalid_tensor", "data must be a flat list of numbers",
                            (*loc, "data"))
    if dtype.kind == "i" and flat.dtype.kind != "i":
        raise EncodingError(*_not_integers(flat, dtype_name, (*loc, "data")))
    try:  # the values as sent, or refused: an int32 tensor's 4294967297 is not 1
        out = cast(flat, dtype.newbyteorder("="))
    except CastError as exc:
        raise EncodingError(exc.code, f"data contains {exc.what} at index {exc.index[0]}",
                            (*loc, "data", *exc.index)) from None
    return out.reshape(shape)


def _not_integers(flat: np.ndarray, dtype_name: str, loc: Loc) -> tuple[str, str, Loc]:
    """(code, message, location) for the data of an integer tensor that NumPy read as floats
    (or as uint64): the first value that is not an integer, or an integer beyond int64's range.
    Judged on the values alone, so that a body read in place (where how a number was written is
    not known) and the same body parsed the ordinary way get the same answer; where every value
    is integral (written as 2.0), the problem is located at ``data``."""
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero((flat != np.trunc(flat)) | (flat >= 2.0**63) | (flat < -(2.0**63)))
    if len(bad):
        i = int(bad[0])
        v = flat[i].item()
        if float(v).is_integer():  # an integer beyond int64 (read as a float, or uint64)
            return ("invalid_number", f"data contains {out_of_range(int(v), dtype_name)} "
                    f"at index {i}", (*loc, i))
        return ("invalid_tensor", f"dtype {dtype_name} needs integers; data contains "
                f"{v!r} at index {i}", (*loc, i))
    return ("invalid_tensor", f"dtype {dtype_name} needs integer data, not floating-point "
            "numbers (such as 2.0)", loc)


def decode_array(obj: Any, loc: Loc, *, max_elements: int, check_bools: bool = True) -> np.ndarray:
    """One request array (nested list or tensor object) as a NumPy array.

    A NumPy array stands for a nested list that the body parser read in place
    (:mod:`service.transport.json_arrays`).

    ``check_bools=False`` skips the scan for booleans mixed into numeric lists (nested or a
    tensor's ``data``); callers pass it when the raw body contains no ``true``/``false`` token.
    """
    if isinstance(obj, dict):
        return _decode_tensor(obj, loc, max_elements, check_bools)
    if isinstance(obj, bool) or not (isinstance(obj, list | np.ndarray) or _is_number(obj)):
        raise EncodingError("invalid_array", "expected a number, a nested list of numbers or a "
                            "tensor object", loc)
    return _decode_nested(obj, loc, max_elements, check_bools)




def wire_bytes(a: np.ndarray) -> np.ndarray:
    """The little-endian row-major bytes of ``a`` as a flat uint8 array (a view where ``a`` is
    already C-contiguous and little-endian: no ``tobytes`` copy)."""
    wire = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))
    return wire.reshape(-1).view(np.uint8)


def replace_text(value: Any) -> Any:
    """Nested lists with "NaN" / "Infinity" / "-Infinity" strings as floats (a /compare
    submission may hold them): new lists where they hold such strings, the lists sent where they
    hold none. Iterative: the request controls the depth (JSON allows 1024)."""
    if isinstance(value, str):
        return _TEXT.get(value, value)
    if not isinstance(value, list) or set(map(type, value)) <= _PLAIN:
        return value
    out: list[Any] = []
    stack = [(value, out)]  # (a list holding strings or lists, its copy being filled)
    while stack:
        source, copy = stack.pop()
        for v in source:
            if isinstance(v, str):
                copy.append(_TEXT.get(v, v))
            elif not isinstance(v, list) or set(map(type, v)) <= _PLAIN:  # (at C speed)
                copy.append(v)
            else:
                inner: list[Any] = []
                copy.append(inner)
                stack.append((v, inner))
    return out
