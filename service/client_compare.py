"""Request bodies and results of ``/compare`` for the clients in :mod:`service.client`.

Submitted arrays travel like inputs (nested lists, or b64 tensors past the client's threshold);
non-finite values become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` in nested lists
(JSON has no NaN) and stay IEEE values in b64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .casting import cast
from .transport.json_out import encode_array, encode_scalar, wire_to_array

_COMMON = ("predictions", "targets")


def _array(value: Any, threshold: int, *, submitted: bool = False) -> Any:
    if isinstance(value, dict):  # already a tensor object
        return value
    a = np.asarray(value)
    if a.dtype.kind not in "iuf":
        return value  # let the server report what is wrong with it
    if submitted:
        a = a.astype(np.float64)
    if a.size > threshold:
        return encode_array(cast(a, np.int64) if a.dtype.kind in "iu" else a, "b64")
    if a.ndim == 0:
        return encode_scalar(a) if a.dtype.kind == "f" else int(a)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        return encode_array(a)
    return a.tolist()


def _inputs(body: dict[str, Any], predictions: Any, targets: Any,
            inputs: Mapping[str, Any] | None, sample_weight: Any, threshold: int) -> None:
    for name, value in zip(_COMMON, (predictions, targets), strict=True):
        if value is not None:
            body[name] = _array(value, threshold)
    if inputs:
        body["inputs"] = {k: _array(v, threshold) for k, v in inputs.items()}
    if sample_weight is not None:
        body["sample_weight"] = _array(sample_weight, threshold)


def grade_request(loss: str, predictions: Any, targets: Any, submission: Mapping[str, Any], *,
                  threshold: int, inputs: Mapping[str, Any] | None = None,
                  params: Mapping[str, Any] | None = None, reduction: str | None = None,
                  sample_weight: Any = None, dtype: str | None = None,
                  tolerance: str | Mapping[str, Any] | None = None,
                  require: Sequence[str] = (), weights: Mapping[str, float] | None = None,
                  include_reference: bool = False, format: str = "json",
                  name: str | None = None, max_score: float | None = None) -> dict[str, Any]:
    """The body of ``POST /compare`` in mode grade. ``tolerance`` is a preset name or
    ``{"rtol", "atol", "equal_nan"}``; ``submission`` maps value / per_sample / gradient /
    gradients (a dict of arrays) to what the student computed."""
    body: dict[str, Any] = {"mode": "grade", "loss": loss}
    _inputs(body, predictions, targets, inputs, sample_weight, threshold)
    sub: dict[str, Any] = {}
    for key, value in submission.items():
        if value is None:
            continue
        if key == "gradients":
            sub[key] = {k: _array(v, threshold, submitted=True) for k, v in value.items()}
        else:
            sub[key] = _array(value, threshold, submitted=True)
    body["submission"] = sub
    optional = {"params": dict(params) if params else None, "reduction": reduction,
                "dtype": dtype, "require": list(require) or None,
                "weights": dict(weights) if weights else None, "name": name,
                "max_score": max_score}
    body.update({k: v for k, v in optional.items() if v is not None})
    if tolerance is not None:
        body["tolerance"] = {"preset": tolerance} if isinstance(tolerance, str) else \
            dict(tolerance)
    if include_reference:
        body["include_reference"] = True
    if format != "json":
        body["format"] = format
    return body


def losses_request(losses: Sequence[str | Mapping[str, Any]], predictions: Any, targets: Any,
                   *, threshold: int, inputs: Mapping[str, Any] | None = None,
                   sample_weight: Any = None, dtype: str | None = None, k: int = 5
                   ) -> dict[str, Any]:
    """The body of ``POST /compare`` in mode losses; each loss is a name or
    ``{"loss", "params", "reduction", "transform", "label"}``."""
    body: dict[str, Any] = {"mode": "losses", "k": k,
                            "losses": [{"loss": x} if isinstance(x, str) else dict(x)
                                       for x in losses]}
    _inputs(body, predictions, targets, inputs, sample_weight, threshold)
    if dtype is not None:
        body["dtype"] = dtype
    return body


@dataclass(frozen=True)
class GradeReport:
    """A ``/compare`` grading result (format json)."""

    passed: bool
    score: float
    checks: list[dict[str, Any]]
    diagnosis: list[dict[str, Any]]
    feedback: str
    tolerance: dict[str, Any]
    provenance: dict[str, Any]
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def codes(self) -> list[str]:
        """The diagnosed mistake codes, in order."""
        return [d["code"] for d in self.diagnosis]

    def check(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.checks if c["name"] == name), None)


def parse_grade(data: dict[str, Any]) -> GradeReport | dict[str, Any]:
    """A grading result as a :class:`GradeReport`; other formats stay dicts."""
    if "checks" not in data or "passed" not in data:
        return data
    reference = {k: wire_to_array(v) for k, v in (data.get("reference") or {}).items()}
    return GradeReport(passed=data["passed"], score=data["score"], checks=data["checks"],
                       diagnosis=data["diagnosis"], feedback=data["feedback"],
                       tolerance=data["tolerance"], provenance=data["provenance"],
                       reference=reference, raw=data)
