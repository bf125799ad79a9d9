"""The Open Inference Protocol (KServe V2 / Triton HTTP): each loss a model under /v2.

In-process tests of every endpoint and its errors (the protocol's ``{"error": "..."}``, naming
the input), with outputs equal to /gradient's, in JSON and with the binary tensor extension,
and docs/api.md's curl examples' answers. The clients people use (tritonclient, kserve), and the
docs' examples run as written, against a real server: test_inference_clients.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from service.config import Settings
from service.transport import binary as binary_body
from service.transport.json_out import wire_to_array

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(21)
X = RNG.normal(size=(6, 4))
Y = RNG.normal(size=(6, 4))
W = RNG.uniform(0.5, 2.0, size=6)
CLASSES = RNG.integers(0, 4, size=6)

# (model, OIP inputs as (name, array), parameters, the /gradient body giving the same)
CASES: list[tuple[str, list[tuple[str, np.ndarray]], dict[str, Any], dict[str, Any]]] = [
    ("mse", [("predictions", X), ("targets", Y)], {}, {}),
    ("cross_entropy", [("predictions", X), ("targets", CLASSES), ("sample_weight", W)],
     {"reduction": "sum", "label_smoothing": 0.1},
     {"reduction": "sum", "params": {"label_smoothing": 0.1}, "sample_weight": W.tolist()}),
    ("huber", [("predictions", X), ("targets", Y)], {"delta": 0.5, "reduction": "none"},
     {"params": {"delta": 0.5}, "reduction": "none"}),
    ("l2", [("predictions", X[0]), ("targets", Y[0])], {"dtype": "float32"},
     {"dtype": "float32"}),
]
DATATYPE = {"float64": "FP64", "float32": "FP32", "int64": "INT64", "int32": "INT32"}


def _input(name: str, a: np.ndarray, binary: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"name": name, "shape": list(a.shape), "datatype": DATATYPE[a.dtype.name]}
    if binary:
        t["parameters"] = {"binary_data_size": a.nbytes}
    else:
        t["data"] = a.reshape(-1).tolist()
    return t


async def _infer(client: Any, model: str, inputs: list[tuple[str, np.ndarray]],
                 binary_in: bool = False, **request: Any) -> Any:
    header = {"inputs": [_input(n, a, binary_in) for n, a in inputs], **request}
    if not binary_in:
        return await client.post(f"/v2/models/{model}/infer", content=orjson.dumps(header))
    text = orjson.dumps(header)
    blobs = b"".join(a.astype(a.dtype.newbyteorder("<")).tobytes() for _, a in inputs)
    return await client.post(f"/v2/models/{model}/infer", content=text + blobs,
                             headers={binary_body.HEADER_LENGTH: str(len(text))})


def _outputs(r: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the response's JSON (header), output name -> array) of a JSON or binary response."""
    assert r.status_code == 200, r.text
    length = r.headers.get(binary_body.HEADER_LENGTH)
    head = orjson.loads(r.content[:int(length)] if length else r.content)
    view, at, arrays = memoryview(r.content)[int(length) if length else len(r.content):], 0, {}
    dtypes = {v: k for k, v in DATATYPE.items()}
    for out in head["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            arrays[out["name"]] = np.asarray(out["data"], dtypes[out["datatype"]]).reshape(
                out["shape"])
        else:
            arrays[out["name"]] = np.frombuffer(view[at:at + size], dtypes[out["datatype"]]
                                                ).reshape(out["shape"])
            at += size
    assert at == len(view)
    return head, arrays


