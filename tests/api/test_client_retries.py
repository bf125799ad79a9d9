"""The Python client's retries and typed errors, sync and async, over httpx.MockTransport.

503 and 429 are retried with the response's Retry-After (capped at ``max_wait``) or exponential
backoff; connection errors are retried; other 4xx never; when the bound is reached the last
answer's typed error is raised. The waits are recorded, not slept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest

from service import client as client_module
from service.client import (
    AsyncLossClient,
    AuthenticationError,
    BadRequestError,
    InvalidInputError,
    LossClient,
    LossServiceError,
    NotFoundError,
    PayloadTooLargeError,
    RetryPolicy,
    ServerError,
    UnavailableError,
    error_for,
    parse_retry_after,
)

RESULT = {"loss": "mse", "value": 0.25, "reduction": "mean", "per_sample": [0.25],
          "n_samples": 1, "params": {}, "dtype": "float64", "backend": "numpy"}


def problem(status: int, code: str, *, retry_after: str | None = None,
            loc: list[Any] | None = None, request_id: str = "req-1") -> httpx.Response:
    errors = [{"loc": loc, "msg": "bad", "type": code}] if loc else []
    body = {"type": f"urn:loss-service:problem:{code}", "title": "t", "status": status,
            "detail": f"{code} detail", "code": code, "errors": errors, "request_id": request_id}
    headers = {"content-type": "application/problem+json", "x-request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return httpx.Response(status, content=orjson.dumps(body), headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=RESULT)


class Script:
    """A transport handler that answers from a list (a response, or an exception to raise) and
    records each request's body."""

    def __init__(self, *answers: httpx.Response | Exception):
        self.answers = list(answers)
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def calls(self) -> int:
        return len(self.bodies)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits the clients ask for, instead of sleeping them."""
    recorded: list[float] = []

    async def asleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(client_module, "_sleep", recorded.append)
    monkeypatch.setattr(client_module, "_asleep", asleep)
    return recorded


def sync_loss(script: Script, **options: Any) -> Any:
    with LossClient("http://t", transport=httpx.MockTransport(script), **options) as c:
        return c.loss("mse", [1.0], [0.5])


def async_loss(script: Script, **options: Any) -> Any:
    import asyncio

    async def run() -> Any:
        async def handler(request: httpx.Request) -> httpx.Response:
            return script(request)

        async with AsyncLossClient("http://t", transport=httpx.MockTransport(handler),
                                   **options) as c:
            return await c.loss("mse", [1.0], [0.5])

    return asyncio.run(run())


CLIENTS: list[Callable[..., Any]] = [sync_loss, async_loss]
ids = ["sync", "async"]


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_a_503_is_retried_after_its_retry_after(call, waits):
    script = Script(problem(503, "backend_busy", retry_after="2"),
                    problem(503, "request_timeout", retry_after="1"), ok())
    r = call(script)
    assert r.value == 0.25 and script.calls == 3
    assert waits == [2.0, 1.0]
    assert script.bodies[0] == script.bodies[1] == script.bodies[2]  # the same request again


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_a_429_is_retried_and_retry_after_is_capped_at_max_wait(call, waits):
    script = Script(problem(429, "http_error", retry_after="120"), ok())
    assert call(script, max_wait=5.0).value == 0.25
    assert waits == [5.0]


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_giving_up_after_the_bound_raises_the_typed_error(call, waits):
    script = Script(problem(503, "server_busy", retry_after="3", request_id="abc"))
    with pytest.raises(UnavailableError) as exc:
        call(script, retries=2)
    assert script.calls == 3 and waits == [3.0, 3.0]
    e = exc.value
    assert isinstance(e, LossServiceError) and e.status == 503 and e.code == "server_busy"
    assert e.retry_after == 3.0 and e.request_id == "abc" and e.loc is None and e.retryable


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_without_retry_after_the_waits_back_off_exponentially_with_jitter(call, waits):
    script = Script(problem(503, "out_of_memory"))
    with pytest.raises(UnavailableError):
        call(script, retries=4, backoff=1.0, max_wait=6.0)
    assert script.calls == 5 and len(waits) == 4
    for attempt, wait in enumerate(waits[:3]):
        assert 0.5 * 2 ** attempt <= wait <= 2 ** attempt
    assert 4.0 <= waits[3] <= 6.0  # 8 s times [0.5, 1], capped at max_wait


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_connection_errors_are_retried(call, waits):
    script = Script(httpx.ConnectError("refused"), httpx.RemoteProtocolError("closed"),
                    httpx.ReadError("reset"), ok())
    assert call(script, backoff=0.1).value == 0.25
    assert script.calls == 4 and len(waits) == 3 and all(0.05 <= w <= 0.4 for w in waits)


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_a_connection_error_past_the_bound_is_raised(call, waits):
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(httpx.ConnectError):
        call(script, retries=1)
    assert script.calls == 2 and len(waits) == 1


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_a_read_timeout_is_not_retried(call, waits):
    script = Script(httpx.ReadTimeout("slow"), ok())
    with pytest.raises(httpx.ReadTimeout):
        call(script)
    assert script.calls == 1 and waits == []


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
@pytest.mark.parametrize(("status", "code", "cls"), [
    (400, "invalid_json", BadRequestError),
    (401, "unauthorized", AuthenticationError),
    (404, "unknown_loss", NotFoundError),
    (405, "method_not_allowed", BadRequestError),
    (408, "request_timeout", BadRequestError),
    (413, "payload_too_large", PayloadTooLargeError),
    (415, "unsupported_media_type", BadRequestError),
    (422, "shape_mismatch", InvalidInputError),
    (500, "internal_error", ServerError),
])
def test_other_errors_are_never_retried_and_raise_their_class(call, waits, status, code, cls):
    script = Script(problem(status, code, loc=["body", "targets"], request_id="r9"), ok())
    with pytest.raises(cls) as exc:
        call(script)
    assert script.calls == 1 and waits == []
    e = exc.value
    assert e.status == status and e.code == code and e.loc == ["body", "targets"]
    assert e.request_id == "r9" and e.retry_after is None and not e.retryable


@pytest.mark.parametrize("call", CLIENTS, ids=ids)
def test_retries_zero_turns_retrying_off(call, waits):
    script = Script(problem(503, "backend_busy", retry_after="1"), ok())
    with pytest.raises(UnavailableError):
        call(script, retries=0)
    assert script.calls == 1 and waits == []


def test_gets_are_retried_too(waits):
    script = Script(problem(503, "not_ready", retry_after="0"),
                    httpx.Response(200, json={"losses": [{"name": "mse"}]}))
    with LossClient("http://t", transport=httpx.MockTransport(script)) as c:
        assert c.losses() == [{"name": "mse"}]
    assert script.calls == 2 and waits == [0.0]


def test_retry_after_parses_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True),
                             now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True),
                             now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None


def test_the_policy_refuses_negative_settings():
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1)
    with pytest.raises(ValueError):
        LossClient("http://t", max_wait=-1.0)


def test_a_body_that_is_not_a_problem_still_gives_a_typed_error():
    e = error_for(502, {"code": "http_error", "detail": "<html>"}, {"x-request-id": "gw"})
    assert isinstance(e, ServerError) and e.request_id == "gw" and e.errors == [] and e.loc is None



@pytest.mark.anyio
async def test_typed_errors_from_the_app_carry_loc_and_request_id(app):
    async with AsyncLossClient("http://testserver",
                               transport=httpx.ASGITransport(app=app)) as c:
        with pytest.raises(InvalidInputError) as exc:
            await c.loss("mse", [1.0, 2.0], [1.0])
        e = exc.value
        assert e.code == "shape_mismatch" and e.loc == ["body", "targets"]
        assert e.request_id and e.request_id == e.problem["request_id"]
        with pytest.raises(NotFoundError) as missing:
            await c.loss("no_such_loss", [1.0], [1.0])
        assert missing.value.problem["suggestions"] is not None
