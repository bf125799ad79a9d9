"""``POST /loss/{name}`` and ``POST /gradient/{name}``: one pair of routes per loss in the registry.

Each route has its own request model (documented in OpenAPI) and the registry's examples. A
catch-all pair resolves aliases (``/loss/l2`` is ``/loss/mse``) and answers unknown names with 404
and the closest names. A route receives the body, decodes it into a call, runs the call where
the decoded request says (the event loop, or a worker thread) and sends the result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from ...config import Settings
from ...losses import LOSSES, LossError, LossSpec, get_loss
from ...transport.decode import decode_loss
from ...transport.receive import receive
from ..loss_body import loss_response, on_event_loop
from ..offload import read_within, run_where
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


async def _respond(request: Request, spec: LossSpec, want_grad: bool) -> Response:
    """Receive, decode (on the event loop if the body is small), compute and encode where the
    decoded request says (:func:`service.api.loss_body.on_event_loop`), answer."""
    settings: Settings = request.app.state.settings
    state = request.state
    state.loss, state.kind = spec.name, "gradient" if want_grad else "loss"
    state.backend = settings.backend
    body = await read_within(request, receive(request, settings.max_body_bytes, binary=True))
    stats: dict[str, Any] = {}
    try:
        call = await run_where(request, body.size <= settings.inline_max_bytes, decode_loss,
                               body, spec, REQUEST_MODELS[spec.name], want_grad,
                               settings.max_elements, stats)
        head, parts = await run_where(request, on_event_loop(call, settings),
                                      loss_response, call, settings, stats,
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
