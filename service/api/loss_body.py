"""A decoded ``/loss`` or ``/gradient`` request computed, and its response body.

The request comes decoded (:func:`service.transport.decode.decode_loss`); here the engine runs
it, its errors become problems located in the body, and the result is encoded in the request's
encoding (:mod:`service.transport.json_out`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import deadline, engine
from ..backends import BackendUnavailable
from ..backends.worker import DeviceWorker, QueueFull
from ..config import Settings
from ..losses import LossError
from ..transport.decode import LossCall
from ..transport.json_out import Piece, Splices, encode_array, encode_scalar, jsonable, serialize
from .problems import ProblemError, from_loss_error


def on_event_loop(call: LossCall, settings: Settings) -> bool:
    """Whether ``call`` is computed on the event loop (no threadpool hop): a small body computed
    by NumPy. A large one, or one that may go to the GPU (whose device worker must never be
    waited on from the loop), is computed in a worker thread."""
    backend = call.backend or settings.backend
    numpy = backend == "numpy" or (backend == "auto"
                                   and call.n_elements < settings.gpu_min_elements)
    return numpy and call.body_bytes <= settings.inline_max_bytes


def loss_body(call: LossCall, settings: Settings, stats: dict[str, Any],
              worker: DeviceWorker | None = None,
              splices: Splices | None = None) -> dict[str, Any]:
    """The response body of ``call`` (raises ProblemError), for orjson; its arrays are
    released before the result is encoded. ``stats`` receives ``backend``. With ``splices``,
    b64 and binary result arrays are held there (see :class:`Splices`); binary needs them."""
    enc = call.encoding
    deadline.check("parsing the body")
    try:
        result = engine.run(call.spec.name, call.arrays, call.params, reduction=call.reduction,
                            sample_weight=call.sample_weight, dtype=call.dtype,
                            want_grad=call.want_grad, backend=call.backend or settings.backend,
                            worker=worker, gpu_min_elements=settings.gpu_min_elements,
                            want_per_sample="per_sample" not in call.omit)
    except LossError as exc:
        raise from_loss_error(exc, call.locate(exc.loc)) from None
    except BackendUnavailable as exc:
        raise ProblemError(exc.code, str(exc), ["body", "backend"] if call.backend
                           else ["config", "backend"]) from None
    except QueueFull as exc:
        raise ProblemError(exc.code, str(exc), status=503,
                           headers={"Retry-After": str(exc.retry_after)}) from None
    stats["backend"] = result.backend
    deadline.check("computing the loss")
    call.arrays.clear()  # the inputs are no longer needed: free them before encoding
    call.sample_weight = None
    ev = result.evaluation
    value = np.asarray(ev.value)
    body: dict[str, Any] = {
        "loss": ev.loss,
        "value": encode_scalar(value) if value.ndim == 0 and ev.reduction != "none"
        else encode_array(value, enc, splices=splices),
        "reduction": ev.reduction,
        **({} if ev.per_sample is None
           else {"per_sample": encode_array(ev.per_sample, enc, splices=splices)}),
        "n_samples": ev.n_samples,
        "params": jsonable(ev.params),
        "dtype": ev.dtype,
        "backend": result.backend,
    }
    if call.want_grad:
        grads = ev.gradients or {}
        body["gradients"] = {k: encode_array(g, enc, splices=splices) for k, g in grads.items()}
        if "gradient" not in call.omit:
            body["gradient"] = body["gradients"].get("predictions")
    return body


def loss_response(call: LossCall, settings: Settings, stats: dict[str, Any],
                  worker: DeviceWorker | None = None) -> tuple[int | None, list[Piece]]:
    """``(header length, parts)`` of the response (see :func:`serialize`); b64 and binary
    results spliced into the serialized document, not copied into it."""
    splices = Splices()
    body = loss_body(call, settings, stats, worker, splices)
    return serialize(body, splices, binary=call.encoding == "binary")
