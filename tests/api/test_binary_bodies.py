"""The binary tensor format (``application/octet-stream``, KServe-style): a JSON header of
``Inference-Header-Content-Length`` bytes, then the bytes of the tensor objects that give
``binary_data_size``, in the header's order. Results equal the JSON API's bit for bit; every
malformed body gets a 4xx at the header, the tensor or the body."""

from __future__ import annotations

import functools
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import event, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from service.config import Settings
from service.transport import binary as binary_body
from service.transport.json_out import LAZY_JSON_ELEMENTS, Splices, encode_array, wire_to_array

pytestmark = pytest.mark.anyio

HEADERS = {"content-type": binary_body.MEDIA_TYPE}


def _tensor(a: np.ndarray) -> dict[str, Any]:
    return {"shape": list(a.shape), "dtype": a.dtype.name, "binary_data_size": a.nbytes}


async def _post(client: Any, path: str, header: dict[str, Any], *arrays: np.ndarray,
                pad: int = 0, length: str | None = None) -> Any:
    """POST ``header`` (JSON, then ``pad`` spaces) followed by the arrays' bytes."""
    text = orjson.dumps(header) + b" " * pad
    body = text + b"".join(a.astype(a.dtype.newbyteorder("<")).tobytes() for a in arrays)
    headers = {**HEADERS, binary_body.HEADER_LENGTH: length or str(len(text))}
    return await client.post(path, content=body, headers=headers)


def _unpack(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == binary_body.MEDIA_TYPE
    length = int(r.headers[binary_body.HEADER_LENGTH])
    assert length % binary_body.ALIGN == 0  # padded: the arrays start aligned
    return binary_body.unpack(r.content, length)


def _problem(r: Any, status: int, code: str, loc: list[Any]) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["errors"][0]["loc"] == loc, body
    return body["detail"]


async def test_a_binary_request_gets_the_json_answer_as_bytes(client):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 6)), rng.integers(0, 6, size=500)
    got = _unpack(await _post(client, "/gradient/cross_entropy",
                              {"predictions": _tensor(x), "targets": _tensor(y)}, x, y))
    want = (await client.post("/gradient/cross_entropy", json={
        "predictions": x.tolist(), "targets": y.tolist(), "encoding": "b64"})).json()
    assert got["value"] == want["value"] and got["n_samples"] == 500
    assert got["params"] == want["params"] and got["backend"] == "numpy"
    for key in ("per_sample", "gradient"):
        assert isinstance(got[key], np.ndarray)
        assert got[key].tobytes() == wire_to_array(want[key]).tobytes(), key
    assert got["gradients"]["predictions"].tobytes() == got["gradient"].tobytes()


async def test_the_bytes_follow_the_order_of_the_header(client):
    """targets named first: its bytes come first; ``inputs`` in their order; a JSON list and a
    scalar may sit in the header beside binary tensors; sample weights too."""
    rng = np.random.default_rng(1)
    a, p, n = (rng.normal(size=(40, 3)) for _ in range(3))
    sw = rng.uniform(size=40)
    header = {"sample_weight": _tensor(sw), "inputs": {
        "negative": _tensor(n), "anchor": _tensor(a), "positive": p.tolist()},
        "reduction": "sum"}
    got = _unpack(await _post(client, "/gradient/triplet_margin", header, sw, n, a))
    want = (await client.post("/gradient/triplet_margin", json={
        "inputs": {"anchor": a.tolist(), "positive": p.tolist(), "negative": n.tolist()},
        "sample_weight": sw.tolist(), "reduction": "sum", "encoding": "b64"})).json()
    assert got["value"] == want["value"]
    for k in ("anchor", "positive", "negative"):
        assert got["gradients"][k].tobytes() == wire_to_array(want["gradients"][k]).tobytes()
    x, y = rng.normal(size=(9, 4)), rng.integers(0, 4, size=9)
    got = _unpack(await _post(client, "/loss/cross_entropy",
                              {"targets": _tensor(y), "predictions": _tensor(x)}, y, x))
    want = (await client.post("/loss/cross_entropy", json={
        "predictions": x.tolist(), "targets": y.tolist()})).json()
    assert got["value"] == want["value"]


