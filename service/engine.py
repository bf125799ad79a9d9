"""The one entry point the HTTP layer, grading and benchmarks call to evaluate a loss.

It picks the backend (:func:`service.backends.resolve`), places the arrays there (one copy in),
runs the core (:func:`service.losses.evaluate`, the same array-API code on every backend), and
brings the results back as NumPy arrays (one copy out). GPU work runs on the device worker's
thread when one is given, so request threads never use CUDA concurrently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .backends import get_backend, resolve
from .backends.worker import DeviceWorker
from .losses import Evaluation, accel, evaluate

DEFAULT_GPU_MIN_ELEMENTS = 2_000_000  # bench/README.md, "GPU": the measured crossover


@dataclass(frozen=True)
class EngineResult:
    evaluation: Evaluation  # arrays are NumPy arrays, whatever the backend
    backend: str


def _count(inputs: Mapping[str, Any]) -> int:
    return sum(math.prod(np.shape(v)) for v in inputs.values() if v is not None)


def _on_device(backend_name: str, name: str, inputs: Mapping[str, Any], params: Any,
               reduction: str | None, sample_weight: Any, dtype: str,
               want_grad: bool, want_per_sample: bool,
               acceleration: accel.Acceleration | None, validate: str,
               wrt: Sequence[str] | None = None) -> Evaluation:
    backend = get_backend(backend_name)
    host = {k: np.asarray(v) for k, v in inputs.items() if v is not None}
    if sample_weight is not None:
        host["__sample_weight__"] = np.asarray(sample_weight)
    dev = backend.to_device(host)
    sw = dev.pop("__sample_weight__", None)
    ev = evaluate(name, dev, params, reduction=reduction, sample_weight=sw, dtype=dtype,
                  want_grad=want_grad, want_per_sample=want_per_sample,
                  acceleration=acceleration, validate=validate, wrt=wrt)
    results = {"value": ev.value}
    if ev.per_sample is not None:
        results["per_sample"] = ev.per_sample
    results.update({f"grad:{k}": g for k, g in (ev.gradients or {}).items()})
    back = backend.to_host(results)
    grads = {k[5:]: v for k, v in back.items() if k.startswith("grad:")}
    return replace(ev, value=back["value"], per_sample=back.get("per_sample"),
                   gradients=grads if ev.gradients is not None else None,
                   samples=ev.n_samples)


def run(name: str, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None, *,
        reduction: str | None = None, sample_weight: Any = None, dtype: str = "float64",
        want_grad: bool = False, backend: str = "numpy", worker: DeviceWorker | None = None,
        gpu_min_elements: int = DEFAULT_GPU_MIN_ELEMENTS,
        want_per_sample: bool = True,
        acceleration: accel.Acceleration | None = None,
        validate: str = "strict",
        wrt: Sequence[str] | None = None) -> EngineResult:
    """Evaluate loss ``name`` on ``backend`` (``auto``, ``numpy`` or ``cupy``);
    ``want_per_sample=False`` leaves the per-sample breakdown out (``per_sample`` None);
    ``acceleration`` and ``validate`` as :func:`service.losses.evaluate`'s (None: the
    process's; "strict": suspicious inputs are refused, as the grader wants; "lenient": they
    are computed, with the result's ``warnings``); ``wrt``: the inputs whose gradients
    ``want_grad`` returns (None: the differentiable ones).

    Raises :class:`service.backends.BackendUnavailable` when a named backend cannot be used, and
    :class:`service.backends.worker.QueueFull` when the device queue is full.
    """
    chosen = resolve(backend, _count(inputs) if backend == "auto" else 0, gpu_min_elements)
    if chosen == "numpy":
        ev = evaluate(name, inputs, params, reduction=reduction, sample_weight=sample_weight,
                      dtype=dtype, want_grad=want_grad, want_per_sample=want_per_sample,
                      acceleration=acceleration, validate=validate, wrt=wrt)
        return EngineResult(evaluation=ev, backend=chosen)
    args = (chosen, name, inputs, params, reduction, sample_weight, dtype, want_grad,
            want_per_sample, acceleration, validate, wrt)
    ev = worker.run(_on_device, *args) if worker is not None else _on_device(*args)
    return EngineResult(evaluation=ev, backend=chosen)
