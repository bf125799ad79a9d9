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

The body is a client's, so what a scan may cost is bounded by the text it covers:

* **Time.** :func:`scan_array` answers where the caller's search for the next array resumes
  (past the ``]`` it found, or past all it looked at), and its work is proportional to the bytes
  up to there plus a constant: the scans of one body together read each byte a bounded number of
  times, whatever the body holds (a body of ``"data": [1, "data": [1, ...`` keys, each of which
  once scanned to the far ``]``, took quadratic time). The rows' ends are looked for in blocks
  that start small and double, so that a small array costs little.
* **Memory.** The output is allocated only once its element count is known to fit both
  ``max_elements`` and the text actually present (``k`` numbers need at least ``2k - 1``
  bytes): a count of ``]`` times the first slice's width, from a body whose later rows are
  short (or empty, ``],],],``), is refused before anything is allocated, not after an
  allocation of up to 10^14 bytes.

:func:`scan_array` reads in place only a well-formed array of numbers of that kind; anything
else (3-D and deeper arrays, ragged rows, booleans, strings, null, empty rows, integers beyond
int64, more than 1000 rows in a block whose ``]`` is not directly followed by a comma,
malformed text, too many elements) is left in the body: the caller parses it the ordinary way,
which reports the problem with its location.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import orjson

SLICE_BYTES = 1 << 16  # text per slice: ~3,300 float64 values; 64 KiB and 128 KiB measured best
_BLOCK = 1 << 20  # at most this many bytes scanned per NumPy comparison for the rows' ends
_FIRST_BLOCK = 1 << 10  # the first block of a scan; each next one twice the last, up to _BLOCK
_ODD_ENDS = 1000  # more ] in a block not directly followed by a comma: not read in place
_WS = re.compile(rb"[ \t\r\n]*")
_NUMBER_START = frozenset(b"-0123456789")
_OPEN = ord("[")
_CLOSE = ord("]")
_COMMA = ord(",")


class Scanned(NamedTuple):
    """What :func:`scan_array` found at an array's ``[``."""

    array: np.ndarray | None  # the array read in place; None: left to the ordinary parser
    end: int  # where the search for the next array resumes: past its ] (or what was looked at)


def _skip_ws(body: bytes | bytearray, i: int) -> int:
    return _WS.match(body, i).end()


def parse_array(body: bytes | bytearray, start: int, min_bytes: int = 0,
                max_elements: int | None = None) -> tuple[np.ndarray, int] | None:
    """(the array whose ``[`` is at ``body[start]``, the index just past its ``]``), or None
    (see :func:`scan_array`)."""
    found = scan_array(body, start, min_bytes, max_elements)
    return None if found.array is None else (found.array, found.end)


def scan_array(body: bytes | bytearray, start: int, min_bytes: int = 0,
               max_elements: int | None = None) -> Scanned:
    """The array whose ``[`` is at ``body[start]`` read in place, or None: an array of fewer than
    ``min_bytes`` of text (found out before parsing it), of more elements than ``max_elements``
    or its text can hold (found out before allocating), or not one of the kind below; with the
    index where the search for the next array resumes, past ``start``: past the array's ``]``,
    or past the text looked at. The work is proportional to the text up to there, plus a
    constant.

    Recognised: a flat array of numbers, or an array of equally long non-empty arrays of
    numbers (rows), with any whitespace between tokens.
    """
    n = len(body)
    i = _skip_ws(body, start + 1)
    if i >= n:
        return Scanned(None, n)
    if body[i] == _OPEN:
        j = _skip_ws(body, i + 1)
        if j < n and body[j] in _NUMBER_START:
            return _parse_rows(body, start, min_bytes, max_elements)
        return Scanned(None, j)  # deeper, empty, or not numbers: nothing read beyond j
    if body[i] in _NUMBER_START:
        return _parse_flat(body, start, min_bytes, max_elements)
    return Scanned(None, i)


def _room(start: int, end: int, max_elements: int | None) -> int:
    """At least as many elements as the array text ``body[start:end]`` can hold (each number
    takes a digit and all but the last a separator: ``2k - 1`` bytes for ``k``), and at most
    ``max_elements``."""
    room = (end - start + 1) // 2
    return room if max_elements is None else min(room, max_elements)


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
    return i + 1 if i < len(body) and body[i] == _COMMA else -1


