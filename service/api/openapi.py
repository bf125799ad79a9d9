"""The OpenAPI document: FastAPI's, plus the per-loss request models the routes reference.

The loss routes read their bodies themselves (orjson + NumPy, for speed), so FastAPI does not see
their models; they are added here as components. ``loss-service openapi`` writes the document to
``openapi/openapi.json`` and a test fails when that file is stale.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from .. import __version__
from .inference_schemas import InferenceError, InferRequest
from .problems import Problem
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
Triton HTTP: each loss is a model) they are the protocol's `{"error": "..."}`."""


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title="loss-service", version=__version__, description=DESCRIPTION,
                         routes=app.routes)
    for path, operations in schema["paths"].items():
        if path.startswith("/v2/"):  # (FastAPI's 422 for path parameters: never, on /v2)
            for operation in operations.values():
                operation["responses"].pop("422", None)
    models = [(m, "validation") for m in (*REQUEST_MODELS.values(), GenericRequest, TensorData,
                                          TensorB64, TensorBinary, Problem, InferRequest,
                                          InferenceError)]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs.get("$defs", {}))
    components.update(EXTRA_COMPONENTS)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    app.openapi_schema = schema
    return schema
