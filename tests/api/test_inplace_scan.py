"""The in-place JSON scan (service.api.json_arrays, service.api.body) against hostile bodies.

* A differential fuzz: with every size threshold at 0 and slices and blocks of a few bytes,
  random bodies (well-formed, ragged, mixed, and mutated into malformed text) parse to the same
  arrays as orjson + the ordinary decoding, or to the same located 4xx.
* Work linear in the body: the bytes the scan looks at (searches, block comparisons, slices
  parsed, whitespace skipped), counted, grow at most ~2x when a hostile body's size doubles (a
  key re-scanning to the far ``]`` made it quadratic: 13.5 s for 3 MiB).
* No allocation from unchecked counts: ``np.empty`` in the scan is recorded; a ragged or
  ``],],],`` body asks for no more than its text can hold (it asked for count of ``]`` x the
  first row's width: 880 MiB for 3 MiB, 2e14 bytes and a 500 for 19 MiB).

Work is counted, never timed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.problems import ProblemError
from service.transport import json_arrays
from service.transport import json_in as body_module
from service.transport.arrays import EncodingError, decode_array

pytestmark = pytest.mark.anyio


class _NumPy:
    """NumPy as json_arrays sees it, recording the bytes each ``np.empty`` asks for (refusing
    more than ``limit``, so that the old behaviour fails instead of allocating) and the bytes
    each ``np.frombuffer`` covers (the block comparisons and counts of the scan)."""

    def __init__(self, limit: int = 1 << 30):
        self.limit = limit
        self.empty_bytes: list[int] = []
        self.buffer_bytes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    def empty(self, shape: Any, dtype: Any = float) -> np.ndarray:
        nbytes = math.prod(np.atleast_1d(shape).tolist()) * np.dtype(dtype).itemsize
        self.empty_bytes.append(nbytes)
        if nbytes > self.limit:
            raise MemoryError(f"np.empty of {nbytes} bytes")
        return np.empty(shape, dtype=dtype)

    def frombuffer(self, buffer: Any, dtype: Any = float) -> np.ndarray:
        self.buffer_bytes += memoryview(buffer).nbytes
        return np.frombuffer(buffer, dtype=dtype)


class _Counted(bytes):
    """A body whose ``find`` counts the bytes each search covers."""

    searched = 0

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:  # type: ignore[override]
        lo = 0 if start is None else start
        hi = len(self) if end is None else min(end, len(self))
        found = super().find(sub, lo, hi)
        type(self).searched += (hi if found == -1 else found + 1) - lo
        return found


@pytest.fixture
def work(monkeypatch):
    """Counts the bytes the scan of a body looks at; in every body, from any size."""
    fake = _NumPy()
    monkeypatch.setattr(json_arrays, "np", fake)
    monkeypatch.setattr(_Counted, "searched", 0)
    counts = {"sliced": 0, "skipped": 0}
    slice_array, skip_ws = json_arrays._slice_array, json_arrays._skip_ws

    def counted_slice(body, view, lo, hi, ndim):
        counts["sliced"] += hi - lo
        return slice_array(body, view, lo, hi, ndim)

    def counted_skip(body, i):
        end = skip_ws(body, i)
        counts["skipped"] += end - i
        return end

    monkeypatch.setattr(json_arrays, "_slice_array", counted_slice)
    monkeypatch.setattr(json_arrays, "_skip_ws", counted_skip)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)

    def measure(raw: bytes) -> int:
        fake.buffer_bytes, _Counted.searched = 0, 0
        counts.update(sliced=0, skipped=0)
        body_module._spans(_Counted(raw))
        return fake.buffer_bytes + _Counted.searched + counts["sliced"] + counts["skipped"]

    return measure


def _far_bracket(keys: int) -> bytes:
    """The issue's body: every key's array runs on to the one ``]`` at the end."""
    return b'{"predictions": [1, ' + b'"data": [1, ' * keys + b"2]}"


def _small_rows(keys: int) -> bytes:
    """Many small 2-D arrays (each looked for in blocks of up to 1 MiB: the rest of the body)."""
    return b"{" + b'"predictions": [[1, 2], [3, 4]], ' * keys + b'"targets": [0, 1]}'


def _open_rows(keys: int) -> bytes:
    """2-D arrays that never close: each scan runs to the end of the body."""
    return b'{"predictions": [[1], ' + b'"predictions": [[1], ' * keys + b"[2]]}"


def _string_rows(keys: int) -> bytes:
    """Rows of strings among numbers: each array fails at its first slice."""
    return b"{" + b'"predictions": [1, 2, "x"], ' * keys + b'"targets": [0]}'


@pytest.mark.parametrize("make", [_far_bracket, _small_rows, _open_rows, _string_rows])
def test_scan_work_grows_linearly_with_hostile_bodies(work, make):
    """Doubling a hostile body (twice the keys) at most ~2x the bytes the scan looks at; the
    old scan (each key re-scanning to the far ``]``, or a whole block) grew ~4x. In all, a few
    times the body, plus at most a first block per array key (where the rows' ends are looked
    for)."""
    sizes = [100, 200, 400]
    counts = [work(make(k)) for k in sizes]
    for k, small, large in zip(sizes, counts, counts[1:], strict=False):
        assert large <= 2.5 * small, (make.__name__, k, counts)
    assert counts[-1] <= 4 * len(make(sizes[-1])) + json_arrays._FIRST_BLOCK * sizes[-1], counts


def test_the_issue_body_is_refused_after_a_linear_scan(work):
    """The issue's 3 MiB body (40,000 keys whose arrays run to the far ``]``, 13.5 s to refuse):
    the scan looks at a few times its bytes (it looked at each key's rest: ~40,000 x 1.5 MiB)."""
    raw = _far_bracket(40_000)
    raw = raw[:-2] + b" " * ((3 << 20) - len(raw)) + raw[-2:]
    assert work(raw) <= 4 * len(raw)
    with pytest.raises(ProblemError) as refused:
        body_module.parse_json(raw)
    assert refused.value.status == 400 and refused.value.code == "invalid_json"


def _ragged(width: int, rows: int) -> bytes:
    return (b'{"predictions": [[' + b"0," * (width - 1) + b"0]" + b", [0]" * rows
            + b'], "targets": [0]}')


def _closed_empty(width: int, rows: int) -> bytes:
    """``[[0,...,0],],],...]``: every ``],`` counted as a row of the first one's width."""
    return b'{"predictions": [[' + b"0," * (width - 1) + b"0]," + b"]," * rows + b"]]}"


@pytest.mark.parametrize("make", [_ragged, _closed_empty])
def test_no_allocation_before_the_count_is_known_to_fit_the_text(monkeypatch, make):
    """A first row of 5,000 values, then 20,000 short (or empty) rows: the old scan asked
    np.empty for 20,001 x 5,000 x 8 bytes (800 MB) before reading the second slice. No request
    may exceed what the text can hold: k numbers take at least 2k - 1 bytes, 8 bytes each."""
    fake = _NumPy(limit=64 << 20)
    monkeypatch.setattr(json_arrays, "np", fake)
    monkeypatch.setattr(json_arrays, "SLICE_BYTES", 1 << 12)
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    raw = make(5_000, 20_000)
    try:
        obj = body_module.parse_json(raw)
    except ProblemError as exc:
        assert exc.status == 400  # the ],],] body is malformed JSON
    else:
        assert isinstance(obj["predictions"], list)  # left to the ordinary parse (ragged)
    assert max(fake.empty_bytes, default=0) <= 4 * len(raw)


async def test_hostile_counts_answer_4xx(client, monkeypatch):
    """Over HTTP: the ragged body gets its located 422, the ``],],]`` one a 400 (it got a 500
    from the MemoryError of the allocation)."""
    fake = _NumPy(limit=64 << 20)
    monkeypatch.setattr(json_arrays, "np", fake)
    monkeypatch.setattr(json_arrays, "SLICE_BYTES", 1 << 12)
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    headers = {"content-type": "application/json"}
    r = await client.post("/loss/mse", content=_ragged(5_000, 20_000), headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "ragged_array"
    assert r.json()["errors"][0]["loc"] == ["body", "predictions", 1]
    r = await client.post("/loss/mse", content=_closed_empty(5_000, 20_000), headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    assert max(fake.empty_bytes, default=0) <= 4 * 30_000


@pytest.mark.parametrize("text", [b"[[1, 2], [3, 4], [5, 6]]", b"[1, 2, 3, 4, 5, 6]"])
def test_arrays_over_max_elements_are_left_to_the_ordinary_parse(monkeypatch, text):
    fake = _NumPy()
    monkeypatch.setattr(json_arrays, "np", fake)
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    raw = b'{"predictions": ' + text + b', "targets": ' + text + b"}"
    obj = body_module.parse_json(raw, max_elements=6)
    assert isinstance(obj["predictions"], np.ndarray)  # 6 elements: within the limit
    assert isinstance(obj["targets"], list)  # 6 more: over it, together
    assert fake.empty_bytes == [48]
    obj = body_module.parse_json(raw, max_elements=5)
    assert isinstance(obj["predictions"], list) and isinstance(obj["targets"], list)


async def test_arrays_over_max_elements_answer_413(client, settings, monkeypatch):
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    settings.max_elements = 10
    raw = orjson.dumps({"predictions": np.zeros((4, 3)), "targets": np.zeros((4, 3))},
                       option=orjson.OPT_SERIALIZE_NUMPY)
    r = await client.post("/loss/mse", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_many_elements"


# ---- differential fuzz: the in-place parse against orjson + the ordinary decoding ----

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_number = st.one_of(_finite, st.integers(-(2**63), 2**63 - 1), st.integers(-99, 99))
_leaf = st.one_of(_number, _number, _number, st.booleans(), st.none(), st.just("NaN"))


def _rows_of(draw: st.DrawFn) -> list[list[Any]]:
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(_number, min_size=width, max_size=width), max_size=12))
    if rows and draw(st.integers(0, 2)) == 0:  # spoil a row: ragged, not numbers, deeper
        i = draw(st.integers(0, len(rows) - 1))
        rows[i] = draw(st.one_of(st.lists(_leaf, max_size=5), st.just([[1]]),
                                 st.lists(_number, min_size=width + 1, max_size=width + 1)))
    return rows


@st.composite
def _arrays(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["flat", "flat", "rows", "rows", "rows", "wide_first",
                                 "wide_first", "mixed", "tensor", "deep", "scalar"]))
    if kind == "flat":
        return draw(st.lists(_number, max_size=30))
    if kind == "rows":
        return _rows_of(draw)
    if kind == "wide_first":  # then short rows: the count of ] x the first width is too many
        wide = draw(st.lists(st.integers(0, 9), min_size=4, max_size=12))
        return [wide] + [[draw(st.integers(0, 9))]] * draw(st.integers(5, 30))
    if kind == "mixed":
        return draw(st.lists(st.one_of(_leaf, st.lists(_number, max_size=3)), max_size=10))
    if kind == "tensor":
        data = draw(st.lists(_number, max_size=12))
        return {"shape": [len(data)], "dtype": draw(st.sampled_from(["float64", "int64"])),
                "data": data}
    if kind == "deep":
        return [[[draw(_number)]]]
    return draw(_number)


_KEYS = st.sampled_from(["predictions", "targets", "sample_weight", "data", "value"])


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = {}
    for key in draw(st.lists(_KEYS, min_size=1, max_size=4, unique=True)):
        body[key] = draw(_arrays())
    if draw(st.booleans()):
        body["inputs"] = {"var": draw(_arrays())}
    if draw(st.booleans()):
        body["submission"] = {"value": draw(_arrays())}
    indent = draw(st.sampled_from([None, None, 1]))
    text = json.dumps(body, indent=indent).encode()
    for _ in range(draw(st.integers(0, 3))):  # mutate: insert or delete hostile text
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            piece = draw(st.sampled_from([b"]", b"[", b",", b'"data": [1, ', b"],", b" ",
                                          b'"predictions": [[1], ', b"1", b"}"]))
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 4)):]
    return text


