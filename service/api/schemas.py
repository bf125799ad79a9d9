"""Request and response models, generated from the loss registry.

Each loss gets its own request model (``MseRequest``...), so the OpenAPI document shows exactly
which inputs, parameters and reductions that loss takes. Array fields are *documented* precisely
(nested lists, tensor objects, b64 tensors) but not validated element by element by pydantic:
arrays are decoded and checked with NumPy in :mod:`service.transport.arrays`, which keeps large
requests fast.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    create_model,
)

from ..backends import BACKEND_CHOICES
from ..losses import LOSSES, LossSpec, ParamSpec
from ..losses.catalog import shapes_in_words
from ..losses.evaluate import DTYPES
from ..losses.spec import BROADCASTING, TENSOR_PARAM_DIMS, nested_list_schemas
from ..transport.arrays import WIRE_DTYPES

COMMON_INPUTS = ("predictions", "targets")

# Nested lists are documented as a choice of 1-D to NESTED_DIMS-D arrays, not as a recursive
# schema: client generators (openapi-python-client, openapi-typescript) refuse or mangle recursive
# array items. Five dimensions is the deepest shape the losses name, (N, C, d1, d2, d3) (a volume);
# the decoder (service.transport.arrays) accepts nested lists up to MAX_DIMS (32) deep, and a
# tensor object (`shape` plus flat `data` or `b64`) carries any of them.
NESTED_DIMS = TENSOR_PARAM_DIMS  # (the same choice as a tensor parameter's)


ARRAY_SCHEMA: dict[str, Any] = {
    "description": "An array: a number, a nested list of numbers (class indices as integers), "
    "or a tensor object with flat `data` or little-endian `b64` bytes (or, in the JSON header "
    "of an application/octet-stream body, `binary_data_size`).",
    "anyOf": [
        {"type": "number"},
        {"$ref": "#/components/schemas/NestedList"},
        {"$ref": "#/components/schemas/TensorData"},
        {"$ref": "#/components/schemas/TensorB64"},
        {"$ref": "#/components/schemas/TensorBinary"},
    ],
}
OUT_NUMBER: dict[str, Any] = {
    "anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": "a number; a non-finite value is the string NaN, Infinity or -Infinity",
}
OUT_ARRAY_SCHEMA: dict[str, Any] = {
    "description": "A result array: nested lists (encoding json; non-finite values as the "
    "strings NaN, Infinity, -Infinity), a b64 tensor object (encoding b64), or a binary tensor "
    "object in the JSON header of an application/octet-stream response (encoding binary).",
    "anyOf": [
        OUT_NUMBER,
        {"$ref": "#/components/schemas/NestedOutList"},
        {"$ref": "#/components/schemas/TensorB64"},
        {"$ref": "#/components/schemas/TensorBinary"},
    ],
}
# components referenced above, added to the OpenAPI document by service.api.openapi
EXTRA_COMPONENTS: dict[str, Any] = {
    "NestedList": {
        "description": f"a rectangular nested list of numbers, 1 to {NESTED_DIMS} dimensions "
        "(the service takes up to 32; a tensor object carries any shape)",
        "anyOf": nested_list_schemas({"type": "number"}),
    },
    # Its elements are left untyped: a number-or-string element makes openapi-python-client
    # (0.29) generate code that does not type-check for a choice of several list depths.
    "NestedOutList": {
        "description": f"a rectangular nested list of numbers, 1 to {NESTED_DIMS} dimensions; "
        "a non-finite value is the string NaN, Infinity or -Infinity",
        "anyOf": nested_list_schemas({"description": "a number, or the string NaN, Infinity or "
                                              "-Infinity"}),
    },
}

ArrayIn = Annotated[Any, WithJsonSchema(ARRAY_SCHEMA)]
ArrayOut = Annotated[Any, WithJsonSchema(OUT_ARRAY_SCHEMA)]
NumberOrArrayOut = Annotated[Any, WithJsonSchema({"anyOf": [OUT_NUMBER, OUT_ARRAY_SCHEMA]})]

WireDtype = Literal[tuple(WIRE_DTYPES)]  # the decoder's dtypes (service.transport.arrays)
Encoding = Literal["json", "b64", "binary"]
ENCODING_DESCRIPTION = (
    "how result arrays are returned: nested lists (`json`), b64 tensor objects (`b64`), or "
    "`binary`: an application/octet-stream response whose JSON header (of "
    "Inference-Header-Content-Length bytes) has tensor objects with `binary_data_size`, their "
    "little-endian bytes following the header in the order it names them. Default: `json`, "
    "`binary` for an application/octet-stream request")
Validate = Literal["lenient", "strict"]
VALIDATE_DESCRIPTION = (
    "lenient: inputs PyTorch computes on although they look like mistakes (negative class "
    "weights, probability rows that do not sum to 1, positive log-probabilities, labels off "
    "{-1, 1} or [0, 1], NaN and infinities in b64 or binary tensors) get the library's number "
    "and a `warnings` entry each; strict: each is a "
    "422 with the same code and location. Default: the server's `LOSS_SERVICE_VALIDATION` "
    "(lenient)")
Omittable = Literal["per_sample", "gradient"]
OMIT_DESCRIPTION = (
    "response fields to leave out: `per_sample` (the per-sample breakdown is then not computed; "
    "the value and gradients are the same to the last bit) and `gradient` (the copy of "
    "`gradients.predictions`); a name the response does not have is ignored. Large requests "
    "that only need the value and gradient send both: less to compute, encode and transfer")
WRT_DESCRIPTION = (
    "/gradient only (ignored by /loss, whose names are checked all the same): the inputs whose "
    "gradients `gradients` returns, in this order. Default: the inputs marked differentiable. "
    "Besides those, the float inputs PyTorch differentiates may be named, e.g. `targets` of mse "
    "or of cross_entropy with class probabilities (the catalog's `wrt` lists them per loss); "
    "sample weights and the reduction apply as to the predictions' gradient. Naming an input "
    "without a gradient (integer class targets) is a 422 located at it")


def wrt_field(spec: LossSpec) -> Any:
    """The ``wrt`` field of a loss's request: the names it may hold documented as an enum, but
    checked by the core (:func:`service.losses.evaluate.check_wrt`), whose message names them."""
    schema = {"anyOf": [{"type": "array", "items": {"enum": list(spec.wrt_inputs)},
                         "minItems": 1}, {"type": "null"}]}
    return (Annotated[list[str] | None, WithJsonSchema(schema)],
            Field(None, description=WRT_DESCRIPTION,
                  examples=[list(reversed(spec.wrt_inputs))]))


class TensorData(BaseModel):
    """A tensor object with a flat row-major `data` list."""

    model_config = ConfigDict(extra="forbid")
    shape: list[Annotated[int, Field(ge=0)]]
    dtype: WireDtype = "float64"
    data: list[float]


class TensorB64(BaseModel):
    """A tensor object with base64 of the little-endian row-major bytes."""

    model_config = ConfigDict(extra="forbid")
    shape: list[Annotated[int, Field(ge=0)]]
    dtype: WireDtype = "float64"
    b64: str


class TensorBinary(BaseModel):
    """A tensor object in the JSON header of an application/octet-stream body: its
    little-endian row-major bytes follow the header, after those of the binary tensors named
    before it."""

    model_config = ConfigDict(extra="forbid")
    shape: list[Annotated[int, Field(ge=0)]]
    dtype: WireDtype = "float64"
    binary_data_size: int = Field(ge=0, description="the number of its bytes after the header "
                                  "(elements times the dtype's size)")


BINARY_BODY_DESCRIPTION = (
    "A JSON request body (application/json). The route also takes the binary tensor format in "
    "the style of the KServe/Triton binary tensor extension, as `Content-Type: "
    "application/octet-stream`: the same JSON object as a header of "
    "`Inference-Header-Content-Length` bytes (a header of the request), then the little-endian "
    "row-major bytes of each tensor object that gives `binary_data_size` (`TensorBinary`), in "
    "the order the header names them. The answer is in the same format unless the request sets "
    "`encoding`.")
BINARY_RESPONSE: dict[str, Any] = {
    "description": "The response; with `encoding` binary (the default for an "
    "application/octet-stream request) an application/octet-stream body: the JSON response "
    "with `TensorBinary` objects as a header of `Inference-Header-Content-Length` bytes (a "
    "response header; padded with spaces to a multiple of 8), then the arrays' bytes in the "
    "order the header names them.",
    "content": {"application/octet-stream": {"schema": {"type": "string",
                                                         "format": "binary"}}},
    "headers": {"Inference-Header-Content-Length": {
        "description": "binary responses: the length in bytes of the JSON header",
        "schema": {"type": "integer"}}},
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _param_type(p: ParamSpec) -> Any:
    """A parameter's type. Its range is documented (in the schema) but checked by the core
    alone (:func:`service.losses.params.validate_params`), so that it is written once."""
    bounds: dict[str, float] = {}
    if p.minimum is not None:
        bounds["gt" if p.exclusive_minimum else "ge"] = p.minimum
    if p.maximum is not None:
        bounds["lt" if p.exclusive_maximum else "le"] = p.maximum
    if not bounds or p.warn_outside_range:  # (outside the range: a warning, not a 422)
        return _typed(p, {})
    return Annotated[_typed(p, {}), WithJsonSchema(TypeAdapter(_typed(p, bounds)).json_schema())]


def _not_a_bool(v: Any) -> Any:
    """Refuse a bool for a choice of no bools (pydantic's Literal would take true for 1)."""
    if isinstance(v, bool):
        raise ValueError("a boolean is not one of the choices")
    return v


def _json_bounds(bounds: dict[str, float]) -> dict[str, float]:
    """pydantic's bound names (ge, gt, le, lt) as JSON Schema's."""
    names = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
    return {names[k]: v for k, v in bounds.items()}


def _typed(p: ParamSpec, bounds: dict[str, float]) -> Any:
    base: Any
    if p.type == "float":
        base = Annotated[float, Field(**bounds)]
    elif p.type == "int":
        base = Annotated[int, Field(**bounds)]
    elif p.type == "bool":
        base = bool
    elif p.type == "choice" and sum(isinstance(c, bool) for c in p.choices) == 2:
        # true, false and others ("auto"): a strict bool, since pydantic matches a Literal by
        # equality, and 0 == False would select false (the core's rule: a bool matches only a
        # listed bool, service.losses.params)
        others = tuple(c for c in p.choices if not isinstance(c, bool))
        base = Literal[others] | bool if others else bool
    elif p.type == "choice":
        base = Annotated[Literal[tuple(p.choices)], BeforeValidator(_not_a_bool)]
    elif p.type == "float_array":
        base = list[Annotated[float, Field(**bounds)]]
    elif p.type == "float_or_float_tensor":
        # a number or a nested list of any depth, checked by the core (rectangular, numbers, the
        # range); documented as a choice of 1-D to TENSOR_PARAM_DIMS-D lists, never recursively
        leaf: dict[str, Any] = {"type": "number", **_json_bounds(bounds)}
        base = Annotated[float | list[Any], WithJsonSchema(
            {"anyOf": [leaf, *nested_list_schemas(leaf)]})]
    else:
        base = Annotated[float, Field(**bounds)] | list[Annotated[float, Field(**bounds)]]
    if p.extra_allowed:
        base = base | Literal[tuple(p.extra_allowed)]
    if p.nullable:
        base = base | None
    return base


def params_model(spec: LossSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {
        p.name: (_param_type(p), Field(p.default, description=p.documented))
        for p in spec.params
    }
    return create_model(
        f"{_camel(spec.name)}Params",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__=f"Parameters of {spec.name} (defaults filled in).",
        **fields,
    )


def inputs_model(spec: LossSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {
        i.name: (ArrayIn | None, Field(None, description=f"{i.description}; shape {i.shape}"))
        for i in spec.inputs
    }
    return create_model(
        f"{_camel(spec.name)}Inputs",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Named inputs of {spec.name}.",
        **fields,
    )


def example_body(spec: LossSpec, index: int = 0) -> dict[str, Any]:
    """The registry's example as a request body."""
    ex = spec.examples[index]
    body: dict[str, Any] = {}
    others = {}
    for k, v in ex.inputs.items():
        if k in COMMON_INPUTS:
            body[k] = v
        else:
            others[k] = v
    if others:
        body["inputs"] = others
    if ex.params:
        body["params"] = dict(ex.params)
    body["reduction"] = ex.reduction
    return body


def request_model(spec: LossSpec) -> type[BaseModel]:
    """The request model of one loss."""
    fields: dict[str, Any] = {}
    for i in spec.inputs:
        if i.name in COMMON_INPUTS:
            fields[i.name] = (ArrayIn | None, Field(None, description=f"{i.description}; "
                                                    f"shape {i.shape}"))
    reductions = Literal[tuple(spec.reductions)]
    pm = params_model(spec)
    fields.update(
        inputs=(inputs_model(spec) | None,
                Field(None, description="named inputs (predictions and targets may be given "
                      "here instead of at the top level)")),
        params=(pm, Field(default_factory=pm, description="parameters")),
        reduction=(reductions, Field(spec.default_reduction, description="reduction")),
        sample_weight=(ArrayIn | None, Field(None, description="optional, one weight >= 0 per "
                                             "sample (first axis of the unreduced loss)")),
        dtype=(Literal[DTYPES], Field("float64", description="computation precision")),
        backend=(Literal[BACKEND_CHOICES] | None,
                 Field(None, description="where to compute: numpy, cupy (a CUDA GPU) or auto "
                       "(large requests to the GPU when one is usable); default: the server's "
                       "setting")),
        encoding=(Encoding, Field("json", description=ENCODING_DESCRIPTION)),
        omit=(list[Omittable], Field(default_factory=list, description=OMIT_DESCRIPTION)),
        validation=(Validate | None, Field(None, alias="validate",
                                           description=VALIDATE_DESCRIPTION)),
    )
    if spec.differentiable:
        fields["wrt"] = wrt_field(spec)
    return create_model(
        f"{_camel(spec.name)}Request",
        __config__=ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [example_body(spec)]}),
        __doc__=f"Request body for /loss/{spec.name} and /gradient/{spec.name}. Shapes: "
        f"{shapes_in_words(spec)}. {BROADCASTING}",
        **fields,
    )


class GenericRequest(BaseModel):
    """Request body for any loss by name or alias (the per-loss routes document the exact one)."""

    model_config = ConfigDict(extra="forbid")
    predictions: ArrayIn | None = None
    targets: ArrayIn | None = None
    inputs: dict[str, ArrayIn] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    reduction: Literal["none", "mean", "sum", "batchmean"] | None = None
    sample_weight: ArrayIn | None = None
    dtype: Literal[DTYPES] = "float64"
    backend: Literal[BACKEND_CHOICES] | None = None
    encoding: Encoding = Field("json", description=ENCODING_DESCRIPTION)
    omit: list[Omittable] = Field(default_factory=list, description=OMIT_DESCRIPTION)
    validation: Validate | None = Field(None, alias="validate", description=VALIDATE_DESCRIPTION)
    wrt: list[str] | None = Field(None, description=WRT_DESCRIPTION)


class WarningOut(BaseModel):
    """An input the loss was computed on that looks like a mistake (``validate: strict`` refuses
    it with a 422 of the same code and location)."""

    code: str = Field(description="the code strict validation answers with (docs/errors.md, "
                      "Warnings)")
    loc: list[str | int] = Field(description="the first offending value, as an error's "
                                 "`loc`: [\"body\", \"targets\", 3] or "
                                 "[\"body\", \"params\", \"weight\", 1]")
    detail: str


class LossResponse(BaseModel):
    """The value of a loss, its per-sample breakdown and the effective parameters."""

    loss: str = Field(description="canonical loss name")
    value: NumberOrArrayOut = Field(description="the reduced value (a number), or the "
                                    "unreduced array for reduction none")
    reduction: str
    per_sample: ArrayOut | None = Field(
        None, description="one value per sample: the mean over the non-batch axes of the "
        "(sample-weighted) unreduced loss; absent when the request omits it")
    n_samples: int
    params: dict[str, Any] = Field(description="effective parameters, defaults included")
    dtype: str
    backend: str
    warnings: list[WarningOut] | None = Field(
        None, description="inputs computed on as the library computes them although they look "
        "like mistakes (`validate: lenient`); absent when there are none")


class GradientResponse(LossResponse):
    """A loss value plus its gradients with respect to every differentiable input (or those
    the request's ``wrt`` names)."""

    gradients: dict[str, ArrayOut] = Field(
        description="gradient of the reduced value (of the sum for reduction none) for each "
        "differentiable input, or each input the request's `wrt` names (in its order), in that "
        "input's shape")
    gradient: ArrayOut | None = Field(None, description="the gradient for `predictions`, "
                                      "where the loss has that input (a copy of "
                                      "`gradients.predictions`; absent when the request "
                                      "omits it, or when its `wrt` leaves predictions out)")


REQUEST_MODELS: dict[str, type[BaseModel]] = {name: request_model(s) for name, s in LOSSES.items()}