@pytest.mark.parametrize("pad", [0, 1, 3, 5])
async def test_misaligned_bytes_and_other_dtypes(client, pad):
    """A header whose length is not a multiple of 8 leaves the arrays misaligned: they are
    copied (the kernels want aligned arrays), with the same result. float32 and int32 arrays
    keep their dtype on the way; the request's dtype says how the loss is computed."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=3000).astype(np.int32)
    header = {"predictions": _tensor(x), "targets": _tensor(y), "dtype": "float32"}
    got = _unpack(await _post(client, "/gradient/multi_margin", header, x, y, pad=pad))
    assert got["gradient"].dtype == np.float32 and got["dtype"] == "float32"
    want = (await client.post("/gradient/multi_margin", json={
        "predictions": x.tolist(), "targets": y.tolist(), "dtype": "float32",
        "encoding": "b64"})).json()
    assert got["value"] == want["value"]
    assert got["gradient"].tobytes() == wire_to_array(want["gradient"]).tobytes()


async def test_unreduced_values_and_non_finite_results_travel_as_ieee_bytes(client):
    x = np.array([1e200, 1.0, -2.0, 3.5])
    y = np.zeros(4)
    got = _unpack(await _post(client, "/gradient/mse", {
        "predictions": _tensor(x), "targets": _tensor(y), "reduction": "none"}, x, y))
    assert isinstance(got["value"], np.ndarray) and got["value"][0] == np.inf
    assert list(got["value"][1:]) == [1.0, 4.0, 12.25]
    assert list(got["gradient"]) == [2e200, 2.0, -4.0, 7.0]  # of the sum


async def test_the_encoding_field_chooses_the_response_format(client):
    x = np.arange(6.0).reshape(3, 2)
    header = {"predictions": _tensor(x), "targets": _tensor(x + 1), "encoding": "json"}
    r = await _post(client, "/gradient/mse", header, x, x + 1)
    assert r.headers["content-type"] == "application/json"
    assert r.json()["gradient"] == (2 * (x - (x + 1)) / 6).tolist()
    header["encoding"] = "b64"
    r = await _post(client, "/gradient/mse", header, x, x + 1)
    assert wire_to_array(r.json()["gradient"]).tolist() == (2 * (x - (x + 1)) / 6).tolist()
    # a JSON request may ask for a binary answer
    r = await client.post("/gradient/mse", json={
        "predictions": x.tolist(), "targets": (x + 1).tolist(), "encoding": "binary",
        "omit": ["per_sample", "gradient"]})
    got = _unpack(r)
    assert "gradient" not in got and "per_sample" not in got
    assert got["gradients"]["predictions"].tolist() == (2 * (x - (x + 1)) / 6).tolist()
    r = await client.post("/loss/by_name_does_not_exist", json={})
    assert r.status_code == 404
    r = await client.post("/loss/l2", json={  # the alias route answers in binary too
        "predictions": [1.0], "targets": [3.0], "encoding": "binary"})
    assert _unpack(r)["value"] == 4.0


async def test_header_length_problems_are_400_at_the_header(client):
    x = np.ones(4)
    loc = ["header", "inference-header-content-length"]
    body = orjson.dumps({"predictions": _tensor(x), "targets": _tensor(x)}) + x.tobytes() * 2
    r = await client.post("/loss/mse", content=body, headers=HEADERS)
    assert "needs the Inference-Header-Content-Length header" in _problem(
        r, 400, "invalid_binary_body", loc)
    for bad in ("abc", "-5", str(len(body) + 1), "1e3", "٣".encode()):
        r = await client.post("/loss/mse", content=body, headers={
            **HEADERS, binary_body.HEADER_LENGTH: bad})
        _problem(r, 400, "invalid_binary_body", loc)
    r = await _post(client, "/loss/mse", {"predictions": _tensor(x)}, x, length="7")
    _problem(r, 400, "invalid_json", ["body"])  # the header cut short: malformed JSON
    r = await client.post("/loss/mse", content=b"", headers={
        **HEADERS, binary_body.HEADER_LENGTH: "0"})
    _problem(r, 400, "empty_body", ["body"])


async def test_sizes_that_do_not_add_up(client):
    x = np.ones(4)
    # more bytes declared than sent: at the tensor that runs past the end
    r = await _post(client, "/loss/mse", {"predictions": _tensor(x), "targets": _tensor(x)}, x)
    detail = _problem(r, 400, "invalid_binary_body", ["body", "targets", "binary_data_size"])
    assert "32 bytes follow the JSON header" in detail
    # bytes left over
    r = await _post(client, "/loss/mse", {"predictions": _tensor(x), "targets": [1.0] * 4},
                    x, x)
    assert "add up to 32" in _problem(r, 400, "invalid_binary_body", ["body"])
    # a size that is not a byte count
    for bad in ("32", 32.0, True, -8, None):
        header = {"predictions": {**_tensor(x), "binary_data_size": bad}, "targets": x.tolist()}
        r = await _post(client, "/loss/mse", header, x)
        _problem(r, 422, "invalid_tensor", ["body", "predictions", "binary_data_size"])
    # a size that does not fit the shape and dtype
    header = {"predictions": {"shape": [5], "binary_data_size": 32}, "targets": [1.0] * 5}
    r = await _post(client, "/loss/mse", header, x)
    assert "need 40" in _problem(r, 422, "invalid_tensor",
                                 ["body", "predictions", "binary_data_size"])
    header = {"predictions": {**_tensor(x), "b64": "AAAA"}, "targets": x.tolist()}
    r = await _post(client, "/loss/mse", header, x)
    assert "exactly one of" in _problem(r, 422, "invalid_tensor", ["body", "predictions"])


async def test_binary_data_size_needs_a_binary_body(client):
    r = await client.post("/loss/mse", json={
        "predictions": {"shape": [2], "binary_data_size": 16}, "targets": [0.0, 0.0]})
    assert "application/octet-stream" in _problem(
        r, 422, "invalid_tensor", ["body", "predictions", "binary_data_size"])


async def test_bad_values_in_binary_tensors_are_located_as_in_json(client):
    x = np.ones((3, 4))
    x[2, 1] = np.nan
    y = np.array([0, 1, 7])
    r = await _post(client, "/loss/cross_entropy", {
        "predictions": _tensor(x), "targets": _tensor(y), "validate": "strict"}, x, y)
    _problem(r, 422, "nonfinite_input", ["body", "predictions", 2, 1])
    x[2, 1] = 0.0
    r = await _post(client, "/loss/cross_entropy", {
        "predictions": _tensor(x), "targets": _tensor(y)}, x, y)
    _problem(r, 422, "class_index_out_of_range", ["body", "targets", 2])
    r = await _post(client, "/loss/cross_entropy", {
        "predictions": {**_tensor(x), "dtype": "float16"}, "targets": _tensor(y)}, x, y)
    _problem(r, 422, "unsupported_dtype", ["body", "predictions", "dtype"])


async def test_a_nan_in_a_binary_tensor_is_computed_with_a_warning_located_as_in_json(client):
    """Lenient (the default): torch's number (NaN in the NaN's row) and a ``nonfinite_input``
    warning at the element, in the JSON header of the binary answer."""
    x = np.ones((3, 4))
    x[2, 1] = np.nan
    y = np.array([0, 1, 3])
    got = _unpack(await _post(client, "/loss/cross_entropy", {
        "predictions": _tensor(x), "targets": _tensor(y), "reduction": "none"}, x, y))
    assert [(w["code"], w["loc"]) for w in got["warnings"]] == [
        ("nonfinite_input", ["body", "predictions", 2, 1])]
    value = wire_to_array(got["value"])
    assert np.isnan(value[2]) and np.all(np.isfinite(value[:2]))


@pytest.mark.parametrize("settings", [Settings(max_elements=100)])
async def test_limits_hold_for_binary_bodies(client, settings):
    x = np.ones(101)
    r = await _post(client, "/loss/mse", {"predictions": _tensor(x), "targets": _tensor(x)},
                    x, x)
    _problem(r, 413, "too_many_elements", ["body", "predictions", "shape"])


async def test_other_routes_and_content_types(client):
    r = await client.post("/compare", content=b"{}", headers={
        **HEADERS, binary_body.HEADER_LENGTH: "2"})
    assert "application/json" in _problem(r, 415, "unsupported_media_type",
                                          ["header", "content-type"])
    r = await client.post("/loss/mse", content=b"{}", headers={"content-type": "text/plain"})
    detail = _problem(r, 415, "unsupported_media_type", ["header", "content-type"])
    assert "application/json or application/octet-stream" in detail


def test_pack_and_unpack_round_trip():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(5, 3)).astype(np.float32), rng.integers(0, 3, size=5)
    parts, length = binary_body.pack({"predictions": x, "targets": y, "reduction": "sum",
                                      "inputs": {"w": np.arange(4, dtype=np.int32)}})
    body = b"".join(parts)
    assert length % binary_body.ALIGN == 0 and body[:length].rstrip().endswith(b"}")
    header = orjson.loads(body[:length])
    assert header["predictions"] == {"shape": [5, 3], "dtype": "float32",
                                     "binary_data_size": 60}
    assert header["targets"]["dtype"] == "int64" and header["inputs"]["w"]["dtype"] == "int32"
    back = binary_body.unpack(body, length)
    assert back["predictions"].tobytes() == x.tobytes() and back["reduction"] == "sum"
    assert back["inputs"]["w"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="follow the JSON header"):
        binary_body.unpack(body + b"x", length)
    with pytest.raises(TypeError, match="cannot be sent"):
        binary_body.pack({"predictions": np.ones(2, np.float16)})


def test_splice_binary_puts_sizes_in_the_header_and_bytes_after_it():
    """An array the document holds twice is sent twice from the same memory; arrays held as JSON
    text (blocks, or serialized while sent) are joined into the header."""
    splices = Splices()
    a = np.arange(3.0)
    tensor = encode_array(a, "binary", splices=splices)
    big = np.arange(float(LAZY_JSON_ELEMENTS + 1))
    doc = orjson.dumps({"t": tensor, "json": encode_array(big[:70_000], splices=splices),
                        "lazy": encode_array(big, splices=splices), "again": tensor})
    length, parts = splices.splice_binary(doc)
    assert length % 8 == 0 and len(parts) == 3 and parts[1] is parts[2]
    back = binary_body.unpack(b"".join(parts), length)
    assert back["t"].tolist() == back["again"].tolist() == [0.0, 1.0, 2.0]
    assert back["json"] == big[:70_000].tolist() and len(back["lazy"]) == big.size


@pytest.fixture(scope="module")
def post() -> Any:
    """A synchronous POST to the app (started once, its lifespan run) for hypothesis tests."""
    from anyio.from_thread import start_blocking_portal

    from service.main import create_app

    app = create_app(Settings())
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(
            app.router.lifespan_context(app)):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://testserver")
        yield lambda *args, **kw: portal.call(functools.partial(client.post, *args, **kw))
        portal.call(client.aclose)


_OFF = [0] * 8  # (mostly right, so that some bodies are well-formed)
_SIZES = st.sampled_from([*_OFF, 1, -1, 8, -8, "8", 1.5, True, None, -3])


def _section(shapes: dict[str, list[int]], dtypes: tuple[str, str], c: int, valid: bool,
             data: bytes, size: int) -> bytes:
    """Bytes for the tensors: real arrays (valid class indices, finite values) or ``data``
    repeated; ``size`` of them."""
    if valid:
        rng = np.random.default_rng(len(data))
        x = rng.normal(size=shapes["predictions"]) * 3
        y = rng.integers(0, c, size=shapes["targets"])
        raw = x.astype(dtypes[0]).tobytes() + y.astype(dtypes[1]).tobytes()
    else:
        raw = data * (size // max(len(data), 1) + 1) if data else bytes(size)
    return (raw + bytes(max(size - len(raw), 0)))[:size]


@given(n=st.integers(0, 5), c=st.integers(1, 3),
       dtypes=st.tuples(*[st.sampled_from(["float64", "float32", "int64", "int32"])] * 2),
       deltas=st.tuples(_SIZES, _SIZES), targets_first=st.booleans(),
       extra=st.sampled_from([*_OFF, -9, -1, 1, 9]), pad=st.integers(0, 9),
       length_delta=st.sampled_from([*_OFF, 1, -1, 10**6, None]), valid=st.booleans(),
       data=st.binary(min_size=0, max_size=64), path=st.sampled_from(
           ["/gradient/cross_entropy", "/loss/mse", "/gradient/mse"]))
@hyp_settings(max_examples=200, deadline=None)
def test_any_binary_body_gets_an_answer_or_a_located_4xx(post, n, c, dtypes, deltas,
                                                          targets_first, extra, pad,
                                                          length_delta, valid, data, path):
    """Random shapes, dtypes, declared sizes (right, off, not a number), bytes (real arrays, or
    any: NaN, huge values, out-of-range indices; too few, too many) and header lengths: never a
    5xx; a problem body with a code (and a location where one applies), or a binary answer."""
    shapes = {"predictions": [n, c], "targets": [n] if "cross" in path else [n, c]}
    header: dict[str, Any] = {}
    total = 0
    for name, dtype, delta in zip(("predictions", "targets"), dtypes, deltas, strict=True):
        size = int(np.prod(shapes[name])) * np.dtype(dtype).itemsize
        total += size
        declared = size + delta if type(delta) is int else delta
        header[name] = {"shape": shapes[name], "dtype": dtype, "binary_data_size": declared}
    section = _section(shapes, dtypes, c, valid, data, max(total + extra, 0))
    if targets_first:  # the bytes in the header's order
        header = {"targets": header["targets"], "predictions": header["predictions"]}
        cut = total - int(np.prod(shapes["targets"])) * np.dtype(dtypes[1]).itemsize
        section = section[cut:] + section[:cut] if len(section) == total else section
    text = orjson.dumps(header) + b" " * pad
    length = "abc" if length_delta is None else str(len(text) + length_delta)
    r = post(path, content=text + section, headers={**HEADERS, binary_body.HEADER_LENGTH: length})
    assert r.status_code in (200, 400, 413, 422), r.text
    event(f"status {r.status_code}")
    if r.status_code == 200:
        got = _unpack(r)
        assert isinstance(got["per_sample"], np.ndarray) and got["n_samples"] == n
    else:
        problem = r.json()
        assert problem["status"] == r.status_code and problem["code"]
        for item in problem["errors"]:
            assert item["loc"][0] in ("body", "header"), item
