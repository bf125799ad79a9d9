"""The ASGI app: ``service.main:app``, built by :func:`create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .api.errors import install_error_handlers
from .api.openapi import build_openapi
from .api.routes import catalog, compare, health, inference_protocol, losses, metrics
from .api.warmup import warm_up
from .backends.worker import DeviceWorker
from .config import Settings, get_settings
from .observability.logging import configure_logging
from .observability.middleware import RequestContextMiddleware
from .transport.inflight import BodyBudget, ReleaseBodyBytes


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; ``settings`` default to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        await warm_up(app)
        yield
        app.state.device_worker.shutdown()

    app = FastAPI(title="loss-service", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.ready = False
    app.state.device_worker = DeviceWorker(settings.gpu_queue_size, settings.retry_after_s)
    app.state.body_budget = BodyBudget(settings.max_inflight_bytes, settings.retry_after_s)
    for router in (losses.router, catalog.router, health.router, metrics.router, compare.router,
                   inference_protocol.router):  # (last: the native routes match first)
        app.include_router(router)
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["*"],
                           expose_headers=["X-Request-ID"])
    app.add_middleware(ReleaseBodyBytes, budget=app.state.body_budget)
    app.add_middleware(RequestContextMiddleware, api_keys=settings.all_api_keys())
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
