"""Request and response models of ``/compare``, ``/compare/mistakes`` and ``/cases``.

Arrays are documented as in :mod:`.schemas` and decoded by :mod:`service.transport.arrays`; a
submitted array may also hold the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (the
service's own encoding of non-finite numbers), so a grader can pass a student's overflow through
unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema, model_validator

from ..grading.catalog import CODES
from ..grading.side_by_side import TRANSFORMS
from ..losses.evaluate import DTYPES
from .schemas import ArrayIn, ArrayOut, NumberOrArrayOut

_REDUCTION = Literal["none", "mean", "sum", "batchmean"]
_FORBID = ConfigDict(extra="forbid", strict=True)  # strict: 0 is not false, "1" not 1

SUBMITTED_ARRAY: dict[str, Any] = {
    "description": "A submitted array: like any input array, and its values may also be the "
    "strings NaN, Infinity, -Infinity.",
    "anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
              {"$ref": "#/components/schemas/NestedOutList"},
              {"$ref": "#/components/schemas/TensorData"},
              {"$ref": "#/components/schemas/TensorB64"}],
}


SubmittedArray = Annotated[Any, WithJsonSchema(SUBMITTED_ARRAY)]


class Submission(BaseModel):
    """What the student computed; give any subset of the fields."""

    model_config = _FORBID
    value: SubmittedArray | None = Field(
        None, description="the reduced loss (a number), or the unreduced array for reduction none")
    per_sample: SubmittedArray | None = Field(
        None, description="one value per sample (the service's per-sample breakdown)")
    gradient: SubmittedArray | None = Field(
        None, description="the gradient with respect to predictions")
    gradients: dict[str, SubmittedArray] | None = Field(
        None, description="gradients with respect to other differentiable inputs, by name "
        "(e.g. {\"W\": ...}); predictions may be given here instead of in gradient")


class ToleranceSpec(BaseModel):
    """A named preset (numpy: 1e-7 / 0; torch: assert_close's per-dtype defaults; strict: exact
    equality), or explicit numpy.testing.assert_allclose tolerances."""

    model_config = _FORBID
    preset: Literal["numpy", "torch", "strict"] | None = Field(
        None, description="a preset instead of rtol / atol / equal_nan")
    rtol: float | None = Field(None, ge=0, description="relative tolerance (default 1e-7)")
    atol: float | None = Field(None, ge=0, description="absolute tolerance (default 0)")
    equal_nan: bool | None = Field(None, description="NaN equals NaN (default false)")

    @model_validator(mode="after")
    def _preset_or_values(self) -> ToleranceSpec:
        if self.preset is not None and (self.rtol, self.atol, self.equal_nan) != (None,) * 3:
            raise ValueError("give either a preset or rtol / atol / equal_nan, not both")
        return self


class GradeRequest(BaseModel):
    """``POST /compare`` with mode grade: a submission checked against the reference."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "mode": "grade", "loss": "cross_entropy",
        "predictions": [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]], "targets": [0, 1],
        "submission": {"value": 2.1195434523, "gradient": [[-0.43, 0.43, 0.0005],
                                                            [0.004, -0.0127, 0.0085]]},
        "tolerance": {"preset": "torch"}}]})
    mode: Literal["grade"] = "grade"
    loss: str = Field(description="loss name or alias")
    predictions: ArrayIn | None = None
    targets: ArrayIn | None = None
    inputs: dict[str, ArrayIn] | None = Field(None, description="any other named input")
    params: dict[str, Any] = Field(default_factory=dict, description="the loss's parameters")
    reduction: _REDUCTION | None = Field(None, description="default: the loss's default")
    sample_weight: ArrayIn | None = None
    dtype: Literal[DTYPES] = "float64"
    submission: Submission
    tolerance: ToleranceSpec | None = Field(
        None, description="default: the torch preset for the dtype")
    require: list[str] = Field(default_factory=list, description="checks that must be "
                               "submitted (value, per_sample, gradient, gradients.<input>, or "
                               "all); a missing one fails with reason missing")
    weights: dict[str, Annotated[float, Field(ge=0)]] | None = Field(
        None, description="weight of each check in the score (default 1 each)")
    include_reference: bool = Field(False, description="add the reference arrays")
    format: Literal["json", "gradescope", "prairielearn"] = Field(
        "json", description="json: the full result; gradescope: a test entry of results.json; "
        "prairielearn: an external-grading result")
    name: str | None = Field(None, description="test name for the grader formats")
    max_score: float = Field(1.0, gt=0, description="gradescope: the points of this test")


class LossItem(BaseModel):
    """One loss of a side-by-side comparison."""

    model_config = _FORBID
    loss: str
    params: dict[str, Any] = Field(default_factory=dict)
    reduction: _REDUCTION | None = None
    transform: Literal[TRANSFORMS] = Field(
        "none", description="applied to predictions first, e.g. log_softmax for nll")
    label: str | None = Field(None, description="name in the output (default: the loss)")