async def _native(client: Any, model: str, inputs: list[tuple[str, np.ndarray]],
                  extra: dict[str, Any]) -> dict[str, Any]:
    body = {"inputs": {n: a.tolist() for n, a in inputs if n != "sample_weight"}, **extra}
    r = await client.post(f"/gradient/{model}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _same_as_gradient(arrays: dict[str, np.ndarray], native: dict[str, Any]) -> None:
    """The outputs are /gradient's, bit for bit (a float32 result is read back as float32)."""

    def same(got: np.ndarray, shown: Any) -> None:
        want = wire_to_array(shown).astype(got.dtype)
        np.testing.assert_array_equal(got, want.reshape(-1) if want.ndim == 0 else want)

    same(arrays["value"], native["value"])
    same(arrays["per_sample"], native["per_sample"])
    for name, g in native["gradients"].items():
        same(arrays[f"gradient_{name}"], g)
    assert {k for k in arrays if k.startswith("gradient_")} == {
        f"gradient_{k}" for k in native["gradients"]}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
async def test_infer_equals_gradient(client, case, binary_in, binary_out):
    model, inputs, parameters, extra = case
    r = await _infer(client, model, inputs, binary_in, id="req-1",
                     parameters={**parameters, "binary_data_output": binary_out})
    assert (binary_body.HEADER_LENGTH.lower() in r.headers) == binary_out
    head, arrays = _outputs(r)
    native = await _native(client, model, inputs, extra)
    assert head["model_name"] == native["loss"] and head["model_version"] == "1"
    assert head["id"] == "req-1"
    assert head["parameters"] == {"reduction": native["reduction"], "dtype": native["dtype"],
                                  "backend": native["backend"],
                                  "n_samples": native["n_samples"]}
    assert {o["datatype"] for o in head["outputs"]} == {DATATYPE[native["dtype"]]}
    _same_as_gradient(arrays, native)


async def test_requested_outputs_only_each_in_its_format(client):
    r = await _infer(client, "cross_entropy", CASES[1][1], outputs=[
        {"name": "gradient_predictions", "parameters": {"binary_data": True}},
        {"name": "value"}])
    head, arrays = _outputs(r)
    assert [o["name"] for o in head["outputs"]] == ["gradient_predictions", "value"]
    assert "data" not in head["outputs"][0] and "data" in head["outputs"][1]
    native = await _native(client, "cross_entropy", CASES[1][1],
                           {"sample_weight": W.tolist()})
    np.testing.assert_array_equal(arrays["gradient_predictions"],
                                  wire_to_array(native["gradient"]))
    np.testing.assert_array_equal(arrays["value"], [native["value"]])
    # without a gradient output, the call is /loss's: no gradient is computed
    r = await _infer(client, "zero_one", [("predictions", X), ("targets", CLASSES)],
                     outputs=[{"name": "value"}])
    assert _outputs(r)[1].keys() == {"value"}


async def test_health_and_server_metadata(client):
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    assert (await client.get("/v2/health/ready")).json() == {"ready": True}
    meta = (await client.get("/v2")).json()
    assert meta["name"] == "loss-service" and "binary_tensor_data" in meta["extensions"]


async def test_not_ready_until_warmed_up(app, client):
    app.state.ready = False
    try:
        r = await client.get("/v2/health/ready")
        assert (r.status_code, r.json()) == (503, {"ready": False})
        r = await client.get("/v2/models/mse/ready")
        assert (r.status_code, r.json()) == (503, {"name": "mse", "ready": False})
    finally:
        app.state.ready = True


async def test_model_metadata_and_readiness(client):
    meta = (await client.get("/v2/models/cross_entropy")).json()
    assert meta["name"] == "cross_entropy" and meta["versions"] == ["1"]
    assert meta["inputs"] == [  # of any rank: (C,), (N, C) or (N, C, d1, ..., dK)
        {"name": "predictions", "datatype": "FP64", "shape": [-1]},
        {"name": "targets", "datatype": "INT64", "shape": [-1]},
        {"name": "sample_weight", "datatype": "FP64", "shape": [-1]}]
    assert [o["name"] for o in meta["outputs"]] == ["value", "per_sample",
                                                    "gradient_predictions"]
    focal = (await client.get("/v2/models/focal")).json()  # (C,) or (N, C); () or (N,)
    assert [i["shape"] for i in focal["inputs"]] == [[-1, -1], [-1], [-1]]
    assert focal["outputs"][2] == {"name": "gradient_predictions", "datatype": "FP64",
                                   "shape": [-1, -1]}
    # an alias is the same model; a loss without gradients has no gradient outputs
    assert (await client.get("/v2/models/l2/versions/1")).json()["name"] == "mse"
    zero_one = (await client.get("/v2/models/zero_one")).json()
    assert [o["name"] for o in zero_one["outputs"]] == ["value", "per_sample"]
    for path in ("/v2/models/huber/ready", "/v2/models/huber/versions/1/ready"):
        assert (await client.get(path)).json() == {"name": "huber", "ready": True}


@pytest.mark.parametrize("path", ["/v2/models/msee", "/v2/models/msee/ready",
                                  "/v2/models/mse/versions/2", "/v2/models/mse/versions/2/ready",
                                  "/v2/models/nope/infer", "/v2/models/mse/nothing"])
async def test_unknown_models_and_versions_are_404(client, path):
    r = await (client.post(path, json={"inputs": []}) if path.endswith("infer")
               else client.get(path))
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"error"}
    if "msee" in path:
        assert "'mse'" in r.json()["error"]  # the closest names


