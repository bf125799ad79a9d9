"""Open Inference Protocol (KServe V2 / Triton HTTP) requests and results, translated.

Every loss is an OIP "model" (:mod:`service.api.routes.inference_protocol`). This module exists
so that such a model needs no second implementation of anything: an ``infer`` request is
translated into the service's own request document (``inputs`` by name, ``sample_weight``,
``params``, ``reduction``...), which the one decoder (:func:`service.transport.request.
decode_document`) validates and decodes exactly as for ``/gradient``; the core's result is
translated back into OIP output tensors (``value``, ``per_sample``, ``gradient_<input>``), as
JSON ``data`` or, with the binary tensor extension, as bytes after the JSON header (the
:class:`service.transport.json_out.Splices` of the native binary responses). It also says what
a model's metadata is, and names the input an error is about (the protocol's errors are a bare
message).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..api.inference_schemas import DATATYPES, InferRequest
from ..api.problems import ProblemError
from ..api.schemas import REQUEST_MODELS
from ..casting import CastError, cast
from ..losses import Evaluation, LossSpec
from ..tuning import gc_paused
from . import json_in
from .arrays import wire_bytes
from .json_out import Piece, Splices, encode_array, serialize
from .request import GC_PAUSE_BYTES, LossCall, Received, attach_binary, decode_document, validate

VERSION = "1"  # each model has one version
PLATFORM = "loss-service"
TO_DATATYPE = {dtype: name for name, dtype in DATATYPES.items()}
# request fields, not the loss's params
NATIVE_PARAMETERS = ("reduction", "dtype", "backend", "validate")
# Triton's request parameters: binary_data_output is honoured, the others mean nothing here
TRITON_PARAMETERS = frozenset({"binary_data_output", "sequence_id", "sequence_start",
                               "sequence_end", "priority", "timeout"})
GRADIENT = "gradient_"


def input_names(spec: LossSpec) -> list[str]:
    return [*(i.name for i in spec.inputs), "sample_weight"]


def output_names(spec: LossSpec) -> list[str]:
    grads = [GRADIENT + i.name for i in spec.inputs if i.differentiable] \
        if spec.differentiable else []
    return ["value", "per_sample", *grads]


_DIMS = re.compile(r"\(([^()]*)\)")


def _shape(text: str, known: dict[str, list[int]]) -> list[int]:
    """A metadata shape from a registry's shape text: the alternative of most dimensions
    (``(C,) or (N, C)`` -> ``[-1, -1]``); ``[-1]`` where the rank varies (``(*)``, ``(..., C)``);
    an input's shape for ``same shape as <input>``."""
    if text.startswith("same shape as "):
        return known.get(text.removeprefix("same shape as ").split()[0], [-1])
    ranks = []
    for group in _DIMS.findall(text):
        dims = [d for d in (p.strip() for p in group.split(",")) if d]
        if any("*" in d or "..." in d for d in dims):
            return [-1]
        ranks.append(len(dims))
    return [-1] * max(ranks) if ranks else [-1]


def model_metadata(spec: LossSpec) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the inputs (datatype of the usual form: FP64, INT64 for class
    indices) and the outputs. Shapes are the batched ones; ``GET /losses/{name}`` says more."""
    known: dict[str, list[int]] = {}
    inputs = []
    for i in spec.inputs:
        known[i.name] = _shape(i.shape, known)
        inputs.append({"name": i.name, "datatype": "FP64" if i.dtype == "float" else "INT64",
                       "shape": known[i.name]})
    inputs.append({"name": "sample_weight", "datatype": "FP64", "shape": [-1]})
    outputs = [{"name": "value", "datatype": "FP64", "shape": [-1]},
               {"name": "per_sample", "datatype": "FP64", "shape": [-1]}]
    outputs += [{"name": name, "datatype": "FP64", "shape": known[name.removeprefix(GRADIENT)]}
                for name in output_names(spec)[2:]]
    return {"name": spec.name, "versions": [VERSION], "platform": PLATFORM, "inputs": inputs,
            "outputs": outputs}


@dataclass
class Requested:
    """What an infer request wants back: output name -> binary, and the request's id."""

    outputs: dict[str, bool]
    id: str | None


