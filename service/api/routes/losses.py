"""``POST /loss/{name}`` and ``POST /gradient/{name}``: one pair of routes per loss in the registry.

Each loss has its own documented operation (``/loss/mse``, its request model, the registry's
examples: :data:`documented`), but requests are matched by one pair of routes (:data:`router`),
``/loss/{name}`` and ``/gradient/{name}``, which resolve the name by a dict lookup: routing
scans its routes in order, and ~130 per-loss routes ahead of every other path cost a small
request more than its loss (issue 22; bench/README.md, "small"). The pair resolves aliases
(``/loss/l2`` is ``/loss/mse``) and answers unknown names with 404 and the closest names. A
route receives the body, decodes it into a call, runs the call where the decoded request says
(the event loop, or a worker thread) and sends the result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from ... import deadline, engine
from ...backends import BackendUnavailable
from ...backends.worker import DeviceWorker, QueueFull
from ...config import Settings
from ...losses import LOSSES, Evaluation, LossError, LossSpec, get_loss
from ...losses.spec import InputSpec
from ...transport.json_out import (
    Piece,
    Splices,
    binary_response,
    encode_array,
    encode_scalar,
    json_response,
    jsonable,
    serialize,
)
from ...transport.request import LossCall, decode_loss, receive
from ..offload import read_within, run_where
from ..problems import ProblemError, error_responses, from_loss_error
from ..schemas import (
    BINARY_BODY_DESCRIPTION,
    BINARY_RESPONSE,
    REQUEST_MODELS,
    GenericRequest,
    GradientResponse,
    LossResponse,
    example_body,
)

router = APIRouter()  # what requests are matched against
documented = APIRouter()  # one operation per loss, for the OpenAPI document only

Handler = Callable[[Request], Awaitable[Response]]


async def _respond(request: Request, spec: LossSpec, want_grad: bool) -> Response:
    """Receive, decode (on the event loop if the body is small), compute and encode where the
    decoded request says (:func:`on_event_loop`), answer."""
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


def on_event_loop(call: LossCall, settings: Settings) -> bool:
    """Whether ``call`` is computed on the event loop (no threadpool hop): a small body computed
    by NumPy. A large one, or one that may go to the GPU (whose device worker must never be
    waited on from the loop), is computed in a worker thread."""
    backend = call.backend or settings.backend
    numpy = backend == "numpy" or (backend == "auto"
                                   and call.n_elements < settings.gpu_min_elements)
    return numpy and call.body_bytes <= settings.inline_max_bytes


def compute(call: LossCall, settings: Settings, stats: dict[str, Any],
            worker: DeviceWorker | None = None) -> Evaluation:
    """``call`` evaluated by :func:`service.engine.run` (raises ProblemError): the one core call
    of ``/loss``, ``/gradient`` and the Open Inference Protocol's ``infer``. Its input arrays
    are released before it returns; ``stats`` receives ``backend``."""
    deadline.check("parsing the body")
    try:
        result = engine.run(call.spec.name, call.arrays, call.params, reduction=call.reduction,
                            sample_weight=call.sample_weight, dtype=call.dtype,
                            want_grad=call.want_grad, backend=call.backend or settings.backend,
                            worker=worker, gpu_min_elements=settings.gpu_min_elements,
                            want_per_sample="per_sample" not in call.omit,
                            validate=call.validate or settings.validation,
                            wrt=call.wrt)
    except LossError as exc:
        raise from_loss_error(exc, call.locate(exc.loc)) from None
    except BackendUnavailable as exc:
        raise ProblemError(exc.code, str(exc), ["body", "backend"] if call.backend
                           else ["config", "backend"]) from None
    except QueueFull as exc:
        raise ProblemError(exc.code, str(exc), status=503,
                           headers={"Retry-After": str(exc.retry_after)}) from None
    stats["backend"] = result.backend
    deadline.check("computing the loss")
    call.arrays.clear()  # the inputs are no longer needed: free them before encoding
    call.sample_weight = None
    return result.evaluation


def loss_body(call: LossCall, settings: Settings, stats: dict[str, Any],
              worker: DeviceWorker | None = None,
              splices: Splices | None = None) -> dict[str, Any]:
    """The response body of ``call`` (raises ProblemError), for orjson; its arrays are
    released before the result is encoded. ``stats`` receives ``backend``. With ``splices``,
    b64 and binary result arrays are held there (see :class:`Splices`); binary needs them."""
    enc = call.encoding
    ev = compute(call, settings, stats, worker)
    value = np.asarray(ev.value)
    body: dict[str, Any] = {
        "loss": ev.loss,
        "value": encode_scalar(value) if value.ndim == 0 and ev.reduction != "none"
        else encode_array(value, enc, splices=splices),
        "reduction": ev.reduction,
        **({} if ev.per_sample is None
           else {"per_sample": encode_array(ev.per_sample, enc, splices=splices)}),
        "n_samples": ev.n_samples,
        "params": jsonable(ev.params),
        "dtype": ev.dtype,
        "backend": stats["backend"],
    }
    if ev.warnings:
        body["warnings"] = [{"code": w.code, "loc": call.locate(w.loc), "detail": w.detail}
                            for w in ev.warnings]
    if call.want_grad:
        grads = ev.gradients or {}
        body["gradients"] = {k: encode_array(g, enc, splices=splices) for k, g in grads.items()}
        # the copy of the predictions' gradient: absent when omitted or when wrt leaves it out
        if "gradient" not in call.omit and (call.wrt is None or "predictions" in grads):
            body["gradient"] = body["gradients"].get("predictions")
    return body


def loss_response(call: LossCall, settings: Settings, stats: dict[str, Any],
                  worker: DeviceWorker | None = None) -> tuple[int | None, list[Piece]]:
    """``(header length, parts)`` of the response (see :func:`serialize`); b64 and binary
    results spliced into the serialized document, not copied into it."""
    splices = Splices()
    body = loss_body(call, settings, stats, worker, splices)
    return serialize(body, splices, binary=call.encoding == "binary")


# The request body is documented as application/json only; the binary tensor format, which the
# routes take as well, is described in BINARY_BODY_DESCRIPTION. A second media type on a required
# body makes openapi-python-client (0.29) emit modules that fail to import (its issue #1451), and
# a generated client could not build that format anyway. The binary *response* stays a media type
# of the 200 (BINARY_RESPONSE).
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
            }},
        }
    }


def _description(spec: LossSpec, want_grad: bool) -> str:
    def marker(i: InputSpec) -> str:
        if i.differentiable:
            return " (differentiable)"
        return " (gradient when `wrt` names it)" if i.grad_on_request else ""

    inputs = "\n".join(f"- `{i.name}` {i.shape}: {i.description}{marker(i)}"
                       for i in spec.inputs)
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
        documented.add_api_route(
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
    kind = "gradient" if want_grad else "loss"
    request.state.route = f"/{kind}/{{name}}"  # the metrics' label (see below)
    try:
        spec = get_loss(name)
    except LossError as exc:
        raise from_loss_error(exc, ["path", "name"]) from None
    if want_grad and not spec.differentiable:
        raise ProblemError("not_differentiable", f"{spec.name} is not differentiable, so it "
                           "has no gradient; use /loss/" + spec.name, ["path", "name"])
    if name == spec.name:  # the loss's own documented operation names it in the metrics
        request.state.route = f"/{kind}/{name}"
    return await _respond(request, spec, want_grad)


_GENERIC_BODY = {"requestBody": {"required": True, "description": BINARY_BODY_DESCRIPTION,
                                  "content": {"application/json": {"schema": {
                                      "$ref": "#/components/schemas/GenericRequest"}}}}}


@documented.post("/loss/{name}", operation_id="loss-by-name", tags=["loss"],
             summary="Any loss by canonical name or alias", response_model=LossResponse,
             responses={200: BINARY_RESPONSE, **error_responses(400, 404, 408, 413, 415, 422, 503)},
             openapi_extra=_GENERIC_BODY,
             description="Resolves aliases (e.g. `l2` -> `mse`); the body is that loss's request "
             "body (see its own route). Unknown names get a 404 listing the closest names.")
async def loss_by_name(request: Request, name: str) -> Response:
    return await _by_name(request, name, want_grad=False)


@documented.post("/gradient/{name}", operation_id="gradient-by-name", tags=["gradient"],
             summary="Any loss's gradient by canonical name or alias",
             response_model=GradientResponse,
             responses={200: BINARY_RESPONSE, **error_responses(400, 404, 408, 413, 415, 422, 503)},
             openapi_extra=_GENERIC_BODY,
             description="Resolves aliases; unknown names get a 404 with suggestions, and a loss "
             "that is not differentiable (e.g. zero_one) a 422 `not_differentiable`.")
async def gradient_by_name(request: Request, name: str) -> Response:
    return await _by_name(request, name, want_grad=True)


# What requests are matched against: plain Starlette routes (their endpoints take the request
# alone, so FastAPI solves no dependencies), answering exactly as the operations above.
async def _loss(request: Request) -> Response:
    return await _by_name(request, request.path_params["name"], want_grad=False)


async def _gradient(request: Request) -> Response:
    return await _by_name(request, request.path_params["name"], want_grad=True)


router.add_route("/loss/{name}", _loss, methods=["POST"], include_in_schema=False)
router.add_route("/gradient/{name}", _gradient, methods=["POST"], include_in_schema=False)


__all__ = ["GenericRequest", "documented", "router"]
