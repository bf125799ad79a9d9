"""Nesting depth is the client's to choose, up to the JSON parser's limit (orjson: 1024): every
route answers a located 4xx for any depth, never a 500 from Python's recursion limit (1000).

Arrays deeper than 32 dimensions are 422 ``too_deep`` at the array; JSON deeper than 1024 is
400 ``invalid_json`` saying so. Before: arrays 952 to 1023 deep were a 500 (a recursive walk
in ``encoding._locate_problem``), a /compare submission 495 deep too (``_replace_text``), and
a value echoed in a message (``mode``, ``convention``, a tensor's ``dtype``) nested about 1000
deep as well (its ``repr``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.anyio

JSON_LIMIT = 1024  # orjson's: an array at JSON depth 1024 parses, 1025 does not


def _deep(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _body(template: str, depth: int) -> bytes:
    """``template`` with ``%s`` replaced by an array nested ``depth`` deep."""
    return (template % _deep(depth)).encode()


async def _post(client, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    r = await client.post(path, content=raw, headers={"content-type": "application/json"})
    return r.status_code, r.json()


def _depths(wrapping: int) -> list[int]:
    """Array depths to try where the array sits ``wrapping`` levels into the body: around the
    dimension limit, NumPy's (64), the old recursion failures, and up to the parser's limit."""
    top = JSON_LIMIT - wrapping
    return [33, 64, 65, 495, 952, 1000, top - 1, top]


# (path, body template, JSON levels around the array, the array's location)
ARRAYS = [
    ("/loss/mse", '{"predictions": %s, "targets": [1.0]}', 1, ["body", "predictions"]),
    ("/loss/cross_entropy", '{"predictions": [[0.1, 0.9]], "targets": %s}', 1,
     ["body", "targets"]),
    ("/loss/cross_entropy", '{"predictions": [[0.1, 0.9]], "targets": [0], '
     '"sample_weight": %s}', 1, ["body", "sample_weight"]),
    ("/loss/cross_entropy", '{"predictions": [[0.1, 0.9]], "inputs": {"targets": %s}}', 2,
     ["body", "inputs", "targets"]),
    ("/gradient/mse", '{"predictions": %s, "targets": [1.0]}', 1, ["body", "predictions"]),
    ("/loss/l2", '{"predictions": [1.0], "targets": %s}', 1, ["body", "targets"]),
    ("/gradient/l2", '{"predictions": %s, "targets": [1.0]}', 1, ["body", "predictions"]),
    ("/compare", '{"loss": "mse", "predictions": %s, "targets": [1.0], '
     '"submission": {"value": 1.0}}', 1, ["body", "predictions"]),
    ("/compare", '{"loss": "mse", "predictions": [1.0], "targets": [1.0], '
     '"submission": {"value": %s}}', 2, ["body", "submission", "value"]),
    ("/compare", '{"loss": "mse", "predictions": [1.0], "targets": [1.0], '
     '"submission": {"per_sample": %s}}', 2, ["body", "submission", "per_sample"]),
    ("/compare", '{"loss": "mse", "predictions": [1.0], "targets": [1.0], '
     '"submission": {"gradient": %s}}', 2, ["body", "submission", "gradient"]),
    ("/compare", '{"loss": "mse", "predictions": [1.0], "targets": [1.0], '
     '"submission": {"gradients": {"predictions": %s}}}', 3,
     ["body", "submission", "gradients", "predictions"]),
    ("/compare", '{"mode": "losses", "predictions": %s, "targets": [1.0], '
     '"losses": [{"loss": "mse"}]}', 1, ["body", "predictions"]),
]


@pytest.mark.parametrize(("path", "template", "wrapping", "loc"), ARRAYS,
                         ids=[f"{a[0]}:{'.'.join(map(str, a[3][1:]))}"
                              f"{' (losses)' if 'losses' in a[1] else ''}" for a in ARRAYS])
async def test_deep_arrays_are_too_deep_on_every_route(client, path, template, wrapping, loc):
    answers = {depth: await _post(client, path, _body(template, depth))
               for depth in _depths(wrapping)}
    assert not [d for d, (status, _) in answers.items() if status >= 500], answers
    for depth, (status, problem) in answers.items():
        assert (status, problem["code"]) == (422, "too_deep"), (depth, status, problem)
        assert problem["errors"][0]["loc"] == loc, depth
    status, problem = await _post(client, path, _body(template, JSON_LIMIT + 1 - wrapping))
    assert (status, problem["code"]) == (400, "invalid_json"), (status, problem)
    assert f"nested more than {JSON_LIMIT} deep" in problem["detail"]


async def test_arrays_of_32_dimensions_are_taken(client):
    raw = f'{{"predictions": {_deep(32)}, "targets": {_deep(32)}}}'.encode()
    status, body = await _post(client, "/loss/mse", raw)
    assert status == 200 and body["value"] == 0.0, body


# values echoed in a message: their repr must not recurse either
VALUES = [
    ("/compare", '{"mode": %s}', 1, ["body", "mode"], "invalid_field"),
    ("/compare", '{"loss": "mse", "predictions": [1.0], "targets": [1.0], '
     '"params": {"convention": %s}, "submission": {"value": 1.0}}', 2,
     ["body", "params", "convention"], "unsupported_convention"),
    ("/compare", '{"loss": "huber", "predictions": [1.0], "targets": [1.0], '
     '"params": {"delta": %s}, "submission": {"value": 1.0}}', 2,
     ["body", "params", "delta"], "invalid_param"),
    ("/compare", '{"mode": "losses", "predictions": [1.0], "targets": [1.0], '
     '"losses": [{"loss": "mse", "params": {"convention": %s}}]}', 4,
     ["body", "losses", 0, "params", "convention"], "unsupported_convention"),
    ("/loss/mse", '{"predictions": [1.0], "targets": {"shape": [1], "dtype": %s, '
     '"data": [1.0]}}', 2, ["body", "targets", "dtype"], "unsupported_dtype"),
    ("/loss/mse", '{"predictions": [1.0], "targets": {"shape": [1], "data": [%s]}}', 3,
     ["body", "targets", "data"], "invalid_tensor"),
    ("/loss/huber", '{"predictions": [1.0], "targets": [1.0], "params": {"delta": %s}}', 2,
     ["body", "params", "delta"], "invalid_param"),
]


@pytest.mark.parametrize(("path", "template", "wrapping", "loc", "code"), VALUES,
                         ids=[f"{v[0]}:{'.'.join(map(str, v[3][1:]))}" for v in VALUES])
async def test_deep_values_elsewhere_answer_422(client, path, template, wrapping, loc, code):
    answers = {depth: await _post(client, path, _body(template, depth))
               for depth in (10, 500, 1000, JSON_LIMIT - wrapping)}
    assert not [d for d, (status, _) in answers.items() if status >= 500], answers
    for depth, (status, problem) in answers.items():
        assert (status, problem["code"]) == (422, code), (depth, status, problem)
        assert problem["errors"][0]["loc"] == loc, depth
        assert len(problem["detail"]) < 300, depth  # the value is not echoed whole


# the iterative walks answer what the recursive ones did (their code before, shortened), on
# input shallow enough for recursion

def _first_problem(obj: Any, loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    expected = []
    x = obj
    while isinstance(x, list):
        expected.append(len(x))
        if not x:
            break
        x = x[0]

    def walk(x: Any, depth: int, here: tuple[Any, ...]) -> Any:
        if depth < len(expected):
            if not isinstance(x, list) or len(x) != expected[depth]:
                return ("ragged_array", here)
            for i, item in enumerate(x):
                found = walk(item, depth + 1, (*here, i))
                if found:
                    return found
            return None
        if isinstance(x, list):
            return ("ragged_array", here)
        if isinstance(x, bool) or not isinstance(x, int | float) or (
                isinstance(x, int) and not -(2**63) <= x < 2**63):
            return ("invalid_number", here)
        return None

    return walk(obj, 0, loc) or ("invalid_array", loc)


def _contains_bool_recursively(obj: Any) -> bool:
    if isinstance(obj, bool):
        return True
    if isinstance(obj, list):
        if obj and not isinstance(obj[0], list):
            return any(type(v) is bool for v in obj)
        return any(_contains_bool_recursively(v) for v in obj)
    return False


def _replace_text_recursively(value: Any) -> Any:
    from service.transport.arrays import _TEXT

    if isinstance(value, str) and value in _TEXT:
        return _TEXT[value]
    if isinstance(value, list):
        return [_replace_text_recursively(v) for v in value]
    return value


_leaves = st.one_of(st.integers(-3, 3), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.sampled_from(["NaN", "Infinity", "x"]), st.just(2**63))
_nested = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4), max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(_nested)
def test_iterative_walks_agree_with_recursion(value):
    from service.transport.arrays import _contains_bool, _locate_problem
    from service.transport.arrays import replace_text as _replace_text

    assert repr(_replace_text(value)) == repr(_replace_text_recursively(value))
    first = value
    for _ in range(32):  # (deeper than 32 along the first elements: too_deep, a new answer)
        first = first[0] if isinstance(first, list) and first else None
    assume(not isinstance(first, list))
    code, _, loc = _locate_problem(value, ("body",))
    assert (code, loc) == _first_problem(value, ("body",))
    assert _contains_bool(value) == _contains_bool_recursively(value)
