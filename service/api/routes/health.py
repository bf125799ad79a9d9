"""Probes and version: ``/healthz`` (alive), ``/readyz`` (warm-up done), ``/version``."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ... import __version__
from ...backends import availability
from ..problems import ProblemError, error_responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    backends: dict[str, dict[str, Any]] = Field(
        description="each backend's availability here, with the reason when it is unusable")


class Version(BaseModel):
    version: str = Field(description="the service's version (the loss-service package's)")
    service: str = Field(description="the same as `version`, kept for older clients",
                         json_schema_extra={"deprecated": True})
    python: str
    numpy: str
    default_backend: str
    backends: dict[str, dict[str, Any]] = Field(
        description="each backend's availability here, with the reason when it is unusable")


@router.get("/healthz", operation_id="healthz", summary="Liveness: the process answers",
            response_model=Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", response_model=Ready,
            summary="Readiness: the backend has evaluated a warm-up loss",
            responses=error_responses(503))
async def readyz(request: Request) -> dict[str, Any]:
    if not getattr(request.app.state, "ready", False):
        reason = getattr(request.app.state, "not_ready_reason", None) or "warming up"
        raise ProblemError("not_ready", reason, status=503)
    return {"status": "ready", "backends": availability()}


@router.get("/version", operation_id="version", summary="Service and library versions",
            response_model=Version)
async def version(request: Request) -> dict[str, Any]:
    return {"version": __version__, "service": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "default_backend": request.app.state.settings.backend,
            "backends": availability()}
