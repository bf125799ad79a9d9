"""Every error code over HTTP: status, problem+json shape, code and location; the next request
still succeeds."""

from __future__ import annotations

import numpy as np
import pytest

from service.error_codes import TITLES
from service.transport.json_out import encode_array

pytestmark = pytest.mark.anyio

OK = {"predictions": [1.0, 2.0], "targets": [0.0, 1.0]}
NAN_B64 = encode_array(np.array([1.0, np.nan]), "b64")

CASES = [
    # (id, path, body or raw bytes, headers, status, code, loc)
    ("malformed_json", "/loss/mse", b'{"predictions": [1,', None, 400, "invalid_json", ["body"]),
    ("nan_token", "/loss/mse", b'{"predictions": [NaN], "targets": [0]}', None, 400,
     "invalid_json", ["body"]),
    ("infinity_token", "/loss/mse", b'{"predictions": [Infinity], "targets": [0]}', None, 400,
     "invalid_json", ["body"]),
    ("overflowing_number", "/loss/mse", b'{"predictions": [1e400], "targets": [0]}', None, 400,
     "invalid_json", ["body"]),
    ("deep_nesting", "/loss/mse", b"[" * 100_000 + b"]" * 100_000, None, 400, "invalid_json",
     ["body"]),
    ("empty_body", "/loss/mse", b"", None, 400, "empty_body", ["body"]),
    ("wrong_content_type", "/loss/mse", b"predictions=1", {"content-type": "text/plain"}, 415,
     "unsupported_media_type", ["header", "content-type"]),
    ("not_an_object", "/loss/mse", [1, 2], None, 422, "invalid_field", ["body"]),
    ("unknown_field", "/loss/mse", {**OK, "bogus": 1}, None, 422, "unknown_field",
     ["body", "bogus"]),
    ("unknown_param", "/loss/huber", {**OK, "params": {"deltaa": 1}}, None, 422,
     "unknown_param", ["body", "params", "deltaa"]),
    ("param_out_of_range", "/loss/huber", {**OK, "params": {"delta": 0}}, None, 422,
     "invalid_param", ["body", "params", "delta"]),
    ("param_string", "/loss/huber", {**OK, "params": {"delta": "1.5"}}, None, 422,
     "invalid_param", ["body", "params", "delta"]),
    ("param_bool", "/loss/huber", {**OK, "params": {"delta": True}}, None, 422,
     "invalid_param", ["body", "params", "delta"]),
    ("string_in_array", "/loss/mse", {"predictions": [1.0, "1.5"], "targets": [0, 0]}, None,
     422, "invalid_number", ["body", "predictions", 1]),
    ("bool_in_array", "/loss/mse", {"predictions": [[1.0, 2.0], [True, 1.0]],
                                    "targets": [[0, 0], [0, 0]]}, None, 422, "invalid_number",
     ["body", "predictions", 1, 0]),
    ("null_in_array", "/loss/mse", {"predictions": [1.0, None], "targets": [0, 0]}, None, 422,
     "invalid_number", ["body", "predictions", 1]),
    ("ragged", "/loss/mse", {"predictions": [[1.0, 2.0], [3.0]], "targets": [[0, 0], [0, 0]]},
     None, 422, "ragged_array", ["body", "predictions", 1]),
    ("empty_array", "/loss/mse", {"predictions": [], "targets": []}, None, 422, "empty_batch",
     ["body", "predictions"]),
    ("shape_mismatch", "/loss/mse", {"predictions": [[1.0], [2.0]], "targets": [1.0, 2.0]},
     None, 422, "shape_mismatch", ["body", "targets"]),
    ("missing_input", "/loss/mse", {"predictions": [1.0]}, None, 422, "missing_input",
     ["body", "targets"]),
    ("unknown_input", "/loss/mse", {**OK, "inputs": {"var": [1.0, 1.0]}}, None, 422,
     "unknown_input", ["body", "inputs", "var"]),
    ("duplicate_input", "/loss/mse", {**OK, "inputs": {"predictions": [1.0, 2.0]}}, None, 422,
     "duplicate_input", ["body", "inputs", "predictions"]),
    ("bad_reduction", "/loss/mse", {**OK, "reduction": "batchmean"}, None, 422,
     "unsupported_reduction", ["body", "reduction"]),
    ("bad_dtype", "/loss/mse", {**OK, "dtype": "float16"}, None, 422, "unsupported_dtype",
     ["body", "dtype"]),
    ("tensor_length", "/loss/mse", {"predictions": {"shape": [3], "data": [1.0, 2.0]},
                                    "targets": [0, 0, 0]}, None, 422, "invalid_tensor",
     ["body", "predictions", "data"]),
    ("tensor_huge_shape", "/loss/mse", {"predictions": {"shape": [10**6, 10**6], "data": [1.0]},
                                        "targets": [0]}, None, 422, "invalid_tensor",
     ["body", "predictions", "data"]),
    ("tensor_huge_shape_b64", "/loss/mse", {"predictions": {"shape": [10**9, 10**9],
                                                            "b64": "AAAA"},
                                            "targets": [0]}, None, 422, "invalid_tensor",
     ["body", "predictions", "b64"]),
    ("tensor_bad_b64", "/loss/mse", {"predictions": {"shape": [1], "b64": "!!!!!!!!!!!!"},
                                     "targets": [0]}, None, 422, "invalid_base64",
     ["body", "predictions", "b64"]),
    ("tensor_b64_length", "/loss/mse", {"predictions": {"shape": [2], "b64": "AAAA"},
                                        "targets": [0, 0]}, None, 422, "invalid_tensor",
     ["body", "predictions", "b64"]),
    ("tensor_unsupported_dtype", "/loss/mse", {"predictions": {"shape": [1], "dtype": "float16",
                                                               "data": [1.0]},
                                               "targets": [0]}, None, 422, "unsupported_dtype",
     ["body", "predictions", "dtype"]),
    ("tensor_unknown_field", "/loss/mse", {"predictions": {"shape": [1], "data": [1.0], "x": 1},
                                           "targets": [0]}, None, 422, "invalid_tensor",
     ["body", "predictions", "x"]),
    ("class_index_float", "/loss/mse", {"predictions": [1.0], "targets": [0.0],
                                        "sample_weight": [-1.0]}, None, 422, "invalid_value",
     ["body", "sample_weight", 0]),
    ("sample_weight_shape", "/loss/mse", {**OK, "sample_weight": [1.0]}, None, 422,
     "shape_mismatch", ["body", "sample_weight"]),
    ("nonfinite_input_b64", "/loss/mse", {"predictions": NAN_B64, "targets": [0.0, 0.0],
                                           "validate": "strict"},
     None, 422, "nonfinite_input", ["body", "predictions", 1]),
    ("class_index_out_of_range", "/loss/cross_entropy",
     {"predictions": [[1.0, 2.0], [0.5, 0.1]], "targets": [0, 2]}, None, 422,
     "class_index_out_of_range", ["body", "targets", 1]),
    ("class_index_float", "/loss/cross_entropy",
     {"predictions": [[1.0, 2.0], [0.5, 0.1]], "targets": [0.0, 1.0]}, None, 422,
     "invalid_dtype", ["body", "targets"]),
    ("probability_out_of_range", "/loss/bce", {"predictions": [0.5, 1.5], "targets": [0, 1]},
     None, 422, "probability_out_of_range", ["body", "predictions", 1]),
    ("rows_not_normalized", "/loss/cross_entropy",
     {"predictions": [[1.0, 2.0], [0.5, 0.1]], "targets": [[0.5, 0.5], [0.3, 0.3]],
      "validate": "strict"}, None, 422,
     "probability_rows_not_normalized", ["body", "targets", 1]),
    ("invalid_label", "/loss/soft_margin", {"predictions": [0.5, 1.5], "targets": [1, 2],
                                            "validate": "strict"},
     None, 422, "invalid_label", ["body", "targets", 1]),
    ("invalid_value_in_inputs", "/loss/gaussian_nll",
     {"predictions": [0.5, 1.5], "targets": [1.0, 2.0], "inputs": {"var": [1.0, -1.0]}}, None,
     422, "invalid_value", ["body", "inputs", "var", 1]),
    ("invalid_shape", "/loss/multilabel_soft_margin",
     {"predictions": [[[0.5]]], "targets": [[[1.0]]]}, None, 422, "invalid_shape",
     ["body", "predictions"]),
    ("undefined_mean", "/loss/cross_entropy",
     {"predictions": [[1.0, 2.0]], "targets": [-100], "validate": "strict"}, None, 422,
     "undefined_mean",
     ["body", "reduction"]),
    ("not_differentiable", "/gradient/zero_one",
     {"predictions": [[1.0, 2.0]], "targets": [0]}, None, 422, "not_differentiable",
     ["path", "name"]),
    ("unknown_loss", "/loss/msee", OK, None, 404, "unknown_loss", ["path", "name"]),
    ("unknown_loss_gradient", "/gradient/cross_entropyy", OK, None, 404, "unknown_loss",
     ["path", "name"]),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "code", "loc"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_error_matrix(client, path, body, headers, status, code, loc):
    if isinstance(body, bytes):
        r = await client.post(path, content=body,
                              headers=headers or {"content-type": "application/json"})
    else:
        r = await client.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["type"].endswith(code) and problem["title"] and problem["detail"]
    assert problem["title"] == TITLES[code]  # the code's own title, not the status text
    assert problem["instance"] == f"urn:loss-service:request:{problem['request_id']}"
    assert r.headers["x-request-id"] == problem["request_id"]
    assert problem["errors"][0]["loc"] == loc
    # the worker is unharmed: the next valid request succeeds
    ok = await client.post("/loss/mse", json=OK)
    assert ok.status_code == 200 and ok.json()["value"] == 1.0


async def test_unknown_loss_suggests_close_names(client):
    r = await client.post("/loss/hubber", json=OK)
    assert r.status_code == 404
    assert "huber" in r.json()["suggestions"]
    r = await client.post("/loss/mean-squared", json=OK)
    assert "mse" in r.json()["suggestions"]


async def test_wrong_method_is_405_problem(client):
    r = await client.get("/loss/mse")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert "POST" in r.headers["allow"]


async def test_unknown_route_is_404_problem(client):
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
