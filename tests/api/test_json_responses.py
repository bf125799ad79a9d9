"""Large JSON result arrays are serialized a block of rows at a time (and, from
LAZY_JSON_ELEMENTS, while the response is sent): the bytes are those of one orjson document."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.transport import json_out as encoding

pytestmark = pytest.mark.anyio


def _joined(parts: list) -> bytes:
    return b"".join(bytes(p) for part in parts
                    for p in (part if isinstance(part, encoding.LazyJson) else (part,)))


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
                  elements=st.floats(allow_nan=False, allow_infinity=False)),
       st.integers(1, 40), st.booleans())
def test_spliced_json_equals_one_document(a, block, lazy):
    """Any shape, any block size (the blocks restart mid-array, or hold one row or less)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(encoding, "SPLICE_JSON_ELEMENTS", block)
        mp.setattr(encoding, "LAZY_JSON_ELEMENTS", block if lazy else 10**9)
        splices = encoding.Splices()
        held = encoding.encode_array(a, splices=splices)
        doc = orjson.dumps({"gradient": held, "value": 1.5, "gradients": {"predictions": held}},
                           option=orjson.OPT_SERIALIZE_NUMPY)
        got = _joined(splices.splice(doc))
    want = orjson.dumps({"gradient": a, "value": 1.5, "gradients": {"predictions": a}},
                        option=orjson.OPT_SERIALIZE_NUMPY)
    assert got == want
    if a.size >= block:  # held: the lazy text can be iterated again, with the same bytes
        parts = splices.splice(doc)
        assert _joined(parts) == _joined(parts)


@pytest.mark.parametrize("lazy", [False, True])
async def test_large_json_responses_are_the_ordinary_bytes(client, monkeypatch, lazy):
    rng = np.random.default_rng(9)
    body = {"predictions": rng.normal(size=(3000, 7)).tolist(),
            "targets": rng.integers(0, 7, 3000).tolist()}
    plain = await client.post("/gradient/cross_entropy", json=body)
    monkeypatch.setattr(encoding, "SPLICE_JSON_ELEMENTS", 500)
    monkeypatch.setattr(encoding, "LAZY_JSON_ELEMENTS", 2000 if lazy else 10**9)
    spliced = await client.post("/gradient/cross_entropy", json=body)
    assert plain.status_code == spliced.status_code == 200
    assert spliced.content == plain.content
    # serialized as sent: no length known beforehand (sent chunked)
    assert ("content-length" in spliced.headers) is not lazy


@pytest.mark.parametrize("lazy", [False, True])
async def test_large_compare_responses_are_the_ordinary_bytes(client, monkeypatch, lazy):
    """/compare's reference arrays (grade) and per-sample losses (losses) are spliced too."""
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(600, 5)), rng.integers(0, 5, 600)
    common = {"predictions": x.tolist(), "targets": y.tolist()}
    bodies = [
        {**common, "loss": "cross_entropy", "include_reference": True,
         "submission": {"gradient": np.zeros((600, 5)).tolist()}},
        {**common, "mode": "losses", "losses": [{"loss": "cross_entropy"},
                                                {"loss": "multi_margin"}]},
    ]
    plain = [await client.post("/compare", json=b) for b in bodies]
    monkeypatch.setattr(encoding, "SPLICE_JSON_ELEMENTS", 100)
    monkeypatch.setattr(encoding, "LAZY_JSON_ELEMENTS", 500 if lazy else 10**9)
    for body, want in zip(bodies, plain, strict=True):
        got = await client.post("/compare", json=body)
        assert got.status_code == want.status_code == 200
        assert got.content == want.content
