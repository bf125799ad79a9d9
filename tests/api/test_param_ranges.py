"""Shapes and parameter ranges in the catalog and the OpenAPI document (issue 19, item 6).

Every range comes from one definition, the registry's ``ParamSpec`` (minimum, maximum,
exclusive bounds, extra allowed values): the catalog's JSON Schema, the OpenAPI per-loss
``...Params`` models and the words in both descriptions are derived from it, and the core alone
enforces it. An out-of-range element of a list parameter is a 422 ``invalid_param`` located at its
index (``["body", "params", name, i]``) with the range in ``msg``, never pydantic's "Input should
be a valid number". The cases are taken from the registry, so a parameter that loses or gains a
range (e.g. class weights PyTorch accepts negative) is covered as it stands.

A range that is only expected (``warn_outside_range``: BCE's weight and pos_weight, which PyTorch
takes negative) is stated in words but not as schema bounds (a schema bound would make a
validating client refuse what the service computes): outside it the answer is a 200 with a
warning at the same location, and a 422 with ``"validate": "strict"``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.api.schemas import example_body
from service.losses import LOSSES
from service.losses.catalog import describe
from service.losses.spec import BROADCASTING, LossSpec, ParamSpec

pytestmark = pytest.mark.anyio

# the committed document (tests/api/test_generated_docs.py holds it equal to the app's)
SCHEMAS = json.loads((Path(__file__).parents[2] / "openapi" / "openapi.json").read_text())[
    "components"]["schemas"]


def _component(spec: LossSpec, kind: str) -> dict[str, Any]:
    return SCHEMAS["".join(part.capitalize() for part in spec.name.split("_")) + kind]

RANGED = [(s, p) for s in LOSSES.values() for p in s.params
          if p.minimum is not None or p.maximum is not None]
LISTS = [(s, p) for s, p in RANGED
         if p.type in ("float_array", "float_or_float_array", "float_or_float_tensor")]
WARN_ONLY = [(s, p) for s, p in RANGED if p.warn_outside_range]


def _id(case: tuple[LossSpec, ParamSpec]) -> str:
    return f"{case[0].name}.{case[1].name}"


def _bounds(p: ParamSpec) -> dict[str, float]:
    out = {}
    if p.minimum is not None:
        out["exclusiveMinimum" if p.exclusive_minimum else "minimum"] = p.minimum
    if p.maximum is not None:
        out["exclusiveMaximum" if p.exclusive_maximum else "maximum"] = p.maximum
    return out


def _bounded_leaves(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The number schemas under ``schema`` (through anyOf and array items), null left out."""
    if "anyOf" in schema:
        return [leaf for s in schema["anyOf"] for leaf in _bounded_leaves(s)]
    if schema.get("type") == "array":
        return _bounded_leaves(schema["items"])
    if schema.get("type") in ("number", "integer") and not {"const", "enum"} & set(schema):
        return [schema]
    return []  # null, or the extra allowed values (sigmoid_focal's alpha = -1)


def _outside(p: ParamSpec) -> float:
    """A value the range refuses (just past the lower bound, or the upper one)."""
    if p.minimum is not None:
        v = p.minimum - 1.0 if not p.exclusive_minimum else p.minimum
        return v - 0.5 if v in p.extra_allowed else v
    return p.maximum + 1.0 if not p.exclusive_maximum else p.maximum


def _inside(p: ParamSpec) -> float:
    lo = -math.inf if p.minimum is None else p.minimum
    hi = math.inf if p.maximum is None else p.maximum
    if math.isinf(lo) and math.isinf(hi):
        return 0.0
    if math.isinf(hi):
        return lo + 1.0
    if math.isinf(lo):
        return hi - 1.0
    return (lo + hi) / 2.0


def test_the_registry_has_ranged_scalars_and_lists():
    assert RANGED and any(p.type in ("float", "int") for _, p in RANGED)
    assert LISTS  # e.g. focal's and categorical_focal's per-class alpha


