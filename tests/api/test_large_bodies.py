"""Large requests take faster paths (b64 text decoded in place, the collector paused, responses
sent in slices): their answers and errors are those of the ordinary paths."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from service.transport import json_in as body_module
from service.transport.json_out import wire_to_array

pytestmark = pytest.mark.anyio

N, C = 20_000, 10  # 1.6 MB of predictions: above the 1 MiB thresholds


def _b64(a: np.ndarray) -> dict:
    return {"shape": list(a.shape), "dtype": a.dtype.name,
            "b64": base64.b64encode(a.tobytes()).decode()}


def _arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.normal(size=(N, C)), rng.integers(0, C, size=N)


async def _post(client, body: bytes) -> tuple[int, dict]:
    r = await client.post("/gradient/cross_entropy", content=body,
                          headers={"content-type": "application/json"})
    return r.status_code, r.json()


async def test_large_b64_request_equals_nested_json(client):
    x, y = _arrays()
    status, nested = await _post(client, orjson.dumps(
        {"predictions": x, "targets": y}, option=orjson.OPT_SERIALIZE_NUMPY))
    assert status == 200
    status, b64 = await _post(client, orjson.dumps(
        {"predictions": _b64(x), "targets": _b64(y), "encoding": "b64"}))
    assert status == 200
    assert b64["value"] == nested["value"]
    np.testing.assert_array_equal(wire_to_array(b64["gradient"]), np.asarray(nested["gradient"]))
    np.testing.assert_array_equal(wire_to_array(b64["gradients"]["predictions"]),
                                  wire_to_array(b64["gradient"]))
    np.testing.assert_array_equal(wire_to_array(b64["per_sample"]),
                                  np.asarray(nested["per_sample"]))


def test_b64_text_is_left_in_the_body():
    x, y = _arrays()
    raw = bytearray(orjson.dumps({"targets": _b64(y), "inputs": {"predictions": _b64(x)}}))
    obj = body_module.parse_json(raw)
    assert type(obj["inputs"]["predictions"]["b64"]).__name__ == "B64Text"
    assert type(obj["targets"]["b64"]).__name__ == "B64Text"


@pytest.mark.parametrize("variant", ["escaped_slash", "b64_in_params"])
def test_unclear_bodies_are_parsed_as_usual(variant):
    x, _ = _arrays()
    text = base64.b64encode(x.tobytes()).decode()
    if variant == "escaped_slash":  # JSON allows "\/" for "/": the text must be unescaped
        raw = b'{"predictions": {"shape": [%d, %d], "b64": "%s"}}' % (
            N, C, text.replace("/", "\\/").encode())
    else:
        raw = orjson.dumps({"predictions": _b64(x), "params": {"b64": text}})
    assert len(raw) > body_module.B64_INPLACE_BYTES
    obj = body_module.parse_json(raw)
    assert obj == orjson.loads(raw)


def test_b64_key_inside_a_string_is_left_alone():
    x, _ = _arrays()
    raw = orjson.dumps({"predictions": _b64(x), "note": '{"b64": "AAAA"}, "b64": "'})
    obj = body_module.parse_json(raw)
    assert obj["note"] == '{"b64": "AAAA"}, "b64": "'
    assert bytes(obj["predictions"]["b64"].view) == _b64(x)["b64"].encode()


async def test_errors_in_large_b64_bodies_are_the_usual_ones(client):
    x, y = _arrays()
    good = orjson.dumps({"predictions": _b64(x), "targets": _b64(y)})
    status, problem = await _post(client, good[:-1] + b",}")  # malformed after the texts
    assert status == 400 and problem["code"] == "invalid_json"
    assert f"byte {len(good) - 1}" in problem["detail"]
    bad = _b64(x)
    bad["b64"] = "!" + bad["b64"][1:]
    status, problem = await _post(client, orjson.dumps({"predictions": bad, "targets": _b64(y)}))
    assert status == 422 and problem["code"] == "invalid_base64"
    assert problem["errors"][0]["loc"] == ["body", "predictions", "b64"]
    status, problem = await _post(client, orjson.dumps(
        {"predictions": _b64(x), "targets": _b64(y), "b64": "AAAA"}))
    assert status == 422 and problem["code"] == "unknown_field"


async def test_large_nested_request_with_a_boolean_is_refused(client):
    x, y = _arrays()
    nested = x.tolist()
    nested[5][3] = True
    status, problem = await _post(client, orjson.dumps({"predictions": nested, "targets": y},
                                                       option=orjson.OPT_SERIALIZE_NUMPY))
    assert status == 422 and problem["code"] == "invalid_number"
    assert problem["errors"][0]["loc"] == ["body", "predictions", 5, 3]