class LossesRequest(BaseModel):
    """``POST /compare`` with mode losses: several losses on one batch."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "mode": "losses", "predictions": [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]],
        "targets": [0, 1, 2],
        "losses": [{"loss": "cross_entropy"}, {"loss": "focal", "params": {"gamma": 2.0}},
                   {"loss": "multiclass_hinge"}, {"loss": "nll", "transform": "log_softmax"}],
        "k": 2}]})
    mode: Literal["losses"]
    predictions: ArrayIn | None = None
    targets: ArrayIn | None = None
    inputs: dict[str, ArrayIn] | None = None
    sample_weight: ArrayIn | None = None
    dtype: Literal[DTYPES] = "float64"
    losses: list[LossItem] = Field(min_length=1, max_length=32)
    k: int = Field(5, ge=1, le=1000, description="samples listed per loss")


class Extreme(BaseModel):
    value: float | Literal["Infinity"] = Field(description="over the elements finite in both")
    index: list[int] = Field(description="row-major index of the first maximum")


class MismatchOut(BaseModel):
    index: list[int]
    submitted: float | str
    expected: float | str


class CheckOut(BaseModel):
    name: str = Field(description="value, per_sample, gradient or gradients.<input>")
    passed: bool
    reason: Literal["missing", "shape", "nonfinite", "tolerance"] | None
    n_mismatched: int
    n_total: int
    max_abs_diff: Extreme | None
    max_rel_diff: Extreme | None
    first_mismatches: list[MismatchOut]
    message: str = Field(description="numpy- or torch-style mismatch text")
    submitted_shape: list[int] | None
    expected_shape: list[int]


class DiagnosisOut(BaseModel):
    code: Literal[CODES]
    check: str
    evidence: str
    hint: str


class ToleranceOut(BaseModel):
    rtol: float
    atol: float
    equal_nan: bool
    preset: str | None


class GradeResponse(BaseModel):
    """The full grading result (format json)."""

    passed: bool
    score: float = Field(ge=0, le=1, description="the (weighted) share of checks passed")
    checks: list[CheckOut]
    diagnosis: list[DiagnosisOut]
    feedback: str = Field(description="Markdown for the student")
    tolerance: ToleranceOut
    provenance: dict[str, Any]
    reference: dict[str, NumberOrArrayOut] | None = None


class GradescopeTest(BaseModel):
    """format gradescope: one entry of the tests array of results.json."""

    name: str
    score: float
    max_score: float
    status: Literal["passed", "failed"]
    output: str
    output_format: Literal["md"]
    extra_data: dict[str, Any]


class PrairieLearnTest(BaseModel):
    name: str
    description: str
    points: float
    max_points: float
    message: str
    output: str


class PrairieLearnResult(BaseModel):
    """format prairielearn: an external-grading result."""

    gradable: bool
    score: float
    message: str
    output: str
    tests: list[PrairieLearnTest]


class LossSide(BaseModel):
    label: str
    loss: str
    params: dict[str, Any]
    reduction: str
    transform: str
    value: NumberOrArrayOut
    per_sample: ArrayOut
    top_k: list[dict[str, Any]] = Field(description="[{index, value}], highest first")


class RankCorrelation(BaseModel):
    method: Literal["spearman"]
    labels: list[str]
    matrix: list[list[float | str]]
    pairs: list[dict[str, Any]]


class LossesResponse(BaseModel):
    mode: Literal["losses"]
    n_samples: int
    dtype: str
    backend: str
    losses: list[LossSide]
    rank_correlation: RankCorrelation


class MistakeOut(BaseModel):
    code: Literal[CODES]
    title: str
    checks: list[str]
    match: Literal["values", "nonfinite", "infinite", "float32"]
    when: str
    hint: str
    applies_to: list[str] = Field(description="registered losses it can concern")


class MistakeCatalog(BaseModel):
    count: int
    mistakes: list[MistakeOut]


class CaseOut(BaseModel):
    """One case: the start of a /compare body (add submission)."""

    name: str
    description: str
    loss: str
    predictions: Any = None
    targets: Any = None
    inputs: dict[str, Any] | None = None
    params: dict[str, Any]
    reduction: str


class CaseSet(BaseModel):
    loss: str
    kind: Literal["random", "edge"]
    seed: int
    n: int
    classes: int
    generator: str
    cases: list[CaseOut]



class CompareRequest(RootModel[Annotated[GradeRequest | LossesRequest,
                                         Field(discriminator="mode")]]):
    """``POST /compare``: mode grade (the default when ``mode`` is absent) or losses."""
