"""The backends by name, their availability, and the choice for one request."""

from __future__ import annotations

from typing import Any

from .base import Availability, Backend
from .cupy_backend import CupyBackend
from .numpy_backend import NumpyBackend

BACKEND_CHOICES: tuple[str, ...] = ("auto", "numpy", "cupy")

BACKENDS: dict[str, Backend] = {"numpy": NumpyBackend(), "cupy": CupyBackend()}


class BackendUnavailable(Exception):
    """A backend was asked for by name but cannot be used here (code ``backend_unavailable``)."""

    code = "backend_unavailable"

    def __init__(self, name: str, reason: str):
        super().__init__(f"backend {name!r} is not available: {reason}")
        self.name = name
        self.reason = reason


def get_backend(name: str) -> Backend:
    return BACKENDS[name]


def availability() -> dict[str, dict[str, Any]]:
    """Every backend's availability, with the reason where it is unusable."""
    return {name: b.availability().as_dict() for name, b in BACKENDS.items()}


def _usable(name: str) -> Availability:
    return BACKENDS[name].availability()


def resolve(requested: str, n_elements: int, gpu_min_elements: int) -> str:
    """The backend for one request. ``auto`` uses the GPU only when one is usable and the request
    has at least ``gpu_min_elements`` array elements; asking for an unusable backend by name
    raises BackendUnavailable (never a silent CPU fallback)."""
    if requested == "numpy":  # always usable; every small request comes this way
        return "numpy"
    if requested == "auto":
        if n_elements >= gpu_min_elements and _usable("cupy").available:
            return "cupy"
        return "numpy"
    if requested not in BACKENDS:
        raise BackendUnavailable(requested, f"unknown backend; choose one of "
                                 f"{', '.join(BACKEND_CHOICES)}")
    status = _usable(requested)
    if not status.available:
        raise BackendUnavailable(requested, status.reason or "unavailable")
    return requested
