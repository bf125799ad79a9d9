"""Numbers keep their values on the way in (issue 17, "silent wrong numbers").

Every encoding of an array (a nested JSON list, a tensor object's ``data`` parsed as usual or
read in place by :mod:`service.api.json_arrays`, ``b64``, a binary body) on every route that
takes arrays (``/loss``, ``/gradient``, ``/compare``): an integer that does not fit its tensor's
dtype is refused (never wrapped: an int32 tensor's 4294967297 used to be class 1), a float that
overflows float32 says so at its place (not "a non-finite value (inf)"), and values that fit
come out as sent (rounded to float only where the README says so).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from service.client import build_request
from service.config import Settings
from service.transport import binary as binary_body
from service.transport import json_in as body_module
from service.transport.arrays import EncodingError, decode_array

ENCODINGS = ("list", "data", "data_in_place", "b64", "binary")
DATA = ("data", "data_in_place")  # the encodings in which the service converts the numbers
ROUTES = ("/loss", "/gradient", "/compare")
P2 = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]  # cross_entropy predictions for two samples


@pytest.fixture(scope="module")
def post() -> Iterator[Callable[..., httpx.Response]]:
    """A synchronous POST to the app, started once for the module (its lifespan run)."""
    from anyio.from_thread import start_blocking_portal

    from service.main import create_app

    app = create_app(Settings())
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(
            app.router.lifespan_context(app)):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://testserver")
        yield lambda *args, **kw: portal.call(functools.partial(client.post, *args, **kw))
        portal.call(client.aclose)


def _wire(values: list[Any], dtype: str, encoding: str) -> Any:
    """``values`` (a flat list) as a request array in ``encoding`` (``list``: as written)."""
    if encoding == "list":
        return values
    if encoding in DATA:
        return {"shape": [len(values)], "dtype": dtype, "data": values}
    a = np.asarray(values, dtype=dtype)
    if encoding == "binary":
        return a  # binary_body.pack sends it after the header
    return {"shape": list(a.shape), "dtype": dtype,
            "b64": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def _send(post: Any, monkeypatch: pytest.MonkeyPatch, route: str, loss: str,
                encoding: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    """POST the arrays and fields in ``fields`` to ``route`` for ``loss``: status and JSON
    body (the value of /loss and /gradient, the reference's value of /compare, as "value")."""
    if encoding == "data_in_place":  # every JSON array (here: a tensor's data) read in place
        monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
        monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
        monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    path = f"{route}/{loss}" if route != "/compare" else route
    if route == "/compare":
        fields = {"loss": loss, **fields, "submission": {"value": 0.0},
                  "include_reference": True}
    if encoding == "binary":
        parts, length = binary_body.pack({**fields, "encoding": "json"})
        r = post(path, content=b"".join(parts), headers={
            "content-type": binary_body.MEDIA_TYPE, binary_body.HEADER_LENGTH: str(length)})
    else:  # the standard library's encoder: orjson does not write integers beyond 64 bits
        r = post(path, content=json.dumps(fields).encode(),
                              headers={"content-type": "application/json"})
    out = r.json()
    if r.status_code == 200 and route == "/compare":
        out["value"] = out["reference"]["value"]
    return r.status_code, out


def _routes(encodings: tuple[str, ...] = ENCODINGS) -> list[Any]:
    """(route, encoding) pairs: /compare takes JSON bodies only."""
    return [pytest.param(route, enc, id=f"{route[1:]}-{enc}") for route in ROUTES
            for enc in encodings if not (route == "/compare" and enc == "binary")]


def _refused(status: int, out: dict[str, Any], code: str, loc: list[Any], *words: str) -> None:
    assert (status, out["code"]) == (422, code), out
    assert out["errors"][0]["loc"] == loc, out
    for word in words:
        assert word in out["errors"][0]["msg"], out


def test_the_in_place_path_is_taken_for_tensor_data(monkeypatch):
    """The ``data_in_place`` cases read the data with the in-place parser, not orjson."""
    monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
    monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
    monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    obj = body_module.parse_json(json.dumps(
        {"targets": _wire([1, 4294967297], "int32", "data_in_place")}).encode())
    assert isinstance(obj["targets"]["data"], np.ndarray)


# -- integers: refused where they do not fit, never wrapped ----------------------------------

@pytest.mark.parametrize(("route", "encoding"), _routes(DATA))
@pytest.mark.parametrize(("loss", "values"), [
    ("cross_entropy", [1, 4294967297]),  # the example: was class 1
    ("cross_entropy", [1, 2**31]),
    ("mse", [0, -4294967295]),  # was 1
    ("mse", [0, -(2**31) - 1]),
])
def test_an_int32_tensor_refuses_integers_beyond_int32(post, monkeypatch, route,
                                                             encoding, loss, values):
    predictions = P2 if loss == "cross_entropy" else [0.5, 1.0]
    status, out = _send(post, monkeypatch, route, loss, encoding, predictions=predictions,
                              targets=_wire(values, "int32", encoding))
    _refused(status, out, "invalid_number", ["body", "targets", "data", 1], str(values[1]),
             "out of the int32 range")


@pytest.mark.parametrize(("route", "encoding"), _routes(DATA))
@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("big", [2**63, 2**64 - 1])
def test_an_integer_tensor_refuses_integers_beyond_int64(post, monkeypatch, route,
                                                               encoding, dtype, big):
    """orjson reads these as Python ints, NumPy the list as float64: refused as integers out of
    range, not as "needs integer data" somewhere in the data."""
    status, out = _send(post, monkeypatch, route, "mse", encoding,
                              predictions=[0.5, 1.0], targets=_wire([0, big], dtype, encoding))
    _refused(status, out, "invalid_number", ["body", "targets", "data", 1],
             f"out of the {dtype} range")


@pytest.mark.parametrize(("route", "encoding"), _routes(DATA))
def test_an_integer_tensor_refuses_a_float_at_its_place(post, monkeypatch, route,
                                                              encoding):
    status, out = _send(post, monkeypatch, route, "cross_entropy", encoding,
                              predictions=P2, targets=_wire([1, 1.5], "int32", encoding))
    _refused(status, out, "invalid_tensor", ["body", "targets", "data", 1], "1.5")


@pytest.mark.parametrize(("route", "encoding"), _routes())
@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_a_large_class_index_is_out_of_range_as_sent(post, monkeypatch, route, encoding,
                                                           dtype):
    """int64 class indices reach the loss as sent: 4294967297 is out of range, whatever the
    encoding; as float64 (in a list: 4294967297.0), a float, which class indices must not be."""
    values = [1, 4294967297] if dtype == "int64" else [1.0, 4294967297.0]
    status, out = _send(post, monkeypatch, route, "cross_entropy", encoding,
                              predictions=P2, targets=_wire(values, dtype, encoding))
    if dtype == "int64":
        _refused(status, out, "class_index_out_of_range", ["body", "targets", 1], "4294967297")
    else:
        _refused(status, out, "invalid_dtype", ["body", "targets"])


@pytest.mark.parametrize(("route", "encoding"), _routes())
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integers_that_fit_keep_their_values(post, monkeypatch, route, encoding, dtype):
    """The extremes of int32 (and an int64 beyond it) as mse targets: the value is that of the
    integers as sent."""
    values = [-(2**31), 2**31 - 1] if dtype == "int32" else [-(2**31) - 1, 2**40]
    status, out = _send(post, monkeypatch, route, "mse", encoding,
                              predictions=[0.5, -0.5], targets=_wire(values, dtype, encoding))
    assert status == 200, out
    expected = np.mean((np.array([0.5, -0.5]) - np.array(values, dtype=np.float64)) ** 2)
    assert out["value"] == pytest.approx(float(expected), rel=1e-15)


@pytest.mark.parametrize(("route", "encoding"), _routes())
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_class_indices_of_every_integer_dtype(post, monkeypatch, route, encoding, dtype):
    status, out = _send(post, monkeypatch, route, "cross_entropy", encoding,
                              predictions=P2, targets=_wire([2, 0], dtype, encoding))
    assert status == 200, out
    x = np.array(P2)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    assert out["value"] == pytest.approx(-(logp[0, 2] + logp[1, 0]) / 2, rel=1e-14)


@pytest.mark.parametrize(("route", "encoding"), _routes())
def test_integers_beyond_2_53_round_to_the_nearest_float(post, monkeypatch, route,
                                                               encoding):
    """The documented rounding: an int64 that a float computation cannot hold exactly becomes
    the nearest float64 (as NumPy and PyTorch do), like any JSON number."""
    status, out = _send(post, monkeypatch, route, "mse", encoding, reduction="sum",
                              predictions=[0.0], targets=_wire([2**53 + 1], "int64", encoding))
    assert status == 200, out
    assert out["value"] == float(2**53) ** 2


def test_a_number_beyond_int64_is_refused_like_a_list_of_them():
    """A bare number from 2**63 (NumPy: uint64) was taken as it came; a list of them was
    already refused."""
    with pytest.raises(EncodingError) as exc:
        decode_array(2**63, ("body", "submission", "value"), max_elements=10)
    assert (exc.value.code, exc.value.loc) == ("invalid_number", ("body", "submission", "value"))
    assert decode_array(2**63 - 1, (), max_elements=10).dtype == np.int64


# -- floats: an overflow of float32 says so, where it is ------------------------------------

@pytest.mark.parametrize(("route", "encoding"), _routes(DATA))
@pytest.mark.parametrize("big", [1e39, -3.5e38, 1e300])
def test_a_float32_tensor_refuses_values_beyond_float32(post, monkeypatch, route,
                                                              encoding, big):
    status, out = _send(post, monkeypatch, route, "mse", encoding,
                              predictions=_wire([0.5, big], "float32", encoding),
                              targets=[0.0, 0.0])
    _refused(status, out, "nonfinite_input", ["body", "predictions", "data", 1],
             f"{big:g}", "overflows float32")
    assert "non-finite value" not in out["errors"][0]["msg"]


@pytest.mark.parametrize(("route", "encoding"), _routes())
def test_a_float32_computation_refuses_values_beyond_float32(post, monkeypatch, route,
                                                                   encoding):
    """float64 values, ``"dtype": "float32"`` for the computation: the overflow is refused at
    the element (``data`` lists too: their data is float64 here)."""
    status, out = _send(post, monkeypatch, route, "mse", encoding, dtype="float32",
                              predictions=_wire([0.5, 1e300], "float64", encoding),
                              targets=[0.0, 0.0])
    _refused(status, out, "nonfinite_input", ["body", "predictions", 1], "1e+300",
             "overflows float32")


@pytest.mark.parametrize(("route", "encoding"), _routes())
def test_a_float32_computation_refuses_an_overflow_in_the_fused_kernels(
        post, monkeypatch, route, encoding):
    """Large enough for the fused kernels (which take the cast's infinities and give the input
    back to the generic path): the same answer."""
    x = np.full((250, 4), 0.5)
    x[100, 3] = -1e300
    status, out = _send(post, monkeypatch, route, "mse", encoding, dtype="float32",
                              predictions=_wire(x.tolist(), "float64", encoding)
                              if encoding == "list" else _tensor_2d(x, encoding),
                              targets=np.zeros((250, 4)).tolist())
    _refused(status, out, "nonfinite_input", ["body", "predictions", 100, 3],
             "overflows float32")


def _tensor_2d(x: np.ndarray, encoding: str) -> Any:
    wire = _wire(x.reshape(-1).tolist(), "float64", encoding)
    if isinstance(wire, dict):
        wire["shape"] = list(x.shape)
        return wire
    return wire.reshape(x.shape)


@pytest.mark.parametrize(("route", "encoding"), _routes())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floats_that_fit_keep_their_values(post, monkeypatch, route, encoding, dtype):
    """float32's largest value is no overflow; a float32 tensor's values are the float32
    nearest to the numbers sent (for JSON data: rounded, as documented)."""
    values = [0.1, -1.25, float(np.finfo(np.float32).max)]
    status, out = _send(post, monkeypatch, route, "mse", encoding, reduction="sum",
                              predictions=_wire(values, dtype, encoding), targets=[0.0] * 3)
    assert status == 200, out
    sent = np.asarray(values, dtype=dtype if encoding != "list" else "float64")
    assert out["value"] == pytest.approx(float(np.sum(sent.astype(np.float64) ** 2)),
                                         rel=1e-15)


# -- parameters -------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("n", [2, 400])  # 400 x 3: the fused cross_entropy kernel
def test_class_weights_that_overflow_float32_are_refused(post, monkeypatch, route, n):
    status, out = _send(post, monkeypatch, route, "cross_entropy", "list",
                              predictions=(P2 * (n // 2)), targets=[1, 0] * (n // 2),
                              params={"weight": [1.0, 1e300, 1.0]}, dtype="float32")
    _refused(status, out, "nonfinite_input", ["body", "params", "weight", 1],
             "overflows float32")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("n", [2, 400])
@pytest.mark.parametrize("index", [2**63, 2**64 - 1])
def test_an_ignore_index_beyond_int64_is_refused(post, monkeypatch, route, n, index):
    """The kernels take ignore_index as an int64: beyond it, a located 422 (the fused kernel
    answered 500, the generic path compared with it as a Python int)."""
    status, out = _send(post, monkeypatch, route, "cross_entropy", "list",
                              predictions=(P2 * (n // 2)), targets=[1, 0] * (n // 2),
                              params={"ignore_index": index})
    _refused(status, out, "invalid_param", ["body", "params", "ignore_index"], "int64 range")


# -- /compare's submission ------------------------------------------------------------------

@pytest.mark.parametrize("encoding", DATA)
def test_a_submitted_int32_tensor_is_not_wrapped(post, monkeypatch, encoding):
    if encoding == "data_in_place":
        monkeypatch.setattr(body_module, "B64_INPLACE_BYTES", 0)
        monkeypatch.setattr(body_module, "JSON_INPLACE_BODY_BYTES", 0)
        monkeypatch.setattr(body_module, "ARRAY_INPLACE_BYTES", 0)
    r = post("/compare", content=json.dumps({
        "loss": "mse", "predictions": [1.0, 2.0], "targets": [1.0, 2.0],
        "submission": {"per_sample": _wire([0, 4294967297], "int32", encoding)}}).encode(),
        headers={"content-type": "application/json"})
    _refused(r.status_code, r.json(), "invalid_number",
             ["body", "submission", "per_sample", "data", 1], "out of the int32 range")


# -- the clients never wrap what they send -------------------------------------------------

def test_clients_refuse_uint64_values_beyond_int64():
    """The clients send integers as int64 (b64, binary): a uint64 from 2**63 used to wrap to a
    negative number, silently; now it raises (a ValueError) before anything is sent."""
    targets = np.full(10, 2**63 + 5, dtype=np.uint64)
    with pytest.raises(ValueError, match="out of the int64 range"):
        binary_body.pack({"predictions": np.zeros(10), "targets": targets})
    with pytest.raises(ValueError, match="out of the int64 range"):
        build_request(np.zeros(10), targets, b64_threshold=4)
    fits = np.arange(10, dtype=np.uint64)
    parts, length = binary_body.pack({"targets": fits})
    assert binary_body.unpack(b"".join(parts), length)["targets"].tolist() == list(range(10))