def named(exc: ProblemError, names: list[Any]) -> ProblemError:
    """``exc`` with a message that names what it is about (``input 'targets' data: ...``), the
    protocol's errors being a bare message; ``names``: the request's input names in order."""
    if not exc.errors:
        return exc
    loc, msg = exc.errors[0]["loc"], exc.errors[0]["msg"]
    head, rest = loc[1:2], loc[2:]
    what = ""
    if loc[:1] == ["body"] and head in (["inputs"], ["outputs"]) and rest:
        key, rest = rest[0], rest[1:]
        if isinstance(key, int):
            key = names[key] if head == ["inputs"] and key < len(names) else f"#{key}"
        what = f"{head[0][:-1]} {key!r}"
    elif loc[:2] == ["body", "sample_weight"]:
        what = "input 'sample_weight'"
    elif loc[:2] == ["body", "params"] and rest:  # a loss's parameter
        what, rest = f"parameter {rest[0]!r}", rest[1:]
    elif loc[:1] == ["body"] and head and head[0] in NATIVE_PARAMETERS:
        what = f"parameter {head[0]!r}"
    if what and rest:
        what += " " + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest
                              ).lstrip(".")
    exc.detail = f"{what}: {msg}" if what else exc.detail
    return exc


def _names(obj: Any) -> list[Any]:
    inputs = obj.get("inputs") if isinstance(obj, dict) else None
    return [i.get("name") if isinstance(i, dict) else None
            for i in inputs] if isinstance(inputs, list) else []


def _nested(data: Any) -> bool:
    """Whether ``data`` is given in its nested form (the protocol allows either): a list of
    lists, or a 2-D or deeper array the body parser read in place."""
    if isinstance(data, np.ndarray):
        return data.ndim > 1
    return isinstance(data, list) and bool(data) and isinstance(data[0], list)


def _as_declared(a: np.ndarray, shape: tuple[int, ...], dtype: str, loc: tuple[Any, ...]
                 ) -> np.ndarray:
    """An input sent as nested ``data`` (decoded as a nested list, as the native API decodes
    one): refused unless it has the declared shape, then cast to the declared datatype (every
    value kept, or refused at its index)."""
    if a.shape != shape:
        raise ProblemError("invalid_tensor", f"data is nested as shape {list(a.shape)}; the "
                           f"tensor's shape is {list(shape)}", loc)
    try:
        return cast(a, np.dtype(dtype))
    except CastError as exc:
        at = f" at index {list(exc.index)}" if exc.index else ""
        raise ProblemError(exc.code, f"data contains {exc.what}{at}", (*loc, *exc.index)
                           ) from None


def _native(req: InferRequest, spec: LossSpec
            ) -> tuple[dict[str, Any], list[Any], list[tuple[str, tuple[int, ...], str]]]:
    """The service's request document for ``req``; its tensor objects in the order the
    request names them (where binary ones take their bytes); and (name, shape, dtype) of the
    inputs sent as nested data (the document has them as nested lists)."""
    allowed = input_names(spec)
    inputs: dict[str, Any] = {}
    tensors: list[Any] = []
    nested: list[tuple[str, tuple[int, ...], str]] = []
    native: dict[str, Any] = {"inputs": inputs}
    for t in req.inputs:
        loc = ("body", "inputs", t.name)
        if t.name not in allowed:
            raise ProblemError("unknown_input", f"model {spec.name} has no such input; its "
                               f"inputs are {', '.join(allowed)}", loc)
        if t.name in inputs or (t.name == "sample_weight" and "sample_weight" in native):
            raise ProblemError("duplicate_input", "the input is given twice", loc)
        size = t.parameters.binary_data_size if t.parameters else None
        if (size is None) == (t.data is None):
            raise ProblemError("invalid_tensor", "give the tensor's data, or its "
                               "binary_data_size (not both)", loc)
        tensor: Any = {"shape": t.shape, "dtype": DATATYPES[t.datatype],
                       **({"data": t.data} if size is None else {"binary_data_size": size})}
        if size is None and _nested(t.data):
            tensor = t.data
            nested.append((t.name, tuple(t.shape), DATATYPES[t.datatype]))
        tensors.append((tensor, (*loc, "binary_data_size")))
        (native if t.name == "sample_weight" else inputs)[t.name] = tensor
    parameters = req.parameters or {}
    native.update({k: parameters[k] for k in NATIVE_PARAMETERS if k in parameters})
    native["params"] = {k: v for k, v in parameters.items()
                        if k not in NATIVE_PARAMETERS and k not in TRITON_PARAMETERS}
    return native, tensors, nested


