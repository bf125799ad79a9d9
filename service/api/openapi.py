"""The OpenAPI document: FastAPI's, plus the per-loss request models the routes reference, shaped
so that client generators take it whole.

The loss routes read their bodies themselves (orjson + NumPy, for speed), so FastAPI does not see
their models; they are added here as components. ``loss-service openapi`` writes the document to
``openapi/openapi.json`` and a test fails when that file is stale.

What generators need, and pydantic's schemas do not give on their own (tests/clients/ generates a
Python and a TypeScript client from the document and type-checks them):

* no recursive arrays: nested lists are a choice of 1-D to N-D (:data:`.schemas.NESTED_DIMS`);
* single-typed enums: ``bool | "auto"`` is ``anyOf`` a boolean and a string enum, not
  ``enum: ["auto", true, false]`` (openapi-python-client drops such a schema);
* request fields state their default in their description instead of a ``default`` keyword:
  openapi-typescript (``defaultNonNullable``, on by default) makes a field with a ``default``
  required, so ``{predictions, targets}`` alone would not type-check, though the service fills
  in every default itself;
* ``/compare`` takes ``oneOf`` GradeRequest (``mode`` optional, grade by default) and
  LossesRequest (``mode`` losses, required), without a ``discriminator`` object, which OpenAPI
  3.1 allows only on a required property;
* the API keys as security schemes, a 401 on every operation that needs a key when keys are
  configured, and every error as ``application/problem+json`` only.

Only the document changes: the service validates requests in :mod:`service.transport`, not with
these schemas.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..observability.middleware import OPEN_PATHS
from .inference_schemas import InferenceError, InferRequest
from .problems import PROBLEM_MEDIA_TYPE, Problem, error_descriptions, is_inference_protocol
from .routes import losses
from .schemas import (
    EXTRA_COMPONENTS,
    REQUEST_MODELS,
    GenericRequest,
    TensorB64,
    TensorBinary,
    TensorData,
)

DESCRIPTION = """Evaluates machine-learning loss functions: exact float64 values, a per-sample
breakdown and analytic gradients, with PyTorch semantics where PyTorch has the loss.

Errors are RFC 9457 `application/problem+json` bodies with a machine-readable `code` and the JSON
location (`loc`) of the problem; on the Open Inference Protocol's `/v2` routes (KServe V2 /
Triton HTTP: each loss is a model) they are the protocol's `{"error": "..."}`.

When the server has API keys (`LOSS_SERVICE_API_KEYS`), every operation but `/healthz`, `/readyz`,
`/metrics`, `/v2/health/live` and `/v2/health/ready` needs one, as `X-API-Key: <key>` or
`Authorization: Bearer <key>` (401 otherwise); a server without keys ignores both headers."""

SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "one of the server's API keys (`LOSS_SERVICE_API_KEYS`)"},
    "BearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "the same API key as a bearer token"},
}
# either scheme is enough
SECURITY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_UNAUTHORIZED = {
    "description": error_descriptions()[401],
    "headers": {"WWW-Authenticate": {"description": 'Bearer realm="loss-service"',
                                     "schema": {"type": "string"}}},
    "content": _PROBLEM_CONTENT,
}
_INTERNAL = {"description": error_descriptions()[500], "content": _PROBLEM_CONTENT}
_INFERENCE_ERROR_CONTENT = {
    "application/json": {"schema": {"$ref": "#/components/schemas/InferenceError"}}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title="loss-service", version=__version__, description=DESCRIPTION,
                         routes=[*losses.documented.routes, *app.routes])
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            # FastAPI documents its 422 for every operation with parameters; drop it where no
            # request can get it (never on /v2; elsewhere: no body, only plain strings)
            if path.startswith("/v2/") or (_fastapi_422(operation)
                                           and not _can_fail_validation(operation)):
                operation["responses"].pop("422", None)
    models = [(m, "validation") for m in (*REQUEST_MODELS.values(), GenericRequest, TensorData,
                                          TensorB64, TensorBinary, Problem, InferRequest,
                                          InferenceError)]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs.get("$defs", {}))
    components.update(EXTRA_COMPONENTS)
    _single_typed_enums(components)
    for name in _request_components(schema):
        _describe_defaults(components[name])
    components["CompareRequest"].pop("discriminator", None)
    _security_and_errors(schema)
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422s: ours are Problem
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema["paths"]):
            components.pop(unused, None)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    app.openapi_schema = schema
    return schema


def _fastapi_422(operation: dict[str, Any]) -> bool:
    """Whether the operation's 422 is FastAPI's own (its HTTPValidationError), not ours."""
    return "HTTPValidationError" in json.dumps(operation["responses"].get("422", {}))


def _can_fail_validation(operation: dict[str, Any]) -> bool:
    """Whether FastAPI's validation can refuse a request of this operation: it has a body, or a
    parameter that is not a plain string (a number, an enum, a pattern...). A string parameter,
    required or optional, takes any value the URL can carry."""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") not in ("string", "null") or {
                    "enum", "const", "pattern", "format", "minLength", "maxLength"} & set(branch):
                return True
    return False


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in ``node``, parents before children."""
    out: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            out.append(n)
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return out