def _bad(inputs: list[dict[str, Any]] | None = None, **request: Any) -> dict[str, Any]:
    good = [_input("predictions", X), _input("targets", Y)]
    return {"inputs": good if inputs is None else inputs, **request}


BAD_REQUESTS = [
    (_bad([{**_input("predictions", X), "datatype": "BYTES"}, _input("targets", Y)]),
     r"input 'predictions' datatype: .*FP64"),
    (_bad([_input("predictions", X), {**_input("targets", Y), "shape": [6, 5]}]),
     r"input 'targets' data: data has 24 values; shape \[6, 5\] needs 30"),
    (_bad([_input("predictions", X), _input("targets", Y[:3])]),
     r"input 'targets'.*shape"),
    (_bad([_input("predictions", X), {**_input("targets", Y), "shape": ["6", 4]}]),
     r"input 'targets' shape\[0\]: "),
    (_bad([_input("predictions", X), _input("targets", Y), _input("weights", W)]),
     r"input 'weights': model mse has no such input"),
    (_bad([_input("predictions", X), _input("predictions", Y)]),
     r"input 'predictions': the input is given twice"),
    (_bad([_input("predictions", X), {k: v for k, v in _input("targets", Y).items()
                                      if k != "data"}]),
     r"input 'targets': give the tensor's data, or its binary_data_size"),
    (_bad([_input("predictions", X), {**_input("targets", Y), "data": [True] * 24}]),
     r"input 'targets'"),
    (_bad(parameters={"reduction": "median"}), r"parameter 'reduction': "),
    (_bad(parameters={"convention": "nope"}), r"parameter 'convention': "),
    (_bad(parameters={"delta": 1.0}), r"parameter 'delta': "),
    (_bad(outputs=[{"name": "gradient_targets"}]),
     r"output 'gradient_targets': model mse has no such output"),
    (_bad(extra=1), r"extra"),
]


@pytest.mark.parametrize(("request_body", "message"), BAD_REQUESTS)
async def test_bad_requests_are_400_naming_what_is_wrong(client, request_body, message):
    r = await client.post("/v2/models/mse/infer", content=orjson.dumps(request_body))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and re.search(message, body["error"]), body


async def test_binary_bodies_that_do_not_add_up_are_400(client):
    inputs = [("predictions", X), ("targets", Y)]
    header = orjson.dumps({"inputs": [_input(n, a, True) for n, a in inputs]})
    body = header + X.tobytes() + Y.tobytes()
    for length, content in ((str(len(header)), body[:-8]), ("x", body),
                            (str(len(body) + 1), body)):
        r = await client.post("/v2/models/mse/infer", content=content,
                              headers={binary_body.HEADER_LENGTH: length})
        assert r.status_code == 400 and set(r.json()) == {"error"}, r.text
    # binary_data_size in a JSON body
    r = await client.post("/v2/models/mse/infer", content=header)
    assert r.status_code == 400 and "binary_data_size" in r.json()["error"]


async def test_non_finite_results_are_sent(client):
    r = await _infer(client, "mse", [("predictions", np.array([1e308, 0.0])),
                                     ("targets", np.array([-1e308, 0.0]))],
                     parameters={"reduction": "none"})
    out = _outputs(r)[1]
    assert out["value"][0] == np.inf and out["value"][1] == 0.0


async def test_native_routes_keep_problem_details(client):
    r = await client.post("/gradient/mse", json={"predictions": [1.0], "targets": [1.0, 2.0]})
    assert r.status_code == 422 and r.json()["code"] == "shape_mismatch"


async def test_metrics_label_the_route_template(client):
    await _infer(client, "huber", CASES[2][1])
    text = (await client.get("/metrics")).text
    assert 'route="/v2/models/{model_name}/infer"' in text
    assert "/v2/models/huber/infer" not in text


class TestWithApiKeys:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(api_keys=["key"])

    async def test_probes_are_open_the_rest_needs_a_key_and_errors_stay_the_protocols(
            self, client):
        for path in ("/v2/health/live", "/v2/health/ready"):
            assert (await client.get(path)).status_code == 200
        r = await _infer(client, "mse", CASES[0][1])
        assert r.status_code == 401 and set(r.json()) == {"error"}
        assert "API key" in r.json()["error"]
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = await client.get("/v2/models/mse", headers={"x-api-key": "key"})
        assert r.status_code == 200


