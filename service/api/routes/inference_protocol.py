"""The Open Inference Protocol (KServe V2 / Triton HTTP) beside the native API: each loss a model.

Why: clients written for KServe or Triton (``tritonclient.http``, KServe's
``InferenceRESTClient``) can evaluate losses without knowing the native API. The routes are thin:
an ``infer`` request is translated (:mod:`service.transport.inference_protocol`) into the call
``/gradient`` makes, computed by the same :func:`service.api.routes.losses.compute`, and its
result translated back. A few templated routes serve every loss (no route per loss: route
matching of the native routes stays as fast), and errors on ``/v2`` paths are the protocol's
``{"error": "..."}`` (:func:`service.api.problems.problem_response`), 400 where the native API
answers 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ... import __version__
from ...config import Settings
from ...losses import LossError, LossSpec, get_loss
from ...transport.inference_protocol import (
    VERSION,
    Requested,
    decode_infer,
    encode_outputs,
    model_metadata,
    named,
)
from ...transport.json_out import Piece, binary_response, json_response
from ...transport.request import LossCall, receive
from ..inference_schemas import (
    InferenceError,
    InferResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
)
from ..offload import read_within, run_where
from ..problems import ProblemError
from .losses import compute, on_event_loop

router = APIRouter(tags=["inference protocol"])

EXTENSIONS = ["binary_tensor_data"]
_MEDIA = {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceError"}}}
_ERRORS: dict[str, Any] = {
    400: "Malformed request: an unknown or badly shaped input, datatype or parameter (the "
    "message names it), or a bad Inference-Header-Content-Length",
    404: "No such model (loss) or version",
    408: "The body did not arrive within the time budget",
    413: "Body or element count over the configured limit",
    503: "Not ready, or busy (with Retry-After)",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": InferenceError, "description": _ERRORS[s], "content": _MEDIA}
            for s in statuses}


def _ready(request: Request) -> bool:
    return bool(getattr(request.app.state, "ready", False))


def _model(model_name: str, model_version: str | None = None) -> LossSpec:
    """The loss served as ``model_name`` (a canonical name or alias); 404 otherwise."""
    try:
        spec = get_loss(model_name)
    except LossError as exc:
        raise ProblemError("unknown_loss", f"no model {model_name!r} here: {exc.message}",
                           ("path", "model_name")) from None
    if model_version not in (None, VERSION):
        raise ProblemError("not_found", f"model {spec.name} has one version, {VERSION}; not "
                           f"{model_version!r}", ("path", "model_version"), status=404)
    return spec


@router.get("/v2", operation_id="oip-server-metadata", summary="Server metadata",
            response_model=ServerMetadata)
async def server_metadata() -> dict[str, Any]:
    return {"name": "loss-service", "version": __version__, "extensions": EXTENSIONS}


@router.get("/v2/health/live", operation_id="oip-server-live", summary="Server liveness",
            response_model=ServerLive)
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", operation_id="oip-server-ready",
            summary="Server readiness (warm-up done; 503 before)", response_model=ServerReady,
            responses={503: {"model": ServerReady, "description": "Not ready yet"}})
async def server_ready(request: Request) -> Response:
    ready = _ready(request)
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


async def model_metadata_route(model_name: str) -> dict[str, Any]:
    return model_metadata(_model(model_name))


async def model_version_metadata(model_name: str, model_version: str) -> dict[str, Any]:
    return model_metadata(_model(model_name, model_version))


def _model_ready(request: Request, spec: LossSpec) -> Response:
    ready = _ready(request)
    return JSONResponse({"name": spec.name, "ready": ready}, status_code=200 if ready else 503)


async def model_ready_route(request: Request, model_name: str) -> Response:
    return _model_ready(request, _model(model_name))


async def model_version_ready(request: Request, model_name: str, model_version: str) -> Response:
    return _model_ready(request, _model(model_name, model_version))


def _answer(call: LossCall, requested: Requested, settings: Settings, stats: dict[str, Any],
            worker: Any) -> tuple[int | None, list[Piece]]:
    try:
        ev = compute(call, settings, stats, worker)
        return encode_outputs(ev, requested, stats["backend"])
    except ProblemError as exc:
        raise named(exc, list(call.where)) from None


async def infer_route(request: Request, model_name: str) -> Response:
    return await _infer(request, _model(model_name))


async def model_version_infer(request: Request, model_name: str, model_version: str) -> Response:
    return await _infer(request, _model(model_name, model_version))


async def _infer(request: Request, spec: LossSpec) -> Response:
    """Receive, translate and decode, compute (the core call of ``/gradient``), answer."""
    settings: Settings = request.app.state.settings
    state = request.state
    state.loss, state.kind, state.backend = spec.name, "loss", settings.backend
    body = await read_within(request, receive(request, settings.max_body_bytes, binary=True,
                                              any_media=True))
    stats: dict[str, Any] = {}
    try:
        call, requested = await run_where(request, body.size <= settings.inline_max_bytes,
                                          decode_infer, body, spec, settings.max_elements, stats)
        state.kind = "gradient" if call.want_grad else "loss"
        head, parts = await run_where(request, on_event_loop(call, settings), _answer, call,
                                      requested, settings, stats, request.app.state.device_worker)
    finally:
        state.n_elements = stats.get("n_elements")
        state.backend = stats.get("backend", state.backend)
    return json_response(parts) if head is None else binary_response(head, parts)


_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
# Only application/json is listed (as for the native routes): a second request media type makes
# generated clients take a union body that openapi-python-client cannot type. The binary
# extension's body (any content type) is described in words.
_INFER_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}},
    "description": "An inference request; with the binary tensor extension (a body of any "
    "content type, with an Inference-Header-Content-Length header), that JSON as a header of "
    "Inference-Header-Content-Length bytes, then the inputs' bytes (little-endian, row-major) "
    "in the order the header names those with binary_data_size"}}
_INFER_OK = {"description": "The outputs; application/octet-stream (with "
             "Inference-Header-Content-Length) where some output is binary",
             "content": _BINARY}

_ROUTES = (("", model_metadata_route, model_ready_route, infer_route),
           ("/versions/{model_version}", model_version_metadata, model_version_ready,
            model_version_infer))
for _suffix, _metadata, _ready_route, _infer_route in _ROUTES:
    _base = "/v2/models/{model_name}" + _suffix
    _id = "-version" if _suffix else ""
    router.add_api_route(_base, _metadata, methods=["GET"],
                         operation_id=f"oip-model-metadata{_id}", summary="Model metadata",
                         response_model=ModelMetadata, responses=_errors(404))
    router.add_api_route(_base + "/ready", _ready_route, methods=["GET"],
                         operation_id=f"oip-model-ready{_id}", summary="Model readiness",
                         response_model=ModelReady,
                         responses={**_errors(404), 503: {"model": ModelReady,
                                                          "description": "Not ready yet"}})
    router.add_api_route(_base + "/infer", _infer_route, methods=["POST"],
                         operation_id=f"oip-infer{_id}", summary="Inference: the loss's "
                         "value, per-sample values and gradients", response_model=InferResponse,
                         responses={200: _INFER_OK, **_errors(400, 404, 408, 413, 503)},
                         openapi_extra=_INFER_BODY)
