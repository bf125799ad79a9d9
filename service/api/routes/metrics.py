"""``GET /metrics``: Prometheus exposition, aggregated over worker processes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ...observability.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
async def metrics() -> Response:
    payload, content_type = render()
    return Response(payload, media_type=content_type)
