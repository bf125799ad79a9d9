"""The baseline of the transport suite: the gradient route written the obvious FastAPI way.

A pydantic body with ``list[list[float]]`` (every element validated by pydantic after
``json.loads``), ``np.asarray`` on the validated lists, the same loss core as the service, and the
result returned as a dict of ``.tolist()`` lists through FastAPI's default JSON response
(``jsonable_encoder`` + ``json.dumps``). Served by ``python -m bench.serve bench.naive_app:app``.
"""

from __future__ import annotations

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from service.losses import evaluate

app = FastAPI(title="naive loss app")


class CrossEntropyBody(BaseModel):
    predictions: list[list[float]]
    targets: list[int]


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/gradient/cross_entropy")
def gradient_cross_entropy(body: CrossEntropyBody) -> dict[str, object]:
    x = np.asarray(body.predictions)
    y = np.asarray(body.targets)
    ev = evaluate("cross_entropy", {"predictions": x, "targets": y}, want_grad=True)
    grad = ev.gradients["predictions"] if ev.gradients else None
    return {
        "loss": "cross_entropy",
        "value": float(ev.value),
        "per_sample": ev.per_sample.tolist(),
        "gradient": grad.tolist() if grad is not None else None,
    }