_JSON_TYPE = {bool: "boolean", str: "string", int: "number", float: "number", type(None): "null"}


def _integral(v: Any) -> Any:
    """``-1.0`` as ``-1`` (the same JSON number): a generator writes ``Literal[-1]``, valid
    Python, where ``Literal[-1.0]`` is not."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _single_typed_enums(components: dict[str, Any]) -> None:
    """Split each ``enum`` of mixed JSON types into ``anyOf`` single-typed enums (a boolean
    enum of both values becomes ``{"type": "boolean"}``); integral float constants as
    integers."""
    for node in _walk(components):
        if "const" in node:
            node["const"] = _integral(node["const"])
        values = node.get("enum")
        if isinstance(values, list):
            values = node["enum"] = [_integral(v) for v in values]
        if not isinstance(values, list):
            continue
        by_type: dict[str, list[Any]] = {}
        for v in values:
            by_type.setdefault(_JSON_TYPE[type(v)], []).append(v)
        if len(by_type) == 1:
            node.setdefault("type", next(iter(by_type)))
            continue
        del node["enum"]
        node.pop("type", None)
        node["anyOf"] = [{"type": "boolean"} if t == "boolean" and len(vs) == 2
                         else {"type": "null"} if t == "null"
                         else {"type": t, "enum": vs} for t, vs in by_type.items()]


def _refs(node: Any) -> set[str]:
    prefix = "#/components/schemas/"
    return {n["$ref"][len(prefix):] for n in _walk(node)
            if isinstance(n.get("$ref"), str) and n["$ref"].startswith(prefix)}


def _request_components(schema: dict[str, Any]) -> set[str]:
    """The component schemas a request body can contain (the body schemas and all they use)."""
    components = schema["components"]["schemas"]
    todo = set()
    for ops in schema["paths"].values():
        for op in ops.values():
            todo |= _refs(op.get("requestBody", {}))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= _refs(components[name]) - seen
    return seen


def _describe_defaults(component: dict[str, Any]) -> None:
    """Move each property's ``default`` into its description (see the module docstring); a
    ``null`` default only says that the field is optional, which it is."""
    for prop in component.get("properties", {}).values():
        if "default" not in prop:
            continue
        default = prop.pop("default")
        if default is None or default == []:
            continue
        text = prop.get("description", "").rstrip(".")
        note = f"default: {json.dumps(default)}"
        prop["description"] = f"{text} ({note})" if text else note.capitalize()


def _security_and_errors(schema: dict[str, Any]) -> None:
    """Security and the 401 on each operation that needs a key (when keys are configured), a
    500 on every operation, and every error response as problem+json alone."""
    descriptions = error_descriptions()
    for path, ops in schema["paths"].items():
        # the Open Inference Protocol's errors are {"error": "..."} (as its routes declare them;
        # a 503 of a readiness route is {"ready": false}), not problem documents
        oip = is_inference_protocol(path)
        content = _INFERENCE_ERROR_CONTENT if oip else _PROBLEM_CONTENT
        for op in ops.values():
            responses = op["responses"]
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and not (oip and "content" in response):
                    response["content"] = content
                    if response.get("description") in (None, "", "Validation Error"):
                        response["description"] = descriptions.get(int(status), "")
            if path in OPEN_PATHS:
                op["security"] = []
            else:
                op["security"] = SECURITY
                responses["401"] = {**_UNAUTHORIZED, "content": content}
            responses["500"] = {**_INTERNAL, "content": content}
            op["responses"] = dict(sorted(responses.items()))
