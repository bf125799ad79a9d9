"""From a parsed ``/compare`` body to a response body: validate, decode, grade or compare.

Shared by the route and ``loss-service grade`` (which grades offline with the same code). Core
errors become problems located in the body: ``("targets", 3)`` -> ``["body", "targets", 3]``,
``("params", "delta")`` -> ``["body", "params", "delta"]``, ``("submission", "gradients", "W")``
-> ``["body", "submission", "gradients", "W"]``; in mode losses, parameters of the i-th loss are
at ``["body", "losses", i, "params", ...]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from ..config import Settings
from ..encoding import (
    NONFINITE,
    EncodingError,
    Splices,
    decode_array,
    encode_array,
    encode_scalar,
)
from ..grading import GradeOptions, LossRequest, Problem, compare_losses, grade, resolve
from ..grading.formats import shape
from ..grading.side_by_side import SideBySideError
from ..losses import LossError
from ..losses.errors import brief
from .compare_schemas import GradeRequest, LossesRequest
from .problems import ProblemError, from_loss_error, from_validation_error

_TEXT = {text: float(key) for key, text in NONFINITE.items()}  # "NaN" -> nan, ...
_PLAIN = frozenset({int, float, bool, type(None)})  # JSON values that _replace_text keeps
Loc = tuple[Any, ...]


def _validate(model: type[BaseModel], obj: Any) -> Any:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


class _Decoder:
    """Decodes request arrays against one element budget, remembering where each came from."""

    def __init__(self, settings: Settings, check_bools: bool):
        self.budget = settings.max_elements
        self.check_bools = check_bools
        self.where: dict[str, Loc] = {}

    def array(self, value: Any, loc: Loc, *, nonfinite_text: bool = False) -> np.ndarray:
        if nonfinite_text:
            value = _replace_text(value)
        try:
            a = decode_array(value, loc, max_elements=max(self.budget, 0),
                             check_bools=self.check_bools)
        except EncodingError as exc:
            raise ProblemError(exc.code, exc.message, exc.loc, status=exc.status) from None
        self.budget -= a.size
        return a

    def inputs(self, req: Any) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for name in ("predictions", "targets"):
            if getattr(req, name) is not None:
                found[name] = self.array(getattr(req, name), ("body", name))
                self.where[name] = ("body", name)
        for name, value in (req.inputs or {}).items():
            if name in found:
                raise ProblemError("duplicate_input", f"{name} is given both at the top level "
                                   "and in inputs; give it once", ("body", "inputs", name))
            found[name] = self.array(value, ("body", "inputs", name))
            self.where[name] = ("body", "inputs", name)
        return found

    def sample_weight(self, req: Any) -> np.ndarray | None:
        if req.sample_weight is None:
            return None
        return self.array(req.sample_weight, ("body", "sample_weight"))


def _replace_text(value: Any) -> Any:
    """Nested lists with "NaN" / "Infinity" / "-Infinity" strings as floats: new lists where
    they hold such strings, the lists sent where they hold none. Iterative: the request controls
    the depth (JSON allows 1024, Python's recursion limit is 1000)."""
    if isinstance(value, str):
        return _TEXT.get(value, value)
    if not isinstance(value, list) or set(map(type, value)) <= _PLAIN:
        return value
    out: list[Any] = []
    stack = [(value, out)]  # (a list holding strings or lists, its copy being filled)
    while stack:
        source, copy = stack.pop()
        for v in source:
            if isinstance(v, str):
                copy.append(_TEXT.get(v, v))
            elif not isinstance(v, list) or set(map(type, v)) <= _PLAIN:  # (at C speed)
                copy.append(v)
            else:
                inner: list[Any] = []
                copy.append(inner)
                stack.append((v, inner))
    return out


def _map_loc(loc: Loc, where: dict[str, Loc], prefix: Loc = ("body",)) -> list[Any]:
    if not loc:
        return [*prefix]
    head, rest = loc[0], loc[1:]
    if head in where:
        return [*where[head], *rest]
    if head == "name":
        return [*prefix, "loss"]
    if head in ("params", "reduction", "dtype"):
        return [*prefix, *loc]
    if head in ("submission", "require", "weights", "sample_weight"):
        return ["body", *loc]
    return ["body", "inputs", *loc]


def _submission(dec: _Decoder, req: GradeRequest) -> dict[str, np.ndarray | None]:
    sub = req.submission
    out: dict[str, np.ndarray | None] = {}
    for name in ("value", "per_sample", "gradient"):
        value = getattr(sub, name)
        if value is not None:
            out[name] = dec.array(value, ("body", "submission", name), nonfinite_text=True)
    for name, value in (sub.gradients or {}).items():
        key = "gradient" if name == "predictions" else f"gradients.{name}"
        if key in out:
            raise ProblemError("duplicate_input", "the gradient with respect to predictions is "
                               "given both as gradient and in gradients; give it once",
                               ("body", "submission", "gradients", name))
        out[key] = dec.array(value, ("body", "submission", "gradients", name),
                             nonfinite_text=True)
    return out


def _encode_result(result: dict[str, Any], splices: Splices | None) -> dict[str, Any]:
    for check in result["checks"]:
        for key in ("max_abs_diff", "max_rel_diff"):  # |s - r| / 0 is infinite
            if check[key] is not None:
                check[key]["value"] = encode_scalar(check[key]["value"])
        for m in check["first_mismatches"]:
            m["submitted"], m["expected"] = encode_scalar(m["submitted"]), \
                encode_scalar(m["expected"])
    if "reference" in result:
        result["reference"] = {k: encode_scalar(v) if np.ndim(v) == 0
                               else encode_array(v, splices=splices)
                               for k, v in result["reference"].items()}
    return result


def grade_body(obj: Any, settings: Settings, *, check_bools: bool = True,
               splices: Splices | None = None) -> dict[str, Any]:
    """The response body of ``POST /compare`` in mode grade (raises ProblemError)."""
    req: GradeRequest = _validate(GradeRequest, obj)
    dec = _Decoder(settings, check_bools)
    inputs, sw = dec.inputs(req), dec.sample_weight(req)
    submission = _submission(dec, req)
    if dec.budget < 0:
        raise ProblemError("too_many_elements", f"the request holds more than "
                           f"{settings.max_elements} array elements", ("body",))
    tolerance = req.tolerance.model_dump(exclude_none=True) if req.tolerance else None
    options = GradeOptions(tolerance=resolve(tolerance, req.dtype), require=req.require,
                           weights=req.weights, include_reference=req.include_reference)
    problem = Problem(req.loss, inputs, req.params, reduction=req.reduction, sample_weight=sw,
                      dtype=req.dtype, backend=settings.backend)
    try:
        result = grade(problem, submission, options)
    except LossError as exc:
        raise from_loss_error(exc, _map_loc(exc.loc, dec.where)) from None
    body = _encode_result(result.as_dict(), splices)
    name = req.name or f"{result.provenance['loss']} ({result.provenance['reduction']})"
    return shape(body, req.format, name=name, max_score=req.max_score, weights=result.weights)


def losses_body(obj: Any, settings: Settings, *, check_bools: bool = True,
                splices: Splices | None = None) -> dict[str, Any]:
    """The response body of ``POST /compare`` in mode losses (raises ProblemError)."""
    req: LossesRequest = _validate(LossesRequest, obj)
    dec = _Decoder(settings, check_bools)
    inputs, sw = dec.inputs(req), dec.sample_weight(req)
    requests = [LossRequest(item.loss, item.params, item.reduction, item.transform, item.label)
                for item in req.losses]
    try:
        out = compare_losses(requests, inputs, sample_weight=sw, dtype=req.dtype, k=req.k,
                             backend=settings.backend)
    except SideBySideError as exc:
        prefix = ("body", "losses", exc.index)
        raise from_loss_error(exc, _map_loc(exc.loc, dec.where, prefix)) from None
    for item in out["losses"]:
        v = item["value"]
        item["value"] = encode_scalar(v) if np.ndim(v) == 0 and item["reduction"] != "none" \
            else encode_array(v, splices=splices)
        item["per_sample"] = encode_array(item["per_sample"], splices=splices)
        for t in item["top_k"]:
            t["value"] = encode_scalar(t["value"])
    rc = out["rank_correlation"]
    rc["matrix"] = [[encode_scalar(v) for v in row] for row in rc["matrix"]]
    for pair in rc["pairs"]:
        pair["spearman"] = encode_scalar(pair["spearman"])
    return out


def compare_body(obj: Any, settings: Settings, *, check_bools: bool = True,
                 splices: Splices | None = None) -> dict[str, Any]:
    """``POST /compare``: mode grade (the default) or losses. With ``splices``, large result
    arrays are held there (see :func:`service.encoding.encode_array`)."""
    if not isinstance(obj, dict):
        raise ProblemError("invalid_field", "the request body must be a JSON object", ("body",))
    mode = obj.get("mode", "grade")
    if mode == "losses":
        return losses_body(obj, settings, check_bools=check_bools, splices=splices)
    if mode != "grade":
        raise ProblemError("invalid_field", f"mode must be 'grade' or 'losses'; got "
                           f"{brief(mode)}", ("body", "mode"))
    return grade_body(obj, settings, check_bools=check_bools, splices=splices)
