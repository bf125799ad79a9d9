"""Where arrays live: ``numpy`` (default, always available) and ``cupy`` (a CUDA GPU).

The loss core is one array-API code path; a backend only places inputs on its device and brings
results back. :func:`resolve` picks the backend for one request (``auto`` sends large requests to
the GPU when one is usable), and :func:`availability` says honestly which backends can be used here
and why not. It imports nothing else of the service (the engine imports it;
tests/ops/test_layout.py checks it).
"""

from __future__ import annotations

from .registry import (
    BACKEND_CHOICES,
    BackendUnavailable,
    availability,
    get_backend,
    resolve,
)

__all__ = ["BACKEND_CHOICES", "BackendUnavailable", "availability", "get_backend", "resolve"]
