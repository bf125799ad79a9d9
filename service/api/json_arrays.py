"""A large numeric JSON array parsed in slices, straight into one NumPy array.

Parsing a whole body with ``orjson.loads`` turns every number of a nested array into a Python
float (24 bytes) held by a list (8 more): 4x the array's decoded bytes, on top of the body's
text (about 2.3x for float64), before ``np.asarray`` makes the array itself. Here the text of one
1-D or 2-D array of numbers is cut at row (or value) boundaries into slices of about
:data:`SLICE_BYTES`; each slice is parsed by orjson and converted by ``np.asarray`` into its
place in the output, so at most one slice's Python objects exist at a time. The numbers are the
ones orjson reads (correctly rounded), the result the one ``np.asarray`` gives for the whole list
(float64 if any value is a float, else int64); it is also 1.4x to 2.5x faster, the objects of
one slice staying in the CPU's caches (``python -m bench.json_parsers``).

:func:`parse_array` answers None for anything it does not recognise as a well-formed array of
numbers of that kind (3-D and deeper arrays, ragged rows, booleans, strings, null, empty rows,
integers beyond int64, more than 1000 rows in a 1 MiB block whose ``]`` is not directly
followed by a comma, malformed text):
the caller then parses the body the ordinary way, which reports the problem with its location.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import orjson

SLICE_BYTES = 1 << 16  # text per slice: ~3,300 float64 values; 64 KiB and 128 KiB measured best
_BLOCK = 1 << 20  # bytes scanned per NumPy comparison when looking for the rows' ends
_WS = frozenset(b" \t\r\n")
_NUMBER_START = frozenset(b"-0123456789")
_CLOSE = ord("]")
_COMMA = ord(",")


def _skip_ws(body: bytes | bytearray, i: int) -> int:
    n = len(body)
    while i < n and body[i] in _WS:
        i += 1
    return i


def parse_array(body: bytes | bytearray, start: int,
                min_bytes: int = 0) -> tuple[np.ndarray, int] | None:
    """(the array whose ``[`` is at ``body[start]``, the index just past its ``]``), or None,
    also for an array of fewer than ``min_bytes`` of text (found out before parsing it).

    Recognised: a flat array of numbers, or an array of equally long non-empty arrays of
    numbers (rows), with any whitespace between tokens.
    """
    n = len(body)
    i = _skip_ws(body, start + 1)
    if i >= n:
        return None
    if body[i] == ord("["):
        j = _skip_ws(body, i + 1)
        if j < n and body[j] in _NUMBER_START:
            return _parse_rows(body, start, min_bytes)
        return None
    if body[i] in _NUMBER_START:
        return _parse_flat(body, start, min_bytes)
    return None


def _slice_array(body: bytes | bytearray, view: memoryview, lo: int, hi: int,
                 ndim: int) -> np.ndarray | None:
    """``body[lo:hi]``, a comma-separated run of numbers (ndim 1) or rows (ndim 2), parsed."""
    # true/false: NumPy would read a boolean among floats as 1.0 or 0.0 (the letters t and f
    # are in no JSON number); null, strings and objects give a non-numeric dtype below
    if body.find(b"t", lo, hi) != -1 or body.find(b"f", lo, hi) != -1:
        return None
    try:
        part = np.asarray(orjson.loads(b"[" + view[lo:hi] + b"]"))
    except (orjson.JSONDecodeError, ValueError, TypeError, OverflowError):
        return None  # malformed, or ragged rows
    if part.ndim != ndim or part.dtype.kind not in "if" or part.size == 0:
        return None
    return part


def _after_comma(body: bytes | bytearray, i: int) -> int:
    """The index after the comma that separates two slices (found at ``i`` after whitespace),
    or -1."""
    i = _skip_ws(body, i)
    return i + 1 if i < len(body) and body[i] == ord(",") else -1


def _store(out: np.ndarray | None, filled: int, part: np.ndarray,
           total: int) -> np.ndarray | None:
    """``part`` written at ``out[filled:]``: the output is made (as int64 or float64) at the first
    slice and turned into float64 once if a later slice holds floats; None if it overflows."""
    if out is None:
        dtype = np.float64 if part.dtype.kind == "f" else np.int64
        out = np.empty((total, *part.shape[1:]), dtype=dtype)
    elif part.dtype.kind == "f" and out.dtype.kind != "f":
        out = out.astype(np.float64)
    if filled + len(part) > len(out) or part.shape[1:] != out.shape[1:]:
        return None
    out[filled:filled + len(part)] = part
    return out


def _parse_flat(body: bytes | bytearray, start: int,
                min_bytes: int) -> tuple[np.ndarray, int] | None:
    end = body.find(b"]", start)
    if end == -1 or end + 1 - start < min_bytes:
        return None
    total = _count(body, start, end, ord(",")) + 1
    view = memoryview(body)
    out, filled, at = None, 0, start + 1
    while True:
        cut = body.find(b",", at + SLICE_BYTES, end) if at + SLICE_BYTES < end else -1
        stop = end if cut == -1 else cut
        part = _slice_array(body, view, at, stop, 1)
        if part is None or (out := _store(out, filled, part, total)) is None:
            return None
        filled += len(part)
        if cut == -1:
            break
        at = cut + 1
    return (out, end + 1) if filled == total else None


class _Rows(NamedTuple):
    count: int  # rows
    cuts: list[int]  # the ] of the rows that end slices: about every SLICE_BYTES, and the last
    outer: int  # the array's closing ]


def _rows(body: bytes | bytearray, start: int) -> _Rows | None:
    """The rows of the 2-D array at ``start``: every row's ``]`` is found a block at a time with
    NumPy comparisons, up to the outer ``]`` (the first ``]`` followed by another after optional
    whitespace); only the count and the slices' ends are kept (no index per row)."""
    view = memoryview(body)
    n = len(body)
    count, cuts, next_cut = 0, [], start + SLICE_BYTES
    for lo in range(start, n, _BLOCK):
        block = np.frombuffer(view[lo:min(lo + _BLOCK + 1, n)], dtype=np.uint8)
        ends = np.flatnonzero(block[:_BLOCK] == _CLOSE)
        ends = ends[ends + 1 < len(block)]
        outer = -1
        # a row's ] is followed by a comma; look closer at the others (the outer one, and any
        # followed by whitespace: a pretty-printed body's last row)
        others = np.flatnonzero(block[ends + 1] != _COMMA)
        for seen, k in enumerate(others.tolist()):
            if seen > 1000:  # odd formatting (or not this array any more): not worth it
                return None
            after = _skip_ws(body, lo + int(ends[k]) + 1)
            if after < n and body[after] == _CLOSE:
                ends, outer = ends[:k + 1], after
                break
            if after >= n or body[after] != _COMMA:
                return None
        count += len(ends)
        ends += lo
        while len(ends) and next_cut <= ends[-1]:
            cut = int(ends[np.searchsorted(ends, next_cut)])
            cuts.append(cut)
            next_cut = cut + SLICE_BYTES
        if outer != -1:  # ends[-1]: the last row's ]
            if not cuts or cuts[-1] != ends[-1]:
                cuts.append(int(ends[-1]))
            return _Rows(count, cuts, outer)
    return None


def _parse_rows(body: bytes | bytearray, start: int,
                min_bytes: int) -> tuple[np.ndarray, int] | None:
    rows = _rows(body, start)
    if rows is None or rows.outer + 1 - start < min_bytes:
        return None
    view = memoryview(body)
    out, filled, at = None, 0, start + 1
    for stop in rows.cuts:
        part = _slice_array(body, view, at, stop + 1, 2)
        if part is None or (out := _store(out, filled, part, rows.count)) is None:
            return None
        filled += len(part)
        if stop != rows.cuts[-1]:
            at = _after_comma(body, stop + 1)
            if at == -1:
                return None
    return (out, rows.outer + 1) if filled == rows.count else None


def _count(body: bytes | bytearray, start: int, end: int, char: int) -> int:
    """How many bytes ``char`` ``body[start:end]`` holds (NumPy: 4x faster than bytes.count)."""
    view = memoryview(body)
    return sum(int(np.count_nonzero(np.frombuffer(view[lo:min(lo + _BLOCK, end)],
                                                   dtype=np.uint8) == char))
               for lo in range(start, end, _BLOCK))
