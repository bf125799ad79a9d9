"""Calls a live loss-service through the client openapi-python-client generated from
openapi/openapi.json (the package ``loss_service_client``) and prints what it parsed, as one JSON
line, for tests/clients/test_generated_clients.py to check. It runs in the generator's venv and
is type-checked with the generated package (mypy --strict): that the calls below type-check is
half the test.

Usage: python calls.py BASE_URL API_KEY
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from typing import Any

from loss_service_client import AuthenticatedClient
from loss_service_client.api.catalog import list_losses
from loss_service_client.api.compare import compare
from loss_service_client.api.gradient import gradient_mse
from loss_service_client.api.loss import loss_cross_entropy
from loss_service_client.models import (
    CrossEntropyRequest,
    CrossEntropyRequestEncoding,
    GradeRequest,
    GradeResponse,
    GradientResponse,
    LossResponse,
    MseRequest,
    Problem,
    Submission,
    TensorB64,
)


def main(url: str, key: str) -> dict[str, Any]:
    client = AuthenticatedClient(base_url=url, token=key)  # Authorization: Bearer <key>

    grad = gradient_mse.sync(client=client, body=MseRequest(
        predictions=[[0.5, 1.5], [2.0, 0.0]], targets=[[1.0, 1.0], [2.0, 1.0]]))
    assert isinstance(grad, GradientResponse), grad

    logits = base64.b64encode(struct.pack("<6d", 3.2, 5.1, -1.7, 1.3, 4.9, 2.0)).decode()
    # class indices: ints when sent (JSON 0, 1); the generated models type JSON numbers as float
    targets: list[float] = [0, 1]
    ce = loss_cross_entropy.sync(client=client, body=CrossEntropyRequest(
        predictions=TensorB64(shape=[2, 3], b64=logits), targets=targets,
        encoding=CrossEntropyRequestEncoding.B64))
    assert isinstance(ce, LossResponse), ce
    assert isinstance(ce.per_sample, TensorB64), ce.per_sample
    per_sample = struct.unpack(f"<{len(ce.per_sample.b64) * 3 // 4 // 8}d",
                               base64.b64decode(ce.per_sample.b64))

    graded = compare.sync(client=client, body=GradeRequest(
        loss="mse", predictions=[1.0, 2.0], targets=[1.0, 4.0],
        submission=Submission(value=2.0)))
    assert isinstance(graded, GradeResponse), graded

    denied = list_losses.sync_detailed(client=AuthenticatedClient(base_url=url, token="wrong"))
    assert isinstance(denied.parsed, Problem), denied.parsed

    return {
        "mse": {"value": grad.value, "gradient": grad.gradient},
        "cross_entropy": {"value": ce.value, "per_sample": list(per_sample),
                          "shape": ce.per_sample.shape},
        "compare": {"passed": graded.passed, "score": graded.score,
                    "checks": [c.name for c in graded.checks]},
        "unauthorized": {"status": int(denied.status_code), "code": denied.parsed.code},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
