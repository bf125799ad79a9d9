"""The Python client (async, in-process): NumPy in and out, b64 for large arrays, typed errors."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from service.client import AsyncLossClient, LossServiceError, build_request
from service.losses import evaluate
from tests.conftest import assert_close

pytestmark = pytest.mark.anyio


@pytest.fixture
async def lc(app):
    async with AsyncLossClient("http://testserver", transport=httpx.ASGITransport(app=app),
                               b64_threshold=50) as c:
        yield c


async def test_loss_and_gradient_numpy_in_and_out(lc):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    r = await lc.gradient("huber", x, y, delta=0.5)
    core = evaluate("huber", {"predictions": x, "targets": y}, {"delta": 0.5}, want_grad=True)
    assert r.loss == "huber" and r.params == {"delta": 0.5, "convention": "torch"}
    assert isinstance(r.value, float) and r.value == float(core.value)
    assert isinstance(r.gradient, np.ndarray) and r.gradient.shape == (4, 3)
    assert_close(r.gradient, core.gradients["predictions"], 0, 0)
    assert_close(r.per_sample, core.per_sample, 0, 0)
    none = await lc.loss("mse", x, y, reduction="none")
    assert isinstance(none.value, np.ndarray) and none.value.shape == (4, 3)


async def test_large_arrays_travel_as_b64(lc):
    x = np.random.default_rng(1).normal(size=(100, 10))
    body = build_request(x, x, b64_threshold=50)
    assert "b64" in body["predictions"] and body["encoding"] == "b64"
    r = await lc.gradient("mse", x, np.zeros_like(x), reduction="sum")
    assert r.raw["per_sample"]["b64"]
    assert_close(r.gradient, 2 * x, 0, 0)
    assert r.value == pytest.approx(float(np.sum(x * x)), rel=1e-15)


async def test_nan_and_infinities_travel_as_b64_and_come_back_with_their_warning(lc):
    """A small array with NaN or an infinity goes as b64 (in a JSON list orjson would write
    null, which the service refuses); the answer is the core's, its warnings on the result."""
    x = np.array([[0.5, np.nan], [np.inf, -1.0]])
    y = np.zeros_like(x)
    body = build_request(x, y, b64_threshold=50)
    assert "b64" in body["predictions"] and isinstance(body["targets"], list)
    r = await lc.gradient("mse", x, y, reduction="none")
    core = evaluate("mse", {"predictions": x, "targets": y}, reduction="none", want_grad=True,
                    validate="lenient")
    np.testing.assert_array_equal(r.value, core.value)  # (NaN where the core's is NaN)
    np.testing.assert_array_equal(r.gradient, core.gradients["predictions"])
    assert [(w["code"], w["loc"]) for w in r.warnings] == [
        ("nonfinite_input", ["body", "predictions", 0, 1])]
    clean = await lc.loss("mse", np.ones(2), np.zeros(2))
    assert clean.warnings == []


async def test_validate_is_sent_and_strict_refuses_what_lenient_warns_about(lc):
    x, ignored = np.zeros((2, 3)), np.array([-100, -100])
    assert build_request(x, ignored, validate="strict")["validate"] == "strict"
    assert "validate" not in build_request(x, ignored)
    r = await lc.gradient("cross_entropy", x, ignored, validate="lenient")
    assert np.isnan(r.value) and [w["code"] for w in r.warnings] == ["undefined_mean"]
    for call in (lc.loss, lc.gradient):
        with pytest.raises(LossServiceError) as exc:
            await call("cross_entropy", x, ignored, validate="strict")
        assert exc.value.status == 422 and exc.value.code == "undefined_mean"


async def test_the_client_never_receives_the_gradient_twice_and_can_skip_per_sample(lc):
    x = np.random.default_rng(2).normal(size=(200, 10))
    y = np.zeros_like(x)
    full = await lc.gradient("mse", x, y)
    assert "gradient" not in full.raw and full.gradient is not None  # read from gradients
    lean = await lc.gradient("mse", x, y, per_sample=False)
    assert lean.per_sample is None and "per_sample" not in lean.raw
    assert lean.n_samples == full.n_samples == 200 and lean.value == full.value
    assert_close(lean.gradient, full.gradient, 0, 0)
    assert build_request(x, y)["omit"] == ["gradient"]
    assert build_request(x, y, per_sample=False)["omit"] == ["gradient", "per_sample"]


