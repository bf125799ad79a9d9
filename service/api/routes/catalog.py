"""``GET /losses`` and ``GET /losses/{name}``: the registry as a catalog.

The registry does not change while the process runs, so each answer is validated against its
model and serialized once, then sent as the same bytes with an ``ETag`` (a matching
``If-None-Match`` gets 304): validating the 60-entry catalog per request cost about 1 ms.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from ...losses import LossError, get_loss
from ...losses.catalog import catalog, describe
from ..problems import error_responses, from_loss_error

router = APIRouter(tags=["catalog"])


class Convention(BaseModel):
    """One library convention of a loss."""

    name: str = Field(description="the value of the `convention` parameter")
    default: bool
    reference: str = Field(description="the library function whose numbers it reproduces")
    changes: str = Field(description="what differs from the default convention")


class LossEntry(BaseModel):
    """One loss: inputs, parameters (JSON Schema), reductions, formula, reference."""

    name: str
    aliases: list[str]
    family: str
    summary: str
    inputs: list[dict[str, Any]]
    shapes: str = Field(description="each input's accepted shapes, in words")
    broadcasting: str = Field(description="what is broadcast (beyond each input's listed "
                              "shapes, nothing)")
    params: dict[str, dict[str, Any]] = Field(description="JSON Schema of each parameter, "
                                              "its valid range in the bounds and in words")
    conventions: list[Convention] = Field(
        default_factory=list,
        description="the libraries whose numbers the loss reproduces (its `convention` "
        "parameter); empty for a loss defined the same way everywhere",
    )
    reductions: list[str]
    default_reduction: str
    differentiable: bool
    wrt: list[str] = Field(
        default_factory=list,
        description="the inputs a /gradient request's `wrt` may name: the differentiable ones "
        "(returned by default) and the float inputs with a gradient on request (e.g. targets); "
        "an input of the `index_or_float` dtype has one only when it holds floats")
    formula: str = Field(description="LaTeX of the unreduced loss")
    gradient: str
    notes: str
    reference: str
    torch_equivalent: str | None
    properties: dict[str, bool]
    examples: list[dict[str, Any]]


class Catalog(BaseModel):
    count: int
    losses: list[LossEntry]


_CATALOG = catalog()


@functools.cache
def _serialized(name: str | None) -> tuple[bytes, str]:
    """The JSON of the catalog (``name`` None) or of one loss (canonical name), validated by its
    model, and its ETag."""
    if name is None:
        model: BaseModel = Catalog.model_validate({"count": len(_CATALOG), "losses": _CATALOG})
    else:
        model = LossEntry.model_validate(describe(get_loss(name)))
    body = model.model_dump_json().encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _cached(request: Request, name: str | None) -> Response:
    body, etag = _serialized(name)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}  # (revalidate: a new version may differ)
    match = request.headers.get("if-none-match", "")
    if etag in match or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/losses", operation_id="list-losses", summary="Every loss the service evaluates",
            response_model=Catalog, responses={304: {"description": "Not modified (ETag)"}})
async def list_losses(request: Request) -> Response:
    return _cached(request, None)


@router.get("/losses/{name}", operation_id="get-loss", summary="One loss, by name or alias",
            response_model=LossEntry,
            responses={304: {"description": "Not modified (ETag)"}, **error_responses(404)})
async def get_one(request: Request, name: str) -> Response:
    try:
        spec = get_loss(name)
    except LossError as exc:
        raise from_loss_error(exc, ["path", "name"]) from None
    return _cached(request, spec.name)
