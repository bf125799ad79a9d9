"""All configuration, in one settings object read from the environment (``LOSS_SERVICE_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings; each field is set by ``LOSS_SERVICE_<NAME>`` (e.g. LOSS_SERVICE_PORT)."""

    model_config = SettingsConfigDict(env_prefix="LOSS_SERVICE_", extra="ignore")

    host: str = Field("127.0.0.1", description="interface to bind")
    port: int = Field(8000, ge=0, le=65535, description="TCP port")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    backend: Literal["auto", "numpy", "cupy"] = Field(
        "numpy", description="default array backend: numpy; cupy (a CUDA GPU); or auto, which "
        "sends requests of at least gpu_min_elements elements to the GPU when one is usable",
    )
    gpu_min_elements: int = Field(
        2_000_000, ge=0, description="auto's crossover: requests with fewer elements stay on "
        "NumPy (measured by bench/gpu.py on an H200: the GPU wins from 2e6 elements)",
    )
    gpu_queue_size: int = Field(
        8, ge=1, description="GPU requests running or waiting at once; beyond, 503 + Retry-After"
    )
    retry_after_s: int = Field(
        1, ge=0, description="Retry-After of a 503: GPU queue full, time budget spent, body "
        "budget full, memory short",
    )
    max_body_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="largest request body accepted (413 beyond)"
    )
    max_inflight_bytes: int = Field(
        1 << 30, ge=0, description="request-body bytes all requests of one worker process may "
        "hold at once, counted as they arrive and released when each request ends; a body that "
        "would take the total past it gets 503 `server_busy` with Retry-After. At least "
        "max_body_bytes; 0 disables the bound",
    )
    max_elements: int = Field(
        50_000_000, ge=1, description="most array elements in one request, all inputs together"
    )
    inline_max_bytes: int = Field(
        65_536, ge=0,
        description="bodies up to this size are computed on the event loop; larger ones in a "
        "worker thread so the loop never blocks",
    )
    malloc_tuning: bool = Field(
        True, description="glibc malloc settings that keep large freed arrays for reuse instead "
        "of page-faulting fresh memory on every request (see service/tuning.py)",
    )
    fused: bool = Field(
        True, description="evaluate large NumPy requests of mse, l1, huber, smooth_l1, "
        "binary_cross_entropy_with_logits, sigmoid_focal, cross_entropy (index targets), "
        "multi_margin and triplet_margin with fused kernels (one pass over the data) when numba "
        "is installed (the `fast` extra); compiled during warm-up",
    )
    kernel_threads: int = Field(
        1, ge=1, le=64, description="threads one fused evaluation of at least 262,144 elements "
        "may use (results are identical for any value); 1 suits a busy server with one worker "
        "per core, the core count suits few large requests",
    )
    b64_threshold: int = Field(
        4096, ge=0, description="the Python client sends arrays with more elements as b64"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="log level"
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object per line (one line per request); text: plain"
    )
    access_log_sample: float = Field(
        1.0, ge=0.0, le=1.0, description="fraction of successful requests that get an access "
        "log line (1: every request; every error response gets one); lower it when thousands "
        "of small requests a second make the log itself a cost",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated API keys; when any is set, every route except /healthz, "
        "/readyz and /metrics needs `Authorization: Bearer <key>` or `X-API-Key: <key>`",
    )
    api_keys_file: Path | None = Field(
        None, description="file with one API key per line (e.g. a mounted secret), added to "
        "api_keys",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated origins allowed by CORS; empty (the default) means CORS "
        "is closed",
    )
    request_timeout_s: float = Field(
        30.0, ge=0, description="time budget of one request, from its arrival: a body that has "
        "not arrived by then gets 408, a computation still running gets 503 `request_timeout` "
        "(with Retry-After); 0 disables the bound",
    )
    max_header_bytes: int = Field(
        65_536, ge=1024, description="longest request line and headers together (and, in a "
        "chunked body, chunk size line and trailer fields); longer gets 431 `headers_too_large` "
        "as soon as that many bytes have arrived",
    )
    header_timeout_s: float = Field(
        20.0, ge=0, description="time a request's line and headers may take to arrive, from "
        "their first byte (or the connection's start); a slower head gets 408 "
        "`request_timeout`, a connection that sent nothing is closed; 0 disables the bound",
    )
    graceful_timeout_s: float = Field(
        30.0, ge=0, description="on SIGTERM, how long in-flight requests may take to finish"
    )
    validation: Literal["lenient", "strict"] = Field(
        "lenient", description="default of a /loss or /gradient request's `validate`: lenient "
        "computes the library's number on suspicious inputs (negative class weights, probability "
        "rows that do not sum to 1, labels off {-1, 1}...) and lists them in `warnings`; strict "
        "refuses them (422), as the grader always does",
    )
    metrics_dir: Path | None = Field(
        None, description="directory for Prometheus multiprocess metrics (set automatically "
        "when workers > 1; PROMETHEUS_MULTIPROC_DIR also works)",
    )

    @model_validator(mode="after")
    def _inflight_holds_a_body(self) -> Settings:
        if 0 < self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError(f"max_inflight_bytes ({self.max_inflight_bytes}) must be at least "
                             f"max_body_bytes ({self.max_body_bytes}) (or 0: unbounded), or "
                             "the largest bodies accepted could never be read")
        return self

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, v: object) -> object:
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    def all_api_keys(self) -> list[str]:
        """api_keys plus the keys in api_keys_file (blank lines and # comments skipped)."""
        keys = list(self.api_keys)
        if self.api_keys_file is not None:
            for line in self.api_keys_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    keys.append(line)
        return keys


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
