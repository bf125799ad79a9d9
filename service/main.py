"""The ASGI app, built by :func:`create_app` (an app factory: ``loss-service serve`` runs
``uvicorn --factory service.main:create_app``). No app is built at import, so importing the
service reads no environment; the settings are read when the app is built."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from .api.docs_ui import install_docs
from .api.errors import install_error_handlers
from .api.openapi import build_openapi
from .api.routes import catalog, compare, health, inference_protocol, losses, metrics
from .api.warmup import warm_up
from .backends.worker import DeviceWorker
from .config import Settings, get_settings
from .observability import metrics as prometheus
from .observability.logging import configure_logging
from .observability.middleware import ApiKeyMiddleware, RequestContextMiddleware
from .transport.inflight import BodyBudget, ReleaseBodyBytes

# Response headers a browser page may read (CORS): the request id, a 503's Retry-After, and the
# JSON header's length of a binary response.
EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "Inference-Header-Content-Length"]


class ServiceApp(FastAPI):
    """FastAPI with middleware outside Starlette's ServerErrorMiddleware (which answers an
    unhandled exception's 500 itself), so that what that middleware adds (the request id,
    metrics, CORS headers) is on every response, a 500 included."""

    def __init__(self, *args: Any, outer_middleware: Sequence[Middleware] = (), **kwargs: Any):
        self.outer_middleware = list(outer_middleware)  # outermost first
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.outer_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; ``settings`` default to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        await warm_up(app)
        yield
        app.state.device_worker.shutdown()

    # Outermost first: request id, metrics and log; CORS, so that its headers are on every
    # answer below it (the API keys' 401 and a 500 included); the API keys.
    outer = [Middleware(RequestContextMiddleware, access_log_sample=settings.access_log_sample)]
    if settings.cors_origins:
        outer.append(Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                                allow_methods=["GET", "POST"], allow_headers=["*"],
                                expose_headers=EXPOSED_HEADERS))
    if api_keys := settings.all_api_keys():
        outer.append(Middleware(ApiKeyMiddleware, api_keys=api_keys))
    prometheus.configure()
    app = ServiceApp(title="loss-service", lifespan=lifespan, docs_url=None, redoc_url=None,
                     outer_middleware=outer)
    app.state.settings = settings
    app.state.ready = False
    app.state.device_worker = DeviceWorker(settings.gpu_queue_size, settings.retry_after_s)
    app.state.body_budget = BodyBudget(settings.max_inflight_bytes, settings.retry_after_s)
    for router in (losses.router, catalog.router, health.router, metrics.router, compare.router,
                   inference_protocol.router):  # (last: the native routes match first)
        app.include_router(router)
    install_docs(app)  # /docs and /redoc from the package's own files, no CDN
    install_error_handlers(app)
    app.add_middleware(ReleaseBodyBytes, budget=app.state.body_budget)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app

