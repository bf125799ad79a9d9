"""A parsed ``/compare`` body graded (mode grade) or compared (mode losses): its response body.

Shared by the route and ``loss-service grade`` (which grades offline with the same code); the
arrays are read by the one decoder (:mod:`service.transport.request`). Core errors become
problems located in the body: ``("submission", "gradients", "W")`` ->
``["body", "submission", "gradients", "W"]``; in mode losses, parameters of the i-th loss are at
``["body", "losses", i, "params", ...]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Settings
from ..grading import GradeOptions, LossRequest, Problem, compare_losses, grade, resolve
from ..grading.formats import shape
from ..grading.side_by_side import SideBySideError
from ..losses import LossError
from ..losses.errors import brief
from ..transport.json_out import Splices, encode_array, encode_scalar
from ..transport.request import Decoder, map_loc, validate
from .compare_schemas import GradeRequest, LossesRequest
from .problems import ProblemError, from_loss_error


def _submission(dec: Decoder, req: GradeRequest) -> dict[str, np.ndarray | None]:
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
    req: GradeRequest = validate(GradeRequest, obj)
    dec = Decoder(settings.max_elements, check_bools)
    inputs, sw = dec.inputs(req), dec.sample_weight(req)
    submission = _submission(dec, req)
    dec.done()
    tolerance = req.tolerance.model_dump(exclude_none=True) if req.tolerance else None
    options = GradeOptions(tolerance=resolve(tolerance, req.dtype), require=req.require,
                           weights=req.weights, include_reference=req.include_reference)
    problem = Problem(req.loss, inputs, req.params, reduction=req.reduction, sample_weight=sw,
                      dtype=req.dtype, backend=settings.backend)
    try:
        result = grade(problem, submission, options)
    except LossError as exc:
        raise from_loss_error(exc, map_loc(exc.loc, dec.where, name=("body", "loss"))) from None
    body = _encode_result(result.as_dict(), splices)
    name = req.name or f"{result.provenance['loss']} ({result.provenance['reduction']})"
    return shape(body, req.format, name=name, max_score=req.max_score, weights=result.weights)


def losses_body(obj: Any, settings: Settings, *, check_bools: bool = True,
                splices: Splices | None = None) -> dict[str, Any]:
    """The response body of ``POST /compare`` in mode losses (raises ProblemError)."""
    req: LossesRequest = validate(LossesRequest, obj)
    dec = Decoder(settings.max_elements, check_bools)
    inputs, sw = dec.inputs(req), dec.sample_weight(req)
    requests = [LossRequest(item.loss, item.params, item.reduction, item.transform, item.label)
                for item in req.losses]
    try:
        out = compare_losses(requests, inputs, sample_weight=sw, dtype=req.dtype, k=req.k,
                             backend=settings.backend)
    except SideBySideError as exc:
        prefix = ("body", "losses", exc.index)
        loc = map_loc(exc.loc, dec.where, prefix=prefix, name=(*prefix, "loss"))
        raise from_loss_error(exc, loc) from None
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
    arrays are held there (see :func:`service.transport.json_out.encode_array`)."""
    if not isinstance(obj, dict):
        raise ProblemError("invalid_field", "the request body must be a JSON object", ("body",))
    mode = obj.get("mode", "grade")
    if mode == "losses":
        return losses_body(obj, settings, check_bools=check_bools, splices=splices)
    if mode != "grade":
        raise ProblemError("invalid_field", f"mode must be 'grade' or 'losses'; got "
                           f"{brief(mode)}", ("body", "mode"))
    return grade_body(obj, settings, check_bools=check_bools, splices=splices)
