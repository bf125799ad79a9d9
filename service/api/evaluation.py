"""From a parsed request body to a response body: validate, decode arrays, evaluate, encode.

Locations: the core reports ``("targets", 3)`` or ``("params", "delta")``; here they become
``["body", "targets", 3]`` (or ``["body", "inputs", "var", 0]`` when the input was sent inside
``inputs``), so every problem points at the JSON that caused it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from .. import deadline, engine
from ..backends import BackendUnavailable
from ..backends.worker import DeviceWorker, QueueFull
from ..config import Settings
from ..encoding import EncodingError, Splices, decode_array, encode_array, encode_scalar
from ..losses import LossError, LossSpec
from .problems import ProblemError, from_loss_error, from_validation_error
from .schemas import COMMON_INPUTS


def _validate(model: type[BaseModel], obj: Any) -> BaseModel:
    if not isinstance(obj, dict):
        raise ProblemError("invalid_field", "the request body must be a JSON object", ("body",))
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _collect_inputs(spec: LossSpec, req: BaseModel) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """input name -> (raw value, body location), from the top level and from ``inputs``."""
    found: dict[str, tuple[Any, tuple[Any, ...]]] = {}
    for name in COMMON_INPUTS:
        value = getattr(req, name, None)
        if value is not None:
            found[name] = (value, ("body", name))
    inputs = req.inputs
    nested = {} if inputs is None else {  # the values as sent: model_dump would copy the lists
        k: getattr(inputs, k) for k in type(inputs).model_fields if getattr(inputs, k) is not None}
    for name, value in nested.items():
        if name in found:
            raise ProblemError("duplicate_input", f"{name} is given both at the top level and "
                               "in inputs; give it once", ("body", "inputs", name))
        found[name] = (value, ("body", "inputs", name))
    return found


def _map_loc(loc: tuple[Any, ...], where: dict[str, tuple[Any, ...]]) -> list[Any]:
    if not loc:
        return ["body"]
    head, rest = loc[0], loc[1:]
    if head in where:
        return [*where[head], *rest]
    if head == "name":
        return ["path", "name"]
    if head in COMMON_INPUTS:
        return ["body", head, *rest]
    if head in ("params", "reduction", "sample_weight", "dtype"):
        return ["body", *loc]
    return ["body", "inputs", *loc]


def evaluate_body(spec: LossSpec, model: type[BaseModel], obj: Any, *, want_grad: bool,
                  settings: Settings, check_bools: bool = True,
                  stats: dict[str, Any] | None = None,
                  worker: DeviceWorker | None = None,
                  splices: Splices | None = None,
                  default_encoding: str = "json") -> dict[str, Any]:
    """The response body for one /loss or /gradient request (raises ProblemError), for orjson.

    ``obj`` (the parsed JSON) is consumed: once its arrays are decoded, its values are dropped, so
    the parsed lists or base64 text are freed before the loss is computed. ``stats``, when given,
    receives ``n_elements`` (array elements decoded) for logs and metrics, and ``encoding``,
    that of the result arrays (the request's, else ``default_encoding``: ``binary`` for an
    ``application/octet-stream`` request). With ``splices``, b64 result strings and binary
    results are held there (see :class:`service.encoding.Splices`); the binary encoding needs
    them.
    """
    stats = {} if stats is None else stats
    req = _validate(model, obj)
    raw = _collect_inputs(spec, req)
    budget = settings.max_elements
    arrays: dict[str, np.ndarray] = {}
    where: dict[str, tuple[Any, ...]] = {}
    value: Any = None
    try:
        for name, (value, loc) in raw.items():
            arrays[name] = decode_array(value, loc, max_elements=budget, check_bools=check_bools)
            budget -= arrays[name].size
            stats["n_elements"] = settings.max_elements - budget
            where[name] = loc
        sw = None
        if req.sample_weight is not None:
            sw = decode_array(req.sample_weight, ("body", "sample_weight"),
                              max_elements=max(budget, 0), check_bools=check_bools)
            where["sample_weight"] = ("body", "sample_weight")
    except EncodingError as exc:
        raise ProblemError(exc.code, exc.message, exc.loc, status=exc.status) from None
    if budget < 0:
        raise ProblemError("too_many_elements", f"the request holds more than "
                           f"{settings.max_elements} array elements", ("body",))
    params = req.params.model_dump()
    reduction, dtype, backend = req.reduction, req.dtype, req.backend
    enc = req.encoding if "encoding" in req.model_fields_set else default_encoding
    stats["encoding"] = enc
    omit = set(req.omit)
    del req, raw, value  # with obj cleared, nothing refers to the parsed arrays any more
    if isinstance(obj, dict):
        obj.clear()
    requested = backend or settings.backend
    deadline.check("parsing the body")
    try:
        result = engine.run(spec.name, arrays, params, reduction=reduction,
                            sample_weight=sw, dtype=dtype, want_grad=want_grad,
                            backend=requested, worker=worker,
                            gpu_min_elements=settings.gpu_min_elements,
                            want_per_sample="per_sample" not in omit)
    except LossError as exc:
        raise from_loss_error(exc, _map_loc(exc.loc, where)) from None
    except BackendUnavailable as exc:
        loc = ["body", "backend"] if backend else ["config", "backend"]
        raise ProblemError(exc.code, str(exc), loc) from None
    except QueueFull as exc:
        raise ProblemError(exc.code, str(exc), status=503,
                           headers={"Retry-After": str(exc.retry_after)}) from None
    stats["backend"] = result.backend
    deadline.check("computing the loss")
    arrays.clear()  # the inputs are no longer needed: free them before encoding
    sw = None
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
        "params": _jsonable(ev.params),
        "dtype": ev.dtype,
        "backend": result.backend,
    }
    if want_grad:
        grads = ev.gradients or {}
        body["gradients"] = {k: encode_array(g, enc, splices=splices) for k, g in grads.items()}
        if "gradient" not in omit:
            body["gradient"] = body["gradients"].get("predictions")
    return body


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = encode_scalar(v)
        else:
            out[k] = v
    return out