async def test_binary_encoding_sends_and_receives_raw_bytes(lc):
    """``encoding="binary"``: every array as bytes after a JSON header, results the same way;
    the same numbers as the b64 round trip, also for a reduction of none and named inputs."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 7)), rng.integers(0, 7, size=300)
    got = await lc.gradient("cross_entropy", x, y, encoding="binary", label_smoothing=0.1)
    want = await lc.gradient("cross_entropy", x, y, label_smoothing=0.1)
    assert got.value == want.value and isinstance(got.value, float)
    assert_close(got.gradient, want.gradient, 0, 0)
    assert_close(got.per_sample, want.per_sample, 0, 0)
    assert isinstance(got.raw["per_sample"], np.ndarray)  # no b64 text on the way
    none = await lc.loss("mse", x, x + 1.0, reduction="none", encoding="binary")
    assert isinstance(none.value, np.ndarray) and none.value.shape == (300, 7)
    assert_close(none.value, (x - (x + 1.0)) ** 2, 0, 0)
    a, p, n = (rng.normal(size=(20, 4)) for _ in range(3))
    trip = await lc.gradient("triplet_margin", inputs={"anchor": a, "positive": p,
                                                       "negative": n}, encoding="binary")
    ref = evaluate("triplet_margin", {"anchor": a, "positive": p, "negative": n},
                   want_grad=True)
    assert set(trip.gradients) == {"anchor", "positive", "negative"}
    assert_close(trip.gradients["negative"], ref.gradients["negative"], 0, 0)
    with pytest.raises(LossServiceError) as exc:  # problems stay JSON
        await lc.loss("mse", x, y, encoding="binary")
    assert exc.value.code == "shape_mismatch" and exc.value.errors[0]["loc"] == [
        "body", "targets"]


async def test_errors_raise_with_the_problem(lc):
    with pytest.raises(LossServiceError) as exc:
        await lc.loss("mse", [1.0, 2.0], [1.0])
    assert exc.value.status == 422 and exc.value.code == "shape_mismatch"
    assert exc.value.errors[0]["loc"] == ["body", "targets"]
    with pytest.raises(LossServiceError) as exc:
        await lc.loss("no_such_loss", [1.0], [1.0])
    assert exc.value.status == 404 and exc.value.problem["suggestions"] is not None


async def test_catalog_and_version(lc):
    assert any(e["name"] == "mse" for e in await lc.losses())
    assert (await lc.describe("l2"))["name"] == "mse"
    assert await lc.ready()
    assert (await lc.version())["backends"]["numpy"]["available"]


@pytest.mark.parametrize("b64_threshold", [0, 1 << 40])  # b64 and JSON arrays
def test_large_answers_are_read_in_place_with_the_same_numbers(b64_threshold):
    """A large answer's b64 texts and JSON arrays are decoded from the body itself
    (``json_in.parse_response``), to the numbers orjson's ordinary parse gives."""
    import orjson

    from service.api.routes.losses import loss_response
    from service.api.schemas import REQUEST_MODELS
    from service.client import parse_result
    from service.config import Settings
    from service.losses import get_loss
    from service.transport import json_in
    from service.transport.request import Received, decode_loss

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40_000, 5)), rng.integers(0, 5, size=40_000)
    request = orjson.dumps(build_request(x, y, b64_threshold=b64_threshold))
    call = decode_loss(Received(request, None), get_loss("cross_entropy"),
                       REQUEST_MODELS["cross_entropy"], True, 10**9, {})
    _, parts = loss_response(call, Settings(), {})
    answer = b"".join(bytes(p) for p in parts)
    assert len(answer) >= json_in.B64_INPLACE_BYTES
    fast, plain = parse_result(json_in.parse_response(answer)), parse_result(orjson.loads(answer))
    assert fast.value == plain.value and fast.n_samples == plain.n_samples == 40_000
    assert_close(fast.gradient, plain.gradient, 0, 0)
    assert_close(fast.per_sample, plain.per_sample, 0, 0)


@pytest.mark.parametrize("encoding", [None, "binary"])
def test_request_parts_are_the_body_and_its_length(encoding):
    """The client sends a body as parts (b64 texts and binary tensors from where they are):
    joined, they are the body a single document would be, and Content-Length counts them."""
    import orjson

    from service.client import _request, request_parts
    from service.transport.json_out import Splices

    x = np.random.default_rng(4).normal(size=(300, 7))
    splices = Splices()
    parts, headers = request_parts(build_request(x, x, b64_threshold=10, encoding=encoding,
                                                 splices=splices), splices)
    joined = b"".join(bytes(p) for p in parts)
    plain, _ = _request(build_request(x, x, b64_threshold=10, encoding=encoding))
    assert joined == plain and headers["content-length"] == str(len(joined))
    if encoding is None:
        assert len(parts) > 1 and orjson.loads(joined)["predictions"]["b64"]
