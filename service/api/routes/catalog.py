"""``GET /losses`` and ``GET /losses/{name}``: the registry as a catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

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


@router.get("/losses", operation_id="list-losses", summary="Every loss the service evaluates",
            response_model=Catalog)
async def list_losses() -> dict[str, Any]:
    return {"count": len(_CATALOG), "losses": _CATALOG}


@router.get("/losses/{name}", operation_id="get-loss", summary="One loss, by name or alias",
            response_model=LossEntry, responses=error_responses(404))
async def get_one(name: str) -> dict[str, Any]:
    try:
        return describe(get_loss(name))
    except LossError as exc:
        raise from_loss_error(exc, ["path", "name"]) from None
