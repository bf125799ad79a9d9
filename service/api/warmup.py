"""Warm-up before readiness: set the process's acceleration from the settings and compile the
kernels (numba, when installed and enabled), then evaluate every loss's first example once
(imports, code paths)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .. import engine
from ..backends import BackendUnavailable, availability
from ..backends.worker import DeviceWorker
from ..losses import LOSSES, accel

log = logging.getLogger("service.warmup")


def _run_examples(backend: str, fused: bool = True, kernel_threads: int = 1,
                  worker: DeviceWorker | None = None) -> None:
    """The fused kernels' compilation (``fused``: LOSS_SERVICE_FUSED; ``kernel_threads``:
    LOSS_SERVICE_KERNEL_THREADS), then every loss's first example on each backend the
    configured one can use (GPU examples on ``worker``'s device thread, as requests run)."""
    accel.configure(kernels=fused, threads=kernel_threads)
    seconds = accel.warm_up()  # the examples are too small for the kernels: compile here
    if accel.active():
        log.info("fused kernels ready in %.2f s", seconds)
    if backend == "cupy" and not availability()["cupy"]["available"]:
        raise BackendUnavailable("cupy", availability()["cupy"]["reason"])
    names = ["numpy"] + (["cupy"] if backend in ("cupy", "auto")
                         and availability()["cupy"]["available"] else [])
    for name in names:
        for spec in LOSSES.values():
            ex = spec.examples[0]
            engine.run(spec.name, ex.inputs, ex.params, reduction=ex.reduction,
                       want_grad=spec.differentiable, backend=name, worker=worker)


async def warm_up(app: FastAPI) -> None:
    """Mark the app ready once the configured backend has evaluated the examples; if that fails,
    stay unready and keep the reason for /readyz."""
    try:
        settings = app.state.settings
        await run_in_threadpool(_run_examples, settings.backend, settings.fused,
                                settings.kernel_threads, app.state.device_worker)
    except Exception as exc:  # any failure means "not ready", with the reason reported
        log.exception("warm-up failed")
        app.state.not_ready_reason = f"warm-up failed: {type(exc).__name__}: {exc}"
        return
    app.state.ready = True
