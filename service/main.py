"""The ASGI app: ``service.main:app``, built by :func:`create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .api.errors import install_error_handlers
from .api.openapi import build_openapi
from .api.routes import catalog, health, losses
from .api.warmup import warm_up
from .config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; ``settings`` default to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await warm_up(app)
        yield

    app = FastAPI(title="loss-service", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.ready = False
    for router in (losses.router, catalog.router, health.router):
        app.include_router(router)
    install_error_handlers(app)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