def _requested(req: InferRequest, spec: LossSpec) -> Requested:
    binary = (req.parameters or {}).get("binary_data_output") is True
    names = output_names(spec)
    if req.outputs is None:
        return Requested(dict.fromkeys(names, binary), req.id)
    wanted: dict[str, bool] = {}
    for out in req.outputs:
        if out.name not in names:
            raise ProblemError("invalid_field", f"model {spec.name} has no such output; its "
                               f"outputs are {', '.join(names)}", ("body", "outputs", out.name))
        wanted[out.name] = out.parameters.binary_data if out.parameters else False
    return Requested(wanted, req.id)


def decode_infer(body: Received, spec: LossSpec, max_elements: int,
                 stats: dict[str, Any]) -> tuple[LossCall, Requested]:
    """An ``infer`` request's body (taken out of ``body``; binary where it came with
    ``Inference-Header-Content-Length``) as the call ``/gradient`` would make, and what to
    answer with."""
    raw = body.take()
    end = len(raw) if body.header_length is None else body.header_length
    obj = None
    try:
        with gc_paused(body.size >= GC_PAUSE_BYTES):
            obj = json_in.parse_json(bytes(raw[:end]) if end < len(raw) else raw, max_elements)
            req = validate(InferRequest, obj)
            native, tensors, nested = _native(req, spec)
            requested = _requested(req, spec)
            if body.header_length is not None:
                attach_binary(tensors, memoryview(raw).toreadonly()[end:])
            want_grad = any(name.startswith(GRADIENT) for name in requested.outputs)
            if "per_sample" not in requested.outputs:
                native["omit"] = ["per_sample"]
            text = raw if body.header_length is None else raw[:end]  # (no copy of a body)
            check_bools = json_in.may_hide_booleans(text, native)
            call = decode_document(native, check_bools, spec, REQUEST_MODELS[spec.name],
                                   want_grad, max_elements, stats, body.size, "json")
            for name, shape, dtype in nested:
                loc = ("body", "inputs", name, "data")
                if name == "sample_weight":
                    call.sample_weight = _as_declared(call.sample_weight, shape, dtype, loc)
                else:
                    call.arrays[name] = _as_declared(call.arrays[name], shape, dtype, loc)
            del req, native, tensors, text
    except ProblemError as exc:
        raise named(exc, _names(obj)) from None
    return call, requested


def _tensor(name: str, a: np.ndarray, binary: bool, splices: Splices) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "shape": list(a.shape),
                           "datatype": TO_DATATYPE[a.dtype.name]}
    if binary:
        out["parameters"] = {"binary_data_size": splices.hold_bytes(memoryview(wire_bytes(a)))}
    else:
        out["data"] = encode_array(a.reshape(-1), "json", splices=splices)
    return out


def encode_outputs(ev: Evaluation, requested: Requested, backend: str,
                   ) -> tuple[int | None, list[Piece]]:
    """``(header length or None, parts)`` of the response to ``requested`` (see
    :func:`service.transport.json_out.serialize`): binary where any output is binary. A reduced
    value is a tensor of shape ``[1]``."""
    splices = Splices()
    arrays = {"value": np.asarray(ev.value), "per_sample": ev.per_sample,
              **{GRADIENT + k: g for k, g in (ev.gradients or {}).items()}}
    outputs = []
    for name, binary in requested.outputs.items():
        a = arrays.get(name)
        if a is None:  # a gradient for an optional input that was not sent
            raise ProblemError("invalid_field", f"there is no {name}: its input was not "
                               "given", ("body", "outputs", name))
        a = np.asarray(a)
        outputs.append(_tensor(name, a.reshape(1) if a.ndim == 0 else a, binary, splices))
    body: dict[str, Any] = {
        "model_name": ev.loss, "model_version": VERSION,
        **({} if requested.id is None else {"id": requested.id}),
        "parameters": {"reduction": ev.reduction, "dtype": ev.dtype, "backend": backend,
                       "n_samples": ev.n_samples,
                       # the protocol's parameters are scalars: the list as a JSON string, each
                       # loc as the core reports it (the input's name first)
                       **({} if not ev.warnings else {"warnings": json.dumps(
                           [{"code": w.code, "loc": list(w.loc), "detail": w.detail}
                            for w in ev.warnings])})},
        "outputs": outputs,
    }
    return serialize(body, splices, binary=any(requested.outputs.values()))
