"""Calls a live loss-service through KServe's own Python client (``kserve.InferenceRESTClient``,
Open Inference Protocol v2) and prints what the client parsed, as one JSON line, for
tests/api/test_inference_protocol.py::test_kserve_client to check against /gradient.

It runs in a venv of its own (tests/clients/kserve/requirements.txt): kserve pins FastAPI,
pydantic, NumPy and pandas versions of its own, which must not move the service's. It reads the
calls to make from stdin, as JSON, a list of ``{"model", "parameters", "outputs": [names],
"inputs": [{"name", "datatype", "shape", "b64"}]}`` (``b64``: the tensor's little-endian bytes,
row-major), and prints the health answers, each inference's outputs (the same ``b64`` form:
bits, not decimals) with JSON and with binary inputs and outputs (and whether the bytes were
used both ways), and the error a bad request (an unknown input of the first model) raises.

Usage: python calls.py BASE_URL < calls.json
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

DTYPES = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4"}


def _array(tensor: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(tensor["b64"])
    return np.frombuffer(raw, DTYPES[tensor["datatype"]]).reshape(tensor["shape"])


def _wire(a: np.ndarray, datatype: str) -> dict[str, Any]:
    a = np.ascontiguousarray(a, DTYPES[datatype])
    return {"datatype": datatype, "shape": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode()}


async def _infer(client: InferenceRESTClient, url: str, case: dict[str, Any],
                 binary: bool) -> dict[str, Any]:
    inputs = []
    for t in case["inputs"]:
        tensor = InferInput(t["name"], list(t["shape"]), t["datatype"])
        tensor.set_data_from_numpy(_array(t), binary_data=binary)
        inputs.append(tensor)
    outputs = [RequestedOutput(name, {"binary_data": binary}) for name in case["outputs"]]
    request = InferRequest(model_name=case["model"], infer_inputs=inputs,
                           parameters=case["parameters"], request_outputs=outputs,
                           request_id=f"kserve-{binary}")
    headers: dict[str, str] = {}
    response = await client.infer(url, request, model_name=case["model"],
                                  response_headers=headers)
    return {"id": response.id, "model_name": response.model_name,
            "parameters": response.parameters,
            "inputs_as_bytes": [bool((t.parameters or {}).get("binary_data_size"))
                                for t in inputs],
            "outputs_as_bytes": "inference-header-content-length" in headers,
            "outputs": {o.name: _wire(o.as_numpy(), o.datatype) for o in response.outputs}}


async def main(url: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with InferenceRESTClient(RESTConfig(protocol="v2", retries=0)) as client:
        out["server_live"] = await client.is_server_live(url)
        out["server_ready"] = await client.is_server_ready(url)
        out["models_ready"] = [await client.is_model_ready(url, c["model"]) for c in cases]
        out["unknown_model_ready"] = await client.is_model_ready(url, "no_such_loss")
        out["json"] = [await _infer(client, url, c, binary=False) for c in cases]
        out["binary"] = [await _infer(client, url, c, binary=True) for c in cases]
        bad = {**cases[0], "inputs": [{**cases[0]["inputs"][0], "name": "no_such_input"},
                                      *cases[0]["inputs"][1:]]}
        try:
            await _infer(client, url, bad, binary=False)
            out["error"] = None
        except httpx.HTTPStatusError as e:  # what the client raises for a status >= 400
            out["error"] = {"status": e.response.status_code, "message": str(e)}
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], json.load(sys.stdin)))))
