"""The Open Inference Protocol's (KServe V2 / Triton HTTP) bodies as pydantic models.

They exist for two reasons: the OpenAPI document shows the ``/v2`` routes' bodies, and an
``infer`` request's structure is checked by the very schema the document shows (strict: a
shape of ``"3"`` is refused, as the schema says). Tensor ``data`` is not validated here, element
by element, but by the service's one array decoder (:mod:`service.transport.arrays`), after
:mod:`service.transport.inference_protocol` has translated the request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

DATATYPES: dict[str, str] = {"FP64": "float64", "FP32": "float32", "INT64": "int64",
                             "INT32": "int32"}  # the datatypes taken: the decoder's dtypes

OIP_NUMBER: dict[str, Any] = {
    "anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
DataIn = Annotated[Any, WithJsonSchema({
    "type": "array",
    "items": {"anyOf": [{"type": "number"}, {"$ref": "#/components/schemas/NestedList"}]},
    "description": "the tensor's elements in row-major order: flattened, or nested as the "
    "shape says"})]
FlatOut = Annotated[Any, WithJsonSchema({
    "type": "array", "items": OIP_NUMBER,
    "description": "the tensor's elements, flattened in row-major order (a non-finite value "
    "as the string NaN, Infinity or -Infinity)"})]
Parameters = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object", "description": "`reduction`, `dtype`, `backend` and the loss's own "
    "parameters (see GET /losses/{name}); Triton's `binary_data_output` (and its sequence, "
    "priority and timeout parameters, which are ignored)"})]
_STRICT = ConfigDict(extra="forbid", strict=True)


class InputParameters(BaseModel):
    model_config = _STRICT
    binary_data_size: int | None = Field(
        None, ge=0, description="binary tensor extension: the tensor's bytes follow the JSON "
        "header (of Inference-Header-Content-Length bytes) after those of the inputs before it")


class InferInput(BaseModel):
    """An input tensor: one of the loss's inputs, or ``sample_weight``."""

    model_config = _STRICT
    name: str
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Literal[tuple(DATATYPES)]  # type: ignore[valid-type]
    parameters: InputParameters | None = None
    data: DataIn | None = Field(None, description="absent when `binary_data_size` is given")


class OutputParameters(BaseModel):
    model_config = _STRICT
    binary_data: bool = Field(False, description="binary tensor extension: send the output's "
                              "bytes after the response's JSON header")


class RequestedOutput(BaseModel):
    model_config = _STRICT
    name: str = Field(description="value, per_sample or gradient_<input>")
    parameters: OutputParameters | None = None


class InferRequest(BaseModel):
    """An inference request (POST /v2/models/{model_name}/infer)."""

    model_config = _STRICT
    id: str | None = None
    model_name: str | None = Field(None, description="ignored: the path names the model "
                                   "(KServe's client sends it)")
    parameters: Parameters | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = Field(
        None, description="the outputs wanted (default: all of them, as JSON unless the "
        "parameter binary_data_output is true)")


class OutputTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size` where the output's bytes follow the header")
    data: FlatOut | None = None


class InferResponse(BaseModel):
    """An inference response (in the JSON header of an application/octet-stream response
    where some output is binary)."""

    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] = Field(description="reduction, dtype, backend and n_samples")
    outputs: list[OutputTensor]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: a dimension of any size")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class InferenceError(BaseModel):
    """An error of a /v2 route, as the protocol has it."""

    error: str
