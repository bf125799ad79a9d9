"""Schema-driven fuzzing of every operation, in-process against the ASGI app (schemathesis).

Each operation gets a bounded number of generated requests (fixed seed, no deadline) and four
checks: no 5xx (`not_a_server_error`), only documented status codes (`status_code_conformance`),
responses that match their documented schema (`response_schema_conformance`), and requests that
violate the schema rejected with a 4xx (`negative_data_rejection`).

Exclusions, each for a reason:
* `negative_data_rejection` is not applied to `/metrics` and the GET probes, which take no body.
"""

from __future__ import annotations

import logging

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from service.main import create_app  # noqa: E402

pytestmark = pytest.mark.slow  # schema-driven fuzzing of every operation

MAX_EXAMPLES = 30

app = create_app()
app.state.ready = True  # the lifespan (warm-up) does not run under the ASGI test transport
# /loss/{name} and /gradient/{name} take the same request schema: its boundary cases (the
# coverage phase, about 700 requests per operation, most of this module's time) run once, on
# /gradient/{name}; /loss/{name} keeps the random examples and every check
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({"operations": [
    {"include-path-regex": "^/loss/", "phases": {"coverage": {"enabled": False}}}]})
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(autouse=True)
def _quiet_access_log():
    logging.getLogger("service.access").disabled = True
    yield
    logging.getLogger("service.access").disabled = False


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_operation(case):
    checks = list(CHECKS)
    if case.method.upper() == "POST":
        checks.append(negative_data_rejection)
    case.call_and_validate(checks=checks)