def test_no_input_or_parameter_name_is_taken_by_the_protocol():
    from service.losses import LOSSES
    from service.transport.inference_protocol import NATIVE_PARAMETERS, TRITON_PARAMETERS

    params = {p.name for spec in LOSSES.values() for p in spec.params}
    assert not params & (TRITON_PARAMETERS | set(NATIVE_PARAMETERS))
    assert "sample_weight" not in {i.name for spec in LOSSES.values() for i in spec.inputs}


async def test_large_json_bodies_are_read_in_place(client):
    """A large JSON body's tensors are parsed straight into NumPy, as the native API's are
    (:mod:`service.transport.json_arrays`): 2.3x faster at 18 MB. The results are the same."""
    from service.transport.json_in import JSON_INPLACE_BODY_BYTES, parse_json

    x, y = RNG.normal(size=(100_000, 2)), RNG.normal(size=(100_000, 2))
    inputs = [("predictions", x), ("targets", y)]
    body = orjson.dumps({"inputs": [_input(n, a) for n, a in inputs]})
    assert len(body) > JSON_INPLACE_BODY_BYTES
    parsed = parse_json(body)
    assert all(isinstance(t["data"], np.ndarray) for t in parsed["inputs"])
    _, arrays = _outputs(await client.post("/v2/models/mse/infer", content=body))
    _same_as_gradient(arrays, await _native(client, "mse", inputs, {}))


# --- docs/api.md's examples are what the service answers -----------------------------------

NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


def _section() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    start = text.index("\n## Open Inference Protocol (KServe V2 / Triton)\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _block(text: str, fence: str) -> str:
    start = text.index(f"```{fence}\n") + len(fence) + 4
    return text[start:text.index("\n```", start)]


def _same_text(shown: str, got: str) -> None:
    """Equal text, the numbers in it equal to 1e-6 (other changes to the core may move the last
    digits)."""
    shown, got = " ".join(shown.split()), " ".join(got.split())
    assert NUMBER.sub("#", shown) == NUMBER.sub("#", got), got
    for a, b in zip(NUMBER.findall(shown), NUMBER.findall(got), strict=True):
        assert float(b) == pytest.approx(float(a), rel=1e-6, abs=1e-12), (shown, got)


async def test_the_docs_curl_examples_are_real_answers(client):
    lines = _block(_section(), "console").splitlines()
    assert len(lines) == 4
    for command, shown in zip(lines[::2], lines[1::2], strict=True):
        path = re.search(r"localhost:8000(\S+)", command).group(1)
        body = re.search(r"-d '(\{.*\})'", command).group(1)
        r = await client.post(path, content=body)  # (curl -d: no JSON content type)
        _same_text(shown, r.text)


async def test_nested_data_is_taken_as_the_shape_says(client):
    """The protocol allows data flattened or nested; nested, it must have the declared shape,
    and its values the declared datatype."""
    inputs = [("predictions", X), ("targets", CLASSES), ("sample_weight", W)]
    flat = [_input(n, a) for n, a in inputs]
    nested = [{**flat[0], "data": X.tolist()}, flat[1], flat[2]]
    r = await client.post("/v2/models/cross_entropy/infer", json={"inputs": nested})
    _same_as_gradient(_outputs(r)[1], await _native(client, "cross_entropy", inputs,
                                                    {"sample_weight": W.tolist()}))
    for bad, message in (
        ({**flat[0], "shape": [4, 6], "data": X.tolist()},
         r"input 'predictions' data: data is nested as shape \[6, 4\]; the tensor's shape is"),
        ({**flat[0], "datatype": "INT64", "data": X.tolist()},
         r"input 'predictions' data: data contains float64 values where integers \(int64\)"),
        ({**flat[0], "datatype": "INT32", "data": [[1, 2, 3, 4]] * 5 + [[1, 2, 3, 2**40]]},
         r"input 'predictions' data\[5\]\[3\]: data contains 1099511627776, which is out of "
         r"the int32 range"),
        ({**flat[0], "data": [[1.0, 2.0], [3.0]]}, r"input 'predictions'")):
        r = await client.post("/v2/models/cross_entropy/infer", json={"inputs": [bad, flat[1]]})
        assert r.status_code == 400 and re.search(message, r.json()["error"]), r.text