@pytest.mark.parametrize("case", RANGED, ids=_id)
def test_catalog_and_openapi_state_the_range_in_bounds_and_words(case):
    spec, p = case
    bounds = {} if p.warn_outside_range else _bounds(p)
    words = p.range_words()
    if p.warn_outside_range:
        assert words and p.documented.endswith(
            f"(expected: {words}; other values get a warning)")
    else:
        assert words and p.documented.endswith(f"(valid: {words})")
    catalog = describe(spec)["params"][p.name]
    openapi = _component(spec, "Params")["properties"][p.name]
    for schema in (catalog, openapi):
        assert schema["description"].startswith(p.documented)  # OpenAPI adds the default
        leaves = _bounded_leaves(schema)
        assert leaves, schema
        for leaf in leaves:
            if p.warn_outside_range:
                assert not set(_bounds(p)) & set(leaf), (schema, "a warning is not a bound")
            else:
                assert {k: leaf[k] for k in bounds} == bounds, (schema, bounds)


@pytest.mark.parametrize("spec", LOSSES.values(), ids=lambda s: s.name)
def test_catalog_states_shapes_and_broadcasting(spec):
    entry = describe(spec)
    assert entry["broadcasting"] == BROADCASTING
    for i in spec.inputs:
        assert f"{i.name}: {i.shape}" in entry["shapes"]
    model = _component(spec, "Request")
    assert entry["shapes"] in model["description"] and BROADCASTING in model["description"]


def _body(spec: LossSpec, params: dict[str, Any]) -> dict[str, Any]:
    body = example_body(spec)
    body["params"] = {**body.get("params", {}), **params}
    return body


@pytest.mark.parametrize("case", LISTS, ids=_id)
async def test_a_list_element_out_of_range_is_located(client, case):
    spec, p = case
    values = [_inside(p)] * 3
    values[2] = _outside(p)
    strict = {"validate": "strict"} if p.warn_outside_range else {}
    r = await client.post(f"/loss/{spec.name}", json=_body(spec, {p.name: values}) | strict)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "invalid_param"
    err = problem["errors"][0]
    assert err["loc"] == ["body", "params", p.name, 2]
    assert "valid number" not in err["msg"] and "valid number" not in problem["detail"]
    assert p.name in err["msg"] and f"{_outside(p):g}" in err["msg"]
    lower = p.range_words().split(" for ")[0].removeprefix("each element ")
    assert lower.split(" or ")[0] in err["msg"]  # the range, e.g. ">= 0"
    # the same list through /compare, the grader's door
    c = await client.post("/compare", json={**_body(spec, {p.name: values}), "loss": spec.name,
                                            "submission": {"value": 0.0}})  # (grading: strict)
    assert c.status_code == 422 and c.json()["errors"][0]["loc"] == err["loc"]


@pytest.mark.parametrize("case", WARN_ONLY, ids=_id)
async def test_outside_an_expected_range_is_a_located_warning(client, case):
    spec, p = case
    # one entry per element of the last axis (per class): the length the loss computes with
    # (a linear loss's classes: the second axis of its weights W (D, C))
    body = example_body(spec)
    w = body.get("inputs", {}).get("W")
    width = np.shape(w)[1] if w is not None else np.shape(body["predictions"])[-1]
    values = [_inside(p)] * width
    values[2] = _outside(p)
    r = await client.post(f"/loss/{spec.name}", json=_body(spec, {p.name: values}))
    assert r.status_code == 200, r.text
    warning = r.json()["warnings"][0]
    assert warning["code"] == "invalid_param"
    assert warning["loc"] == ["body", "params", p.name, 2]
    assert f"{_outside(p):g}" in warning["detail"]


def test_some_ranges_are_warnings_only():
    assert WARN_ONLY  # BCE's weight and pos_weight


@pytest.mark.parametrize("case", [c for c in RANGED if c[1].type in ("float", "int")], ids=_id)
async def test_a_scalar_out_of_range_is_refused_with_the_range(client, case):
    spec, p = case
    r = await client.post(f"/loss/{spec.name}", json=_body(spec, {p.name: _outside(p)}))
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["loc"] == ["body", "params", p.name] and err["type"] == "invalid_param"
    assert "valid number" not in err["msg"]


async def test_a_union_parameter_error_has_no_branch_tag_in_its_location(client):
    # a nested list where a number or a flat list is expected: pydantic's branch tag ('float')
    # is not part of the JSON location
    spec, p = LISTS[0]
    r = await client.post(f"/loss/{spec.name}", json=_body(spec, {p.name: [[1.0, 2.0]]}))
    assert r.status_code == 422
    for err in r.json()["errors"]:
        assert err["loc"][:3] == ["body", "params", p.name]
        assert all(isinstance(part, int) for part in err["loc"][3:]), err["loc"]
