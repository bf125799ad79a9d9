"""NaN and infinities over HTTP (issue 19, item 1): every registered loss, a NaN and an infinity
put into each float input (and the sample weights), sent as b64 (JSON has no such numbers).

Lenient (the server's default): 200 with the core's numbers ("NaN"/"Infinity" strings in the
JSON answer) and its warnings at the element's body location, ``nonfinite_input`` first; or,
where the loss's domain excludes the value, the core's located 422. ``"validate": "strict"``:
the 422 ``nonfinite_input`` at that location. Never a 500. The numbers themselves are torch's
where torch has the loss (tests/losses/test_torch_opinfo_nonfinite.py, and
tests/api/test_torch_opinfo_replay_http.py over HTTP). /compare and the Open Inference Protocol
follow their own rules: /compare stays strict, /v2 reports the warning in its parameters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from service.losses import LOSSES, LossError, evaluate, get_loss
from service.transport.json_out import encode_array, wire_to_array
from service.transport.request import COMMON_INPUTS
from tests.conftest import sample

from .test_inference_protocol import _infer, _outputs

pytestmark = pytest.mark.anyio

NAMES = sorted(LOSSES)


def _wire(a: np.ndarray) -> Any:
    """b64 for a float array (it may hold NaN or an infinity), a JSON list otherwise."""
    if a.dtype.kind == "f":
        return encode_array(np.ascontiguousarray(a, dtype=np.float64), "b64")
    return a.tolist()


def _body_loc(input_name: str, index: tuple[int, ...]) -> list[Any]:
    if input_name in (*COMMON_INPUTS, "sample_weight"):
        return ["body", input_name, *index]
    return ["body", "inputs", input_name, *index]


def _cases(name: str) -> Iterator[tuple[str, tuple[int, ...], float, dict[str, Any],
                                         dict[str, Any], np.ndarray]]:
    """(input, index, value, inputs, params, sample weights) with the value at the last
    element of one float input (or of the sample weights)."""
    spec = get_loss(name)
    inputs, params = sample(name, seed=10)
    arrays = {k: np.asarray(v) for k, v in inputs.items() if v is not None}
    n = int(np.asarray(evaluate(name, arrays, params, validate="lenient").per_sample).shape[0])
    sw = np.linspace(0.5, 1.5, n)
    for input_name, a in [*arrays.items(), ("sample_weight", sw)]:
        if a.dtype.kind != "f" or (input_name != "sample_weight"
                                   and input_name not in spec.input_names):
            continue
        index = tuple(int(i) for i in np.unravel_index(a.size - 1, a.shape))
        for v in (math.nan, math.inf):
            bad = np.array(a, copy=True)
            bad[index] = v
            changed = {k: (bad if k == input_name else x) for k, x in arrays.items()}
            yield (input_name, index, v, changed, params,
                   bad if input_name == "sample_weight" else sw)


def _request(inputs: dict[str, np.ndarray], params: dict[str, Any], sw: np.ndarray,
             **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {k: _wire(v) for k, v in inputs.items() if k in COMMON_INPUTS}
    others = {k: _wire(v) for k, v in inputs.items() if k not in COMMON_INPUTS}
    if others:
        body["inputs"] = others
    return {**body, "params": params, "sample_weight": _wire(sw), "reduction": "sum", **extra}


@pytest.mark.parametrize("name", NAMES)
async def test_each_nonfinite_input_over_http(client: Any, name: str) -> None:
    spec = get_loss(name)
    route = f"/gradient/{name}" if spec.differentiable else f"/loss/{name}"
    answered = 0
    for input_name, index, v, inputs, params, sw in _cases(name):
        loc = _body_loc(input_name, index)
        where = f"{input_name}{list(index)} = {v}"
        r = await client.post(route, json=_request(inputs, params, sw, validate="strict"))
        assert r.status_code == 422, (where, r.text)
        problem = r.json()
        assert (problem["code"], problem["errors"][0]["loc"]) == ("nonfinite_input", loc), where
        r = await client.post(route, json=_request(inputs, params, sw))
        assert r.status_code in (200, 422), (where, r.text)  # never a 500
        try:
            core = evaluate(name, inputs, params, sample_weight=sw, reduction="sum",
                            want_grad=spec.differentiable, validate="lenient")
        except LossError as exc:  # the loss's domain excludes the value: the same 422
            assert r.status_code == 422, (where, r.text)
            assert (r.json()["code"], r.json()["errors"][0]["loc"]) == (exc.code, loc), where
            continue
        assert r.status_code == 200, (where, r.text)
        out = r.json()
        warnings = out["warnings"]
        assert (warnings[0]["code"], warnings[0]["loc"]) == ("nonfinite_input", loc), where
        assert warnings[0]["detail"] == problem["detail"]
        assert [w["code"] for w in warnings] == [w.code for w in core.warnings]
        np.testing.assert_array_equal(wire_to_array(out["value"]), core.value, err_msg=where)
        for k, g in (core.gradients or {}).items():
            np.testing.assert_array_equal(wire_to_array(out["gradients"][k]), g,
                                          err_msg=f"{where}: gradient {k}")
        answered += 1
    assert answered > 0  # at least the NaN sample weights are computed on


async def test_the_json_answer_writes_nan_and_infinity_as_strings(client: Any) -> None:
    x = np.array([1.0, math.nan, math.inf, 2.0])
    r = await client.post("/gradient/mse", json={"predictions": _wire(x),
                                                 "targets": [0.0, 0.0, 0.0, 0.0],
                                                 "reduction": "none"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["value"] == [1.0, "NaN", "Infinity", 4.0]
    assert out["gradients"]["predictions"] == [2.0, "NaN", "Infinity", 4.0]
    assert [(w["code"], w["loc"]) for w in out["warnings"]] == [
        ("nonfinite_input", ["body", "predictions", 1])]


async def test_nan_in_json_stays_a_wire_error(client: Any) -> None:
    """JSON has no NaN: the token is malformed JSON (400) and the string "NaN" is not a number
    in an input (422 invalid_number); only b64 and binary tensors carry non-finite values."""
    r = await client.post("/loss/mse", content=b'{"predictions": [NaN, 1], "targets": [0, 0]}',
                          headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    r = await client.post("/loss/mse", json={"predictions": ["NaN", 1.0], "targets": [0, 0]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_number"
    assert r.json()["errors"][0]["loc"] == ["body", "predictions", 0]


async def test_compare_stays_strict_on_nonfinite_inputs(client: Any) -> None:
    """/compare computes its reference with strict validation whatever the server's default:
    a NaN in its inputs is the 422, before the submission is judged."""
    x = np.array([[1.0, math.nan], [0.5, 0.2]])
    r = await client.post("/compare", json={"loss": "cross_entropy", "predictions": _wire(x),
                                            "targets": [0, 1], "submission": {"value": "NaN"}})
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["errors"][0]["loc"]) == (
        "nonfinite_input", ["body", "predictions", 0, 1])


async def test_the_inference_protocol_warns_in_its_parameters(client: Any) -> None:
    x, y = np.array([0.5, math.nan, 2.0]), np.zeros(3)
    r = await _infer(client, "mse", [("predictions", x), ("targets", y)], binary_in=True,
                     parameters={"reduction": "none"})
    head, arrays = _outputs(r)
    warnings = json.loads(head["parameters"]["warnings"])
    assert [(w["code"], w["loc"]) for w in warnings] == [("nonfinite_input", ["predictions", 1])]
    np.testing.assert_array_equal(arrays["value"], [0.25, math.nan, 4.0])
    r = await _infer(client, "mse", [("predictions", x), ("targets", y)], binary_in=True,
                     parameters={"validate": "strict"})
    assert r.status_code == 400 and "non-finite" in r.json()["error"]
