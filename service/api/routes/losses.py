"""``POST /loss/{name}`` and ``POST /gradient/{name}``: one pair of routes per loss in the registry.

Each route has its own request model (documented in OpenAPI) and the registry's examples. A
catch-all pair resolves aliases (``/loss/l2`` is ``/loss/mse``) and answers unknown names with 404
and the closest names. Small bodies are evaluated on the event loop (no threadpool hop); larger ones
in a worker thread, so a big request never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from ...backends.worker import DeviceWorker
from ...config import Settings
from ...encoding import Piece, Splices
from ...losses import LOSSES, LossError, LossSpec, get_loss
from ...tuning import gc_paused
from ..body import binary_header_length, may_hide_booleans, parse_binary, parse_json, read_body
from ..evaluation import evaluate_body
from ..offload import read_within, run_inline, run_off_loop
from ..problems import ProblemError, error_responses, from_loss_error
from ..responses import binary_response, json_response
from ..schemas import (
    BINARY_BODY_DESCRIPTION,
    BINARY_RESPONSE,
    REQUEST_MODELS,
    GenericRequest,
    GradientResponse,
    LossResponse,
    example_body,
)

router = APIRouter()

Handler = Callable[[Request], Awaitable[Response]]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


GC_PAUSE_BYTES = 1 << 20  # bodies from 1 MiB are parsed and evaluated with the collector paused


def _evaluate_raw(box: list[bytes | bytearray], header_length: int | None, spec: LossSpec,
                  want_grad: bool, settings: Settings, stats: dict[str, Any],
                  worker: DeviceWorker | None, splices: Splices) -> dict[str, Any]:
    raw = box.pop()  # the only reference to the body: freed as soon as it is parsed (a binary
    # body lives on in the arrays that are views of it)
    if header_length is None:
        obj, text = parse_json(raw, settings.max_elements), raw
    else:
        obj, text = parse_binary(raw, header_length, settings.max_elements), raw[:header_length]
    # booleans can hide in numeric lists (NumPy reads True as 1.0): lists are scanned for them
    # only if the body holds a true/false token and arrays sent as JSON numbers
    check_bools = may_hide_booleans(text, obj)
    del raw, text
    return evaluate_body(spec, REQUEST_MODELS[spec.name], obj, want_grad=want_grad,
                         settings=settings, check_bools=check_bools, stats=stats, worker=worker,
                         splices=splices,
                         default_encoding="json" if header_length is None else "binary")


def _parse_and_evaluate(box: list[bytes | bytearray], header_length: int | None,
                        spec: LossSpec, want_grad: bool, settings: Settings,
                        stats: dict[str, Any],
                        worker: DeviceWorker | None = None) -> tuple[int | None, list[Piece]]:
    """``(header length, parts)`` of the response for the request body in ``box`` (taken out of
    it, so that it can be freed as soon as it is parsed): the parts are sent in turn; the header
    length is that of a binary response's JSON header (None: a JSON response).

    A large body is parsed and evaluated with the cyclic collector paused: the millions of
    lists of a nested JSON array hold no cycles, and they are freed (by reference counting)
    before it resumes (see :mod:`service.tuning`). b64 result strings are spliced into the
    serialized document rather than copied into it (:class:`service.encoding.Splices`).
    """
    splices = Splices()
    with gc_paused(len(box[0]) >= GC_PAUSE_BYTES):
        body = _evaluate_raw(box, header_length, spec, want_grad, settings, stats, worker,
                             splices)
    document = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if stats.get("encoding") == "binary":
        return splices.splice_binary(document)
    return None, splices.splice(document)


async def _respond(request: Request, spec: LossSpec, want_grad: bool) -> Response:
    settings = _settings(request)
    state = request.state
    state.loss, state.kind = spec.name, "gradient" if want_grad else "loss"
    state.backend = settings.backend
    raw = await read_within(request, read_body(request, settings.max_body_bytes, binary=True))
    header_length = binary_header_length(request, len(raw))
    stats: dict[str, Any] = {}
    # a GPU request waits on the device worker, which must never happen on the event loop
    # (a body of n bytes holds fewer than n elements, so auto keeps small bodies on NumPy)
    inline = len(raw) <= settings.inline_max_bytes and not (
        settings.backend == "cupy" or b'"cupy"' in raw or (
            (settings.backend == "auto" or b'"auto"' in raw)
            and settings.gpu_min_elements <= settings.inline_max_bytes))
    box = [raw]
    del raw
    try:
        if inline:  # small: no threadpool hop
            head, parts = run_inline(request, _parse_and_evaluate, box, header_length, spec,
                                     want_grad, settings, stats)
        else:  # large: parse, compute and encode off the event loop, within the time budget
            head, parts = await run_off_loop(request, _parse_and_evaluate, box, header_length,
                                             spec, want_grad, settings, stats,
                                             request.app.state.device_worker)
    finally:
        state.n_elements = stats.get("n_elements")
        state.backend = stats.get("backend", state.backend)
    return json_response(parts) if head is None else binary_response(head, parts)


_BINARY_CONTENT = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_RESPONSES = {200: BINARY_RESPONSE, **error_responses(400, 408, 413, 415, 422, 503)}


def _openapi_body(model: type[BaseModel], spec: LossSpec) -> dict[str, Any]:
    examples = {
        f"example{i}": {"summary": ex.summary, "value": example_body(spec, i)}
        for i, ex in enumerate(spec.examples)
    }
    return {
        "requestBody": {
            "required": True,
            "description": BINARY_BODY_DESCRIPTION,
            "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                "examples": examples,
            }, **_BINARY_CONTENT},
        }
    }


def _description(spec: LossSpec, want_grad: bool) -> str:
    inputs = "\n".join(f"- `{i.name}` {i.shape}: {i.description}"
                       f"{' (differentiable)' if i.differentiable else ''}" for i in spec.inputs)
    lines = [spec.summary, "", f"$${spec.formula}$$", "", "Inputs:", inputs, "",
             f"Reference: {spec.reference}."]
    if spec.aliases:
        lines.append(f"Aliases (also accepted in the path): {', '.join(spec.aliases)}.")
    if want_grad and spec.gradient_note:
        lines += ["", f"Gradient: {spec.gradient_note}."]
    if spec.notes:
        lines += ["", spec.notes]
    return "\n".join(lines)


def _make_handler(spec: LossSpec, want_grad: bool) -> Handler:
    async def handler(request: Request) -> Response:
        return await _respond(request, spec, want_grad)

    handler.__name__ = f"{'gradient' if want_grad else 'loss'}_{spec.name}"
    return handler


def _register(spec: LossSpec) -> None:
    model = REQUEST_MODELS[spec.name]
    kinds = [("loss", False, LossResponse)]
    if spec.differentiable:
        kinds.append(("gradient", True, GradientResponse))
    for kind, want_grad, response in kinds:
        router.add_api_route(
            f"/{kind}/{spec.name}",
            _make_handler(spec, want_grad),
            methods=["POST"],
            operation_id=f"{kind}-{spec.name}",
            summary=f"{'Gradient of ' if want_grad else ''}{spec.name}",
            description=_description(spec, want_grad),
            tags=[kind],
            response_model=response,
            responses=_RESPONSES,
            openapi_extra=_openapi_body(model, spec),
        )


for _spec in LOSSES.values():
    _register(_spec)


async def _by_name(request: Request, name: str, want_grad: bool) -> Response:
    try:
        spec = get_loss(name)
    except LossError as exc:
        raise from_loss_error(exc, ["path", "name"]) from None
    if want_grad and not spec.differentiable:
        raise ProblemError("not_differentiable", f"{spec.name} is not differentiable, so it "
                           "has no gradient; use /loss/" + spec.name, ["path", "name"])
    return await _respond(request, spec, want_grad)


_GENERIC_BODY = {"requestBody": {"required": True, "description": BINARY_BODY_DESCRIPTION,
                                  "content": {"application/json": {"schema": {
                                      "$ref": "#/components/schemas/GenericRequest"}},
                                      **_BINARY_CONTENT}}}


@router.post("/loss/{name}", operation_id="loss-by-name", tags=["loss"],
             summary="Any loss by canonical name or alias", response_model=LossResponse,
             responses={200: BINARY_RESPONSE, **error_responses(400, 404, 408, 413, 415, 422, 503)},
             openapi_extra=_GENERIC_BODY,
             description="Resolves aliases (e.g. `l2` -> `mse`); the body is that loss's request "
             "body (see its own route). Unknown names get a 404 listing the closest names.")
async def loss_by_name(request: Request, name: str) -> Response:
    return await _by_name(request, name, want_grad=False)


@router.post("/gradient/{name}", operation_id="gradient-by-name", tags=["gradient"],
             summary="Any loss's gradient by canonical name or alias",
             response_model=GradientResponse,
             responses={200: BINARY_RESPONSE, **error_responses(400, 404, 408, 413, 415, 422, 503)},
             openapi_extra=_GENERIC_BODY,
             description="Resolves aliases; unknown names get a 404 with suggestions, and a loss "
             "that is not differentiable (e.g. zero_one) a 422 `not_differentiable`.")
async def gradient_by_name(request: Request, name: str) -> Response:
    return await _by_name(request, name, want_grad=True)


__all__ = ["GenericRequest", "router"]
