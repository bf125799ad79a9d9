"""``POST /compare`` (grade a submission, or compare losses), ``GET /compare/mistakes`` (the
mistake catalog) and ``GET /cases/{name}`` (deterministic test cases)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from ...config import Settings
from ...grading import CATALOG, applicable, case_set
from ...grading.cases import MAX_CLASSES, MAX_N
from ...losses import LossError, get_loss
from ...transport.json_out import Piece, Splices, json_response, serialize
from ...transport.request import Received, parse, receive
from ..compare_body import compare_body
from ..compare_schemas import (
    CaseSet,
    CompareRequest,
    GradeRequest,
    GradeResponse,
    GradescopeTest,
    LossesRequest,
    LossesResponse,
    MistakeCatalog,
    PrairieLearnResult,
)
from ..offload import read_within, run_off_loop, run_where
from ..problems import error_responses, from_loss_error

router = APIRouter(tags=["compare"])

_DESCRIPTION = """Two modes, chosen by `mode`:

* **grade** (the default): check a student's `submission` (`value`, `per_sample`, `gradient`,
  `gradients`; any subset) against the reference, computed by the same engine as `/loss` and
  `/gradient`. Each check runs present -> shape -> finite -> values with
  `numpy.testing.assert_allclose` semantics (`|submitted - reference| <= atol + rtol |reference|`);
  `tolerance` is explicit or a preset (`numpy`, `torch` (the default, per dtype), `strict`). A
  failed check is matched against the catalog of common mistakes (`GET /compare/mistakes`) and
  each match is reported in `diagnosis`. `format` gradescope or prairielearn shapes the result as
  that platform's test entry.
* **losses**: several losses on one batch, with per-sample values, their Spearman rank
  correlations and the `k` samples each loss penalises most."""


def _response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")


class ReadsItsOwnBody(APIRoute):
    """A route whose body model FastAPI documents (a component in OpenAPI) but does not parse:
    the endpoint reads the body itself, with the service's size limits and problem+json errors,
    and is called with the request only."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            return await endpoint(request)

        return handler


async def compare(request: Request,
                  body: Annotated[CompareRequest, Body()] = ...) -> Response:  # docs only
    settings = request.app.state.settings
    received = await read_within(request, receive(request, settings.max_body_bytes))
    # A small body graded by NumPy runs on the event loop, like /loss (the thread hop cost
    # more than a small grade: 0.3 ms to grade, 2.5 ms with a diagnosis at 64 KiB); a large one,
    # or one the GPU computes, in a worker thread.
    on_loop = received.size <= settings.inline_max_bytes and settings.backend == "numpy"
    _, parts = await run_where(request, on_loop, _compare_parts, received, settings)
    return json_response(parts)


def _compare_parts(body: Received, settings: Settings) -> tuple[int | None, list[Piece]]:
    """The response for ``body`` (parsed here, in the worker thread and within the time
    budget), large result arrays spliced in (:class:`service.transport.json_out.Splices`)."""
    obj, check_bools = parse(body, settings.max_elements)
    splices = Splices()
    return serialize(compare_body(obj, settings, check_bools=check_bools, splices=splices),
                     splices)


router.add_api_route(
    "/compare", compare, methods=["POST"], route_class_override=ReadsItsOwnBody,
    operation_id="compare", summary="Grade a submission, or compare losses",
    description=_DESCRIPTION,
    response_model=GradeResponse | GradescopeTest | PrairieLearnResult | LossesResponse,
    responses=error_responses(400, 404, 408, 413, 415, 422, 503),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "examples": {
            "grade": {"summary": "a grade (here the value is twice the right one)",
                      "value": GradeRequest.model_config["json_schema_extra"]["examples"][0]},
            "losses": {"summary": "four losses on one batch",
                       "value": LossesRequest.model_config["json_schema_extra"]["examples"][0]},
        }}}}},
)


@router.get("/compare/mistakes", operation_id="compare-mistakes",
            summary="The catalog of common mistakes the grader diagnoses",
            response_model=MistakeCatalog, responses=error_responses(404),
            description="Each entry: its `code` (as in a diagnosis), the checks it affects, how it "
            "is matched, when it applies, the hint shown to students and the registered losses it "
            "concerns. With `loss`, only the mistakes that can concern that loss.")
async def mistakes(loss: Annotated[str | None, Query(description="a loss name or alias")] = None
                   ) -> dict[str, Any]:
    entries = list(CATALOG)
    if loss is not None:
        try:
            entries = applicable(get_loss(loss))
        except LossError as exc:
            raise from_loss_error(exc, ["query", "loss"]) from None
    return {"count": len(entries), "mistakes": [m.describe() for m in entries]}


@router.get("/cases/{name}", operation_id="cases", summary="Deterministic test cases for a loss",
            response_model=CaseSet, responses=error_responses(404, 422, 503),
            description="Inputs for loss `name`, byte-identical for the same query across runs, "
            "processes and machines (numpy `Generator(PCG64(seed))`, floats rounded to 12 "
            "significant digits). `kind=edge` gives the edge cases that apply to the loss: a "
            "single sample, logits of +-1000, probabilities of exactly 0 and 1, scores at the "
            "hinge kink, ignored targets, one class dominating. Each case is the start of a "
            "`/compare` body: add `submission`. A loss whose sampler cannot draw a batch that "
            "large within 5 s answers 422 `case_too_large`.")
async def cases(
    request: Request,
    name: str,
    seed: Annotated[int, Query(ge=0, le=2**63 - 1, description="generator seed")] = 0,
    n: Annotated[int, Query(ge=1, le=MAX_N, description="batch size")] = 8,
    classes: Annotated[int, Query(ge=2, le=MAX_CLASSES, description="classes (or features)")]
    = 4,
    kind: Annotated[Literal["random", "edge"], Query(description="random or edge")] = "random",
) -> Response:
    try:
        get_loss(name)
    except LossError as exc:
        raise from_loss_error(exc, ["path", "name"]) from None
    try:
        body = await run_off_loop(request, functools.partial(
            case_set, name, seed=seed, n=n, classes=classes, kind=kind))
    except LossError as exc:  # case_too_large
        raise from_loss_error(exc, ["query", "n"]) from None
    return _response(body)
