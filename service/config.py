"""All configuration, in one settings object read from the environment (``LOSS_SERVICE_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings; each field is set by ``LOSS_SERVICE_<NAME>`` (e.g. LOSS_SERVICE_PORT)."""

    model_config = SettingsConfigDict(env_prefix="LOSS_SERVICE_", extra="ignore")

    host: str = Field("127.0.0.1", description="interface to bind")
    port: int = Field(8000, ge=0, le=65535, description="TCP port")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    backend: Literal["numpy"] = Field("numpy", description="array backend for the loss core")
    max_body_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="largest request body accepted (413 beyond)"
    )
    max_elements: int = Field(
        50_000_000, ge=1, description="most array elements in one request, all inputs together"
    )
    inline_max_bytes: int = Field(
        65_536, ge=0,
        description="bodies up to this size are computed on the event loop; larger ones in a "
        "worker thread so the loop never blocks",
    )
    b64_threshold: int = Field(
        4096, ge=0, description="the Python client sends arrays with more elements as b64"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="log level"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
