"""Large JSON arrays of numbers are parsed in slices straight into NumPy arrays
(service.api.json_arrays): the same values and dtype as ``np.asarray(orjson.loads(...))``, and
anything not clearly a 1-D or 2-D array of numbers is left to the ordinary parser."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.transport import json_arrays
from service.transport import json_in as body_module

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    """Slices of 64 bytes, so that every array below spans many of them; arrays read in place
    in every body from B64_INPLACE_BYTES (the 1.6 MB bodies below, under the 3 MiB floor)."""
    monkeypatch.setattr(json_arrays, "SLICE_BYTES", 64)
    monkeypatch.setattr(json_arrays, "_BLOCK", 256)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)


def test_json_arrays_are_read_in_place_from_the_body_size_floor(monkeypatch):
    """Below JSON_INPLACE_BODY_BYTES orjson + np.asarray is as fast (the arrays stay lists);
    from it they are read in place. b64 texts are left in place from B64_INPLACE_BYTES."""
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 3 << 20)
    x = np.random.default_rng(9).normal(size=(5_000, 10))  # 1 MB of JSON
    raw = orjson.dumps({"predictions": x, "targets": {"shape": [2], "b64": "A" * (1 << 20)}},
                       option=orjson.OPT_SERIALIZE_NUMPY)
    assert body_module.B64_INPLACE_BYTES < len(raw) < body_module.JSON_INPLACE_BODY_BYTES
    obj = body_module.parse_json(raw)
    assert isinstance(obj["predictions"], list)
    assert type(obj["targets"]["b64"]).__name__ == "B64Text"
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", len(raw))
    obj = body_module.parse_json(raw)
    assert isinstance(obj["predictions"], np.ndarray)
    np.testing.assert_array_equal(obj["predictions"], x)


def _parse(text: bytes) -> np.ndarray | None:
    """The array parsed in place from ``{"predictions": <text>, "reduction": "mean"}``."""
    raw = b'{"predictions": ' + text + b', "reduction": "mean"}'
    found = json_arrays.parse_array(raw, raw.index(b"["))
    if found is None:
        return None
    array, end = found
    assert raw[end:] == b', "reduction": "mean"}'
    return array


def _expected(text: bytes) -> np.ndarray:
    return np.asarray(orjson.loads(text))


finite = st.floats(allow_nan=False, allow_infinity=False)
ints = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 7), st.sampled_from(["floats", "ints", "mixed"]),
       st.sampled_from(["orjson", "json", "indent"]), st.data())
def test_rows_equal_the_ordinary_parse(n, c, kind, style, data):
    values = {"floats": finite, "ints": ints, "mixed": st.one_of(finite, ints)}[kind]
    rows = data.draw(st.lists(st.lists(values, min_size=c, max_size=c), min_size=n, max_size=n))
    text = (orjson.dumps(rows) if style == "orjson" else
            json.dumps(rows, indent=1 if style == "indent" else None).encode())
    got = _parse(text)
    assert got is not None
    want = _expected(text)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))  # -0.0 stays -0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(finite, ints), min_size=1, max_size=300),
       st.sampled_from(["orjson", "json", "indent"]))
def test_flat_arrays_equal_the_ordinary_parse(values, style):
    text = (orjson.dumps(values) if style == "orjson" else
            json.dumps(values, indent=2 if style == "indent" else None).encode())
    got = _parse(text)
    want = _expected(text)
    assert got is not None and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_integers_then_floats_become_float64():
    """The first slices hold integers only: the output turns float64 when a float arrives."""
    rows = [[i, i + 1] for i in range(200)] + [[0.5, 2**60 + 1]]
    got = _parse(orjson.dumps(rows))
    want = np.asarray(rows)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_number_spellings():
    text = b"[[1e3, -0.0, 2E-2, 1.5e+300, -7], [0, 12345678901234567890e-5, 4.9e-324, 1, 2]]"
    np.testing.assert_array_equal(_parse(text), _expected(text))


@pytest.mark.parametrize("text", [
    b"[[1, 2], [3, true]]",  # NumPy would read true as 1
    b"[1, 2, false, 4]",
    b"[[1, 2], [3, null]]",
    b'[[1, 2], [3, "4"]]',
    b"[[1, 2], [3, {}]]",
    b"[[1, 2], [3]]",  # ragged within a slice
    b"[[1, 2, 3], " + b"[4, 5, 6], " * 40 + b"[7, 8]]",  # ragged across slices
    b"[[1, 2], []]",
    b"[[], [1]]",
    b"[[[1, 2]], [[3, 4]]]",  # 3-D
    b"[[1, [2]], [3, 4]]",
    b"[1, [2], 3]",
    b"[1, 2,]",
    b"[[1, 2],, [3, 4]]",
    b"[[1, 2] [3, 4]]",
    b"[[1, 2], 5, [3, 4]]",
    b"[1 2]",
    b"[9223372036854775808, 9223372036854775809]",  # beyond int64 (NumPy: uint64)
    b"[NaN, 1]",
    b"[[1, 2], [3, 4] ,]",
    b"[]",
    b"[[1, 2], [3, 4]",  # unterminated
])
def test_anything_else_is_left_to_the_ordinary_parser(text):
    assert _parse(text) is None


def _large(rows: object) -> bytes:
    return orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY)


def test_parse_json_reads_request_arrays_in_place(monkeypatch):
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 100)
    rng = np.random.default_rng(3)
    x, y, w = rng.normal(size=(50, 4)), rng.integers(0, 4, 50), rng.random(50)
    raw = (b'{"predictions": ' + _large(x) + b', "targets": ' + _large(y)
           + b', "sample_weight": {"shape": [50], "dtype": "float64", "data": ' + _large(w)
           + b'}, "inputs": {"var": ' + _large(w) + b'}, "params": {"delta": 1.5}}')
    obj = body_module.parse_json(raw)
    for got, want in ((obj["predictions"], x), (obj["targets"], y),
                      (obj["sample_weight"]["data"], w), (obj["inputs"]["var"], w)):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert obj["params"] == {"delta": 1.5} and obj["sample_weight"]["shape"] == [50]


@pytest.mark.parametrize("variant", ["in_params", "duplicate_key", "nul_escape"])
def test_arrays_elsewhere_leave_the_body_to_the_ordinary_parser(monkeypatch, variant):
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 100)
    x = _large(np.arange(100.0).reshape(25, 4))
    raw = {
        "in_params": b'{"predictions": ' + x + b', "params": {"targets": ' + x + b"}}",
        "duplicate_key": b'{"predictions": ' + x + b', "predictions": [[1.0]]}',
        "nul_escape": b'{"predictions": ' + x + b', "note": "\\u0000"}',
    }[variant]
    obj = body_module.parse_json(raw)
    assert obj == orjson.loads(raw)  # lists, as the ordinary parser gives


def test_an_array_key_inside_a_string_is_left_alone(monkeypatch):
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 100)
    x = np.arange(100.0).reshape(25, 4)
    note = '{"predictions": ' + orjson.dumps(x, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "}"
    obj = body_module.parse_json(orjson.dumps({"note": note, "predictions": x},
                                              option=orjson.OPT_SERIALIZE_NUMPY))
    assert obj["note"] == note
    assert isinstance(obj["predictions"], np.ndarray)
    np.testing.assert_array_equal(obj["predictions"], x)


async def test_large_nested_request_answers_as_before(client):
    """A 1.6 MB nested body (read in place) gets the answer of the same arrays sent small
    enough to be parsed the ordinary way, row by row."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(20_000, 10)), rng.integers(0, 10, 20_000)
    raw = orjson.dumps({"predictions": x, "targets": y, "reduction": "sum"},
                       option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(raw) > body_module.B64_INPLACE_BYTES
    r = await client.post("/gradient/cross_entropy", content=raw,
                          headers={"content-type": "application/json"})
    assert r.status_code == 200
    got = r.json()
    head = await client.post("/gradient/cross_entropy", json={
        "predictions": x[:100].tolist(), "targets": y[:100].tolist(), "reduction": "none"})
    assert head.status_code == 200
    np.testing.assert_array_equal(np.asarray(got["per_sample"][:100]),
                                  np.asarray(head.json()["per_sample"]))
    np.testing.assert_array_equal(np.asarray(got["gradient"][:100]),
                                  np.asarray(head.json()["gradient"]))


@pytest.mark.parametrize(("rows", "loc"), [
    ({5: [0.5] * 9}, ["body", "predictions", 5]),  # ragged
    ({7: [0.5] * 9 + [True]}, ["body", "predictions", 7, 9]),  # a boolean
])
async def test_large_nested_request_errors_point_at_the_value(client, rows, loc):
    x = np.zeros((20_000, 10)).tolist()
    for i, row in rows.items():
        x[i] = row
    raw = orjson.dumps({"predictions": x, "targets": [0] * 20_000})
    r = await client.post("/gradient/cross_entropy", content=raw,
                          headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == loc


async def test_integers_beyond_int64_are_refused(client):
    """NumPy reads a list of integers from 2**63 as uint64, which was cast to int64 (wrapping
    to negative class indices); with a smaller integer or a float, it reads float64."""
    r = await client.post("/loss/cross_entropy", json={
        "predictions": [[0.1, 0.2], [0.3, 0.4]], "targets": [1, 2**63]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_dtype"
    r = await client.post("/loss/cross_entropy", json={
        "predictions": [[0.1, 0.2], [0.3, 0.4]], "targets": [2**63 + 1, 2**63]})
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "invalid_number"
    assert problem["errors"][0]["loc"] == ["body", "targets", 0]


def test_compare_submissions_are_read_in_place(monkeypatch):
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 100)
    x = np.arange(100.0).reshape(25, 4)
    obj = body_module.parse_json(orjson.dumps(
        {"loss": "mse", "predictions": x, "targets": x, "submission": {
            "per_sample": x[:, 0].copy(), "gradients": {"predictions": x}, "value": 1.0}},
        option=orjson.OPT_SERIALIZE_NUMPY))
    sub = obj["submission"]
    for got, want in ((obj["targets"], x), (sub["per_sample"], x[:, 0]),
                      (sub["gradients"]["predictions"], x)):
        assert isinstance(got, np.ndarray)
        np.testing.assert_array_equal(got, want)
    assert sub["value"] == 1.0


async def test_large_compare_request_grades_as_before(client):
    """A 1.6 MB /compare body (read in place) is graded like the same body parsed as lists."""
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(20_000, 10)), rng.normal(size=(20_000, 10))
    grad = 2 * (x - y) / x.size
    body = {"loss": "mse", "predictions": x, "targets": y, "tolerance": {"preset": "numpy"},
            "submission": {"gradient": grad * 1.0000001, "per_sample": ((x - y) ** 2).mean(1)}}
    raw = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(raw) > body_module.B64_INPLACE_BYTES
    fast = await client.post("/compare", content=raw,
                             headers={"content-type": "application/json"})
    parsed = body_module.parse_json(raw)
    assert isinstance(parsed["submission"]["gradient"], np.ndarray)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(body_module, "B64_INPLACE_BYTES", 1 << 40)  # the ordinary parser
        plain = await client.post("/compare", content=raw,
                                  headers={"content-type": "application/json"})
    assert fast.status_code == plain.status_code == 200
    got, want = fast.json(), plain.json()
    assert got["checks"] == want["checks"] and got["passed"] is want["passed"] is False


@pytest.mark.parametrize("text", [b"[1.5, 2.5, 3.5]", b"[[1.5, 2.5], [3.5, 4.5]]"])
def test_arrays_under_the_size_floor_are_not_parsed(text):
    raw = b'{"predictions": ' + text + b"}"
    start = raw.index(b"[")
    assert json_arrays.parse_array(raw, start, min_bytes=len(text) + 1) is None
    array, end = json_arrays.parse_array(raw, start, min_bytes=len(text))
    assert end == start + len(text)
    np.testing.assert_array_equal(array, orjson.loads(text))
