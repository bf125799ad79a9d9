"""``POST /compare``, ``GET /compare/mistakes``, ``GET /cases/{name}`` over HTTP (in-process ASGI),
and the clients' ``compare`` / ``mistakes`` / ``case``."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from service.client import AsyncLossClient, LossClient, LossServiceError
from service.config import Settings
from service.grading import CODES
from service.losses import evaluate
from service.main import create_app

pytestmark = pytest.mark.anyio

X = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
Y = [0, 1, 2]
REF = evaluate("cross_entropy", {"predictions": X, "targets": Y}, want_grad=True)
PER = REF.per_sample.tolist()
GRAD = REF.gradients["predictions"].tolist()
BODY = {"loss": "cross_entropy", "predictions": X, "targets": Y}


async def _post(client, body, status=200):
    r = await client.post("/compare", json=body)
    assert r.status_code == status, r.text
    return r.json()


async def test_grade_a_right_submission(client):
    out = await _post(client, {**BODY, "mode": "grade", "submission": {
        "value": float(REF.value), "per_sample": PER, "gradient": GRAD}})
    assert out["passed"] is True and out["score"] == 1.0 and out["diagnosis"] == []
    assert out["tolerance"] == {"rtol": 1e-7, "atol": 1e-7, "equal_nan": False,
                                "preset": "torch"}
    assert out["provenance"]["loss"] == "cross_entropy" and "reference" not in out


async def test_grade_sum_instead_of_mean_with_the_reference(client):
    out = await _post(client, {**BODY, "submission": {"value": sum(PER), "gradient": GRAD},
                               "tolerance": {"preset": "numpy"}, "include_reference": True})
    assert (out["passed"], out["score"]) == (False, 0.5)
    value = out["checks"][0]
    assert (value["name"], value["reason"], value["n_mismatched"]) == ("value", "tolerance", 1)
    assert value["message"].startswith("Not equal to tolerance rtol=1e-07, atol=0\nvalue\n")
    assert out["diagnosis"][0]["code"] == "sum_instead_of_mean"
    assert set(out["diagnosis"][0]) == {"code", "check", "evidence", "hint"}
    assert out["reference"]["value"] == float(REF.value)
    assert out["reference"]["gradient"] == GRAD


async def test_nonfinite_submissions_as_strings_and_b64(client):
    out = await _post(client, {**BODY, "submission": {"per_sample": [PER[0], "NaN", "Infinity"],
                                                      "value": "-Infinity"}})
    reasons = {c["name"]: c["reason"] for c in out["checks"]}
    assert reasons == {"value": "nonfinite", "per_sample": "nonfinite"}
    mismatch = out["checks"][1]["first_mismatches"][0]
    assert mismatch == {"index": [1], "submitted": "NaN", "expected": PER[1]}
    from service.transport.json_out import encode_array

    bad = np.array(GRAD)
    bad[0, 0] = np.inf
    out = await _post(client, {**BODY, "submission": {"gradient": encode_array(bad, "b64")}})
    assert out["checks"][0]["reason"] == "nonfinite"


async def test_an_infinite_relative_difference_is_a_string(client):
    out = await _post(client, {"loss": "mse", "predictions": [1.0, 2.0], "targets": [1.0, 2.0],
                               "submission": {"gradient": [0.5, 0.0]}})
    check = out["checks"][0]
    assert check["max_rel_diff"] == {"value": "Infinity", "index": [0]}
    assert check["max_abs_diff"] == {"value": 0.5, "index": [0]}


async def test_shape_failures_and_partial_submissions(client):
    out = await _post(client, {**BODY, "submission": {"per_sample": [1.0, 2.0]},
                               "require": ["value"]})
    assert [(c["name"], c["reason"]) for c in out["checks"]] == [("value", "missing"),
                                                                 ("per_sample", "shape")]
    assert out["checks"][1]["submitted_shape"] == [2]
    assert out["checks"][1]["expected_shape"] == [3]


@pytest.mark.parametrize("fmt", ["gradescope", "prairielearn"])
async def test_grader_formats(client, fmt):
    out = await _post(client, {**BODY, "submission": {"value": sum(PER), "gradient": GRAD},
                               "format": fmt, "name": "Q1", "max_score": 2})
    if fmt == "gradescope":
        assert (out["name"], out["score"], out["max_score"], out["status"]) == (
            "Q1", 1.0, 2.0, "failed")
        assert out["output_format"] == "md" and "sum_instead_of_mean" in out["output"]
    else:
        assert out["gradable"] is True and out["score"] == 0.5
        assert [t["name"] for t in out["tests"]] == ["value", "gradient"]


async def test_compare_losses(client):
    out = await _post(client, {"mode": "losses", "predictions": X, "targets": Y, "k": 1,
                               "losses": [{"loss": "cross_entropy"},
                                          {"loss": "nll", "transform": "log_softmax"},
                                          {"loss": "multiclass_hinge", "label": "svm"}]})
    assert [e["label"] for e in out["losses"]] == ["cross_entropy", "nll", "svm"]
    assert out["losses"][0]["per_sample"] == PER
    assert out["losses"][2]["top_k"] == [{"index": 2, "value": pytest.approx(12.9)}]
    assert out["rank_correlation"]["matrix"][0][1] == pytest.approx(1.0)


@pytest.mark.parametrize(("body", "status", "code", "loc"), [
    ({**BODY, "submission": {}}, 422, "missing_field", ["body", "submission"]),
    ({**BODY}, 422, "missing_field", ["body", "submission"]),
    ({**BODY, "loss": "cross_entropyy", "submission": {"value": 1}}, 404, "unknown_loss",
     ["body", "loss"]),
    ({**BODY, "targets": [0, 1, 7], "submission": {"value": 1}}, 422,
     "class_index_out_of_range", ["body", "targets", 2]),
    ({**BODY, "params": {"label_smoothing": 2}, "submission": {"value": 1}}, 422,
     "invalid_param", ["body", "params", "label_smoothing"]),
    ({**BODY, "submission": {"gradients": {"W": [1.0]}}}, 422, "unknown_input",
     ["body", "submission", "gradients", "W"]),
    ({**BODY, "submission": {"gradient": GRAD, "gradients": {"predictions": GRAD}}}, 422,
     "duplicate_input", ["body", "submission", "gradients", "predictions"]),
    ({**BODY, "submission": {"value": [1, [2]]}}, 422, "ragged_array",
     ["body", "submission", "value", 1]),
    ({**BODY, "submission": {"value": 1}, "tolerance": {"preset": "loose"}}, 422,
     "invalid_field", ["body", "tolerance", "preset"]),
    ({**BODY, "submission": {"value": 1}, "tolerance": {"preset": "numpy", "rtol": 0.1}}, 422,
     "invalid_field", ["body", "tolerance"]),
    ({**BODY, "submission": {"value": 1}, "tolerance": {"rtol": -1}}, 422,
     "invalid_field", ["body", "tolerance", "rtol"]),
    ({**BODY, "submission": {"value": 1}, "require": ["everything"]}, 422, "invalid_field",
     ["body", "require", "everything"]),
    ({**BODY, "mode": "judge", "submission": {"value": 1}}, 422, "invalid_field",
     ["body", "mode"]),
    ({"mode": "losses", "predictions": X, "targets": Y, "losses": [
        {"loss": "cross_entropy"}, {"loss": "focal", "params": {"gamma": -1}}]}, 422,
     "invalid_param", ["body", "losses", 1, "params", "gamma"]),
])
async def test_errors_are_problems_with_locations(client, body, status, code, loc):
    r = await client.post("/compare", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == code
    if loc is not None:
        assert problem["errors"][0]["loc"] == loc


async def test_mistakes_catalog(client):
    r = await client.get("/compare/mistakes")
    assert r.status_code == 200
    catalog = r.json()
    assert catalog["count"] == len(CODES) == 24
    assert [m["code"] for m in catalog["mistakes"]] == list(CODES)
    ce = (await client.get("/compare/mistakes", params={"loss": "softmax_cross_entropy"})).json()
    codes = {m["code"] for m in ce["mistakes"]}
    assert {"softmax_overflow", "label_smoothing_ignored", "class_index_off_by_one"} <= codes
    assert "hinge_labels_01" not in codes and "kl_reversed" not in codes
    r = await client.get("/compare/mistakes", params={"loss": "nope"})
    assert r.status_code == 404 and r.json()["errors"][0]["loc"] == ["query", "loss"]


async def test_cases_are_byte_identical_and_validated(client):
    url = "/cases/cross_entropy?seed=7&n=5&classes=4&kind=edge"
    a, b = await client.get(url), await client.get(url)
    assert a.status_code == 200 and a.content == b.content
    body = a.json()
    assert (body["loss"], body["kind"], body["seed"], body["n"]) == ("cross_entropy", "edge", 7, 5)
    r = await client.get("/cases/l2", params={"seed": 1})
    assert r.json()["loss"] == "mse" and len(r.json()["cases"]) == 1
    assert (await client.get("/cases/nope")).status_code == 404
    r = await client.get("/cases/mse", params={"n": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "n"]
    r = await client.get("/cases/mse", params={"kind": "weird"})
    assert r.status_code == 422


async def test_a_case_posts_straight_back_as_a_grade_body(client):
    case = (await client.get("/cases/mse", params={"seed": 3, "n": 4, "classes": 2})).json()
    body = {**case["cases"][0], "submission": {"value": 0.0}}
    for key in ("name", "description"):
        body.pop(key)
    out = await _post(client, body)
    assert out["checks"][0]["reason"] == "tolerance"


async def test_openapi_documents_the_routes(client):
    doc = (await client.get("/openapi.json")).json()
    compare = doc["paths"]["/compare"]["post"]
    body = compare["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/CompareRequest"}
    assert set(body["examples"]) == {"grade", "losses"}
    # a oneOf without a discriminator object: OpenAPI allows one only on a required property,
    # and grade's `mode` is optional (grade is the default)
    schemas = doc["components"]["schemas"]
    union = schemas["CompareRequest"]
    assert [s["$ref"].split("/")[-1] for s in union["oneOf"]] == ["GradeRequest", "LossesRequest"]
    assert "discriminator" not in union
    assert "mode" not in schemas["GradeRequest"].get("required", [])
    assert "mode" in schemas["LossesRequest"]["required"]
    assert {"GradeRequest", "LossesRequest", "Submission"} <= set(doc["components"]["schemas"])
    assert {"422", "413", "415"} <= set(compare["responses"])
    assert "/compare/mistakes" in doc["paths"] and "/cases/{name}" in doc["paths"]
    assert doc["paths"]["/cases/{name}"]["get"]["operationId"] == "cases"


# -- the clients ---------------------------------------------------------------------------


async def test_async_client(app):
    transport = httpx.ASGITransport(app=app)
    async with AsyncLossClient("http://testserver", transport=transport, b64_threshold=4) as c:
        report = await c.compare("cross_entropy", np.array(X), np.array(Y), submission={
            "value": sum(PER), "gradient": np.array(GRAD)}, tolerance="numpy",
            include_reference=True)
        assert report.codes == ["sum_instead_of_mean"] and report.score == 0.5
        assert isinstance(report.reference["gradient"], np.ndarray)
        assert report.check("gradient")["passed"] is True
        entry = await c.compare("cross_entropy", X, Y, submission={"value": float(REF.value)},
                                format="gradescope")
        assert entry["status"] == "passed"
        assert len(await c.mistakes()) == 24
        assert {m["code"] for m in await c.mistakes("hinge")} >= {"hinge_labels_01"}
        case = await c.case("hinge", seed=2, n=3, kind="edge")
        assert case["kind"] == "edge" and case["cases"]
        side = await c.compare_losses(["cross_entropy", {"loss": "focal"}], X, Y, k=1)
        assert len(side["losses"]) == 2


def test_sync_client():
    app = create_app(Settings())

    async def call(request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as c:
            r = await c.request(request.method, request.url, content=request.content,
                                headers=request.headers)
            return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    def forward(request: httpx.Request) -> httpx.Response:
        return asyncio.run(call(request))

    with LossClient("http://testserver", transport=httpx.MockTransport(forward)) as c:
        bad = np.array(PER)
        bad[1] = np.nan  # travels as the string "NaN"
        report = c.compare("cross_entropy", X, Y, submission={"per_sample": bad})
        assert report.checks[0]["reason"] == "nonfinite"
        assert [m["code"] for m in c.mistakes()] == list(CODES)
        assert c.case("mse", seed=1)["cases"][0]["loss"] == "mse"
        with pytest.raises(LossServiceError) as exc:
            c.compare("mse", [1.0], [1.0], submission={})
        assert exc.value.code == "missing_field"


async def test_a_case_the_sampler_cannot_draw_is_a_422(client, monkeypatch):
    import dataclasses

    from service.grading import cases
    from service.losses import LOSSES

    def spinning(rng, n, c):
        while True:
            rng.normal(size=(n, c))

    spec = dataclasses.replace(LOSSES["mse"], sampler=spinning)
    monkeypatch.setattr(cases, "SAMPLER_SECONDS", 0.2)
    monkeypatch.setattr(cases, "get_loss", lambda name: spec)
    r = await client.get("/cases/mse", params={"n": 500})
    assert r.status_code == 422 and r.json()["code"] == "case_too_large"
    assert r.json()["errors"][0]["loc"] == ["query", "n"]


async def test_booleans_in_submitted_lists_are_refused(client):
    grad = [row[:] for row in GRAD]
    grad[1][2] = True
    out = await _post(client, {**BODY, "include_reference": True,
                               "submission": {"gradient": grad}}, status=422)
    assert out["code"] == "invalid_number"
    assert out["errors"][0]["loc"] == ["body", "submission", "gradient", 1, 2]