def _decoded(value: Any, loc: tuple[Any, ...]) -> Any:
    try:
        a = decode_array(value, loc, max_elements=10**6)
    except EncodingError as exc:
        return ("error", exc.code, exc.loc, exc.status)
    return ("array", a.dtype.str, a.shape, a.tobytes())


def _blank(obj: Any) -> Any:
    """``obj`` with every request array replaced by None (what is left must be equal)."""
    if isinstance(obj, dict):
        for where, key, _ in body_module._array_places(obj):
            where[key] = None
    return obj


@pytest.fixture
def tiny(monkeypatch) -> _NumPy:
    """Every threshold at 0, slices and blocks of a few bytes; NumPy's allocations recorded."""
    fake = _NumPy()
    monkeypatch.setattr(json_arrays, "np", fake)
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    monkeypatch.setattr(json_arrays, "SLICE_BYTES", 8)
    monkeypatch.setattr(json_arrays, "_BLOCK", 16)
    monkeypatch.setattr(json_arrays, "_FIRST_BLOCK", 4, raising=False)  # (new in the fix)
    return fake


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(raw=_bodies())
def test_in_place_parse_equals_the_ordinary_parse(tiny, raw):
    """The same arrays, or the same located problem; and no allocation larger than what the
    text can hold (k numbers take 2k - 1 bytes)."""
    tiny.empty_bytes.clear()
    try:
        want = orjson.loads(raw)
    except orjson.JSONDecodeError:
        with pytest.raises(ProblemError) as refused:
            body_module.parse_json(raw)
        assert refused.value.status == 400
        assert max(tiny.empty_bytes, default=0) <= 4 * (len(raw) + 1)
        return
    got = body_module.parse_json(raw)
    assert max(tiny.empty_bytes, default=0) <= 4 * (len(raw) + 1)
    if not isinstance(want, dict):
        assert got == want
        return
    places = [(where[key], loc) for where, key, loc in body_module._array_places(got)]
    expected = [(where[key], loc) for where, key, loc in body_module._array_places(want)]
    assert [loc for _, loc in places] == [loc for _, loc in expected]
    for (value, loc), (plain, _) in zip(places, expected, strict=True):
        assert _decoded(value, loc) == _decoded(plain, loc)
    assert _blank(got) == _blank(want)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(raw=_bodies(), data=st.data())
def test_every_scan_resumes_past_its_start(tiny, raw, data):
    """Whatever the text at a ``[``, the scan answers a resume point past it (so the next search
    never looks at it again), and an array read in place is exactly that text's."""
    starts = [i for i, c in enumerate(raw) if c == ord("[")]
    if not starts:
        return
    start = data.draw(st.sampled_from(starts))
    found = json_arrays.scan_array(raw, start, max_elements=data.draw(st.integers(0, 40)))
    assert start < found.end <= len(raw)
    if found.array is not None:
        want = np.asarray(orjson.loads(raw[start:found.end]))
        assert found.array.dtype == want.dtype and found.array.shape == want.shape
        np.testing.assert_array_equal(found.array, want)