def _store(out: np.ndarray | None, filled: int, part: np.ndarray, total: int,
           room: int) -> np.ndarray | None:
    """``part`` written at ``out[filled:]``: the output is made (as int64 or float64) at the first
    slice, once ``total`` rows of that slice's width are known to fit in ``room`` elements, and
    turned into float64 once if a later slice holds floats; None if they do not fit, or the
    slice does not (overflow, another width)."""
    if out is None:
        if total * (part.size // len(part)) > room:
            return None
        dtype = np.float64 if part.dtype.kind == "f" else np.int64
        out = np.empty((total, *part.shape[1:]), dtype=dtype)
    elif part.dtype.kind == "f" and out.dtype.kind != "f":
        out = out.astype(np.float64)
    if filled + len(part) > len(out) or part.shape[1:] != out.shape[1:]:
        return None
    out[filled:filled + len(part)] = part
    return out


def _parse_flat(body: bytes | bytearray, start: int, min_bytes: int,
                max_elements: int | None) -> Scanned:
    end = body.find(b"]", start)
    if end == -1:
        return Scanned(None, len(body))
    if end + 1 - start < min_bytes:
        return Scanned(None, end + 1)
    total = _count(body, start, end, _COMMA) + 1
    room = _room(start, end + 1, max_elements)
    if total > room:
        return Scanned(None, end + 1)
    view = memoryview(body)
    out, filled, at = None, 0, start + 1
    while True:
        cut = body.find(b",", at + SLICE_BYTES, end) if at + SLICE_BYTES < end else -1
        stop = end if cut == -1 else cut
        part = _slice_array(body, view, at, stop, 1)
        if part is None or (out := _store(out, filled, part, total, room)) is None:
            return Scanned(None, end + 1)
        filled += len(part)
        if cut == -1:
            break
        at = cut + 1
    return Scanned(out if filled == total else None, end + 1)


class _Rows(NamedTuple):
    count: int  # rows
    cuts: list[int]  # the ] of the rows that end slices: about every SLICE_BYTES, and the last
    outer: int  # the array's closing ]; -1 if the text is no such array
    end: int  # past the outer ], or past the byte found wrong (the end of the body: no outer ])


def _blocks(start: int, n: int) -> list[tuple[int, int]]:
    """The blocks ``[lo, hi)`` of ``body[start:n]`` scanned in turn: :data:`_FIRST_BLOCK`
    bytes, then each twice the last up to :data:`_BLOCK`. A block is never larger than the
    text before it plus the first block, so a scan that stops (at the outer ``]`` or at a byte
    found wrong) has looked at most at about twice the text up to there: a small array costs a
    small block."""
    blocks, lo, size = [], start, min(_FIRST_BLOCK, _BLOCK)
    while lo < n:
        blocks.append((lo, min(lo + size, n)))
        lo += size
        size = min(2 * size, _BLOCK)
    return blocks


def _rows(body: bytes | bytearray, start: int) -> _Rows:
    """The rows of the 2-D array at ``start``: every row's ``]`` is found a block at a time with
    NumPy comparisons, up to the outer ``]`` (the first ``]`` followed by another after optional
    whitespace); only the count and the slices' ends are kept (no index per row)."""
    view = memoryview(body)
    n = len(body)
    count, cuts, next_cut = 0, [], start + SLICE_BYTES
    for lo, hi in _blocks(start, n):
        block = np.frombuffer(view[lo:min(hi + 1, n)], dtype=np.uint8)
        ends = np.flatnonzero(block[:hi - lo] == _CLOSE)
        ends = ends[ends + 1 < len(block)]
        outer = -1
        # a row's ] is followed by a comma; look closer at the others (the outer one, and any
        # followed by whitespace: a pretty-printed body's last row)
        others = np.flatnonzero(block[ends + 1] != _COMMA)[:_ODD_ENDS + 2]
        for seen, k in enumerate(others.tolist()):
            end = lo + int(ends[k]) + 1
            if seen > _ODD_ENDS:  # odd formatting (or not this array any more): not worth it
                return _Rows(count, cuts, -1, end)
            after = _skip_ws(body, end)
            if after < n and body[after] == _CLOSE:
                ends, outer = ends[:k + 1], after
                break
            if after >= n or body[after] != _COMMA:
                return _Rows(count, cuts, -1, max(after, end))
        count += len(ends)
        ends += lo
        while len(ends) and next_cut <= ends[-1]:
            cut = int(ends[np.searchsorted(ends, next_cut)])
            cuts.append(cut)
            next_cut = cut + SLICE_BYTES
        if outer != -1:  # ends[-1]: the last row's ]
            if not cuts or cuts[-1] != ends[-1]:
                cuts.append(int(ends[-1]))
            return _Rows(count, cuts, outer, outer + 1)
    return _Rows(count, cuts, -1, n)


def _parse_rows(body: bytes | bytearray, start: int, min_bytes: int,
                max_elements: int | None) -> Scanned:
    rows = _rows(body, start)
    skip = Scanned(None, rows.end)
    if rows.outer == -1 or rows.outer + 1 - start < min_bytes:
        return skip
    room = _room(start, rows.outer + 1, max_elements)
    if rows.count > room:
        return skip
    view = memoryview(body)
    out, filled, at = None, 0, start + 1
    for stop in rows.cuts:
        part = _slice_array(body, view, at, stop + 1, 2)
        if part is None or (out := _store(out, filled, part, rows.count, room)) is None:
            return skip
        filled += len(part)
        if stop != rows.cuts[-1]:
            at = _after_comma(body, stop + 1)
            if at == -1:
                return skip
    return Scanned(out if filled == rows.count else None, rows.end)


def _count(body: bytes | bytearray, start: int, end: int, char: int) -> int:
    """How many bytes ``char`` ``body[start:end]`` holds (NumPy: 4x faster than bytes.count)."""
    view = memoryview(body)
    return sum(int(np.count_nonzero(np.frombuffer(view[lo:min(lo + _BLOCK, end)],
                                                   dtype=np.uint8) == char))
               for lo in range(start, end, _BLOCK))
