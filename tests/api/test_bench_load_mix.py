"""The load benchmark's request mix stays valid: each kind gets the status the benchmark expects
(so an "error" in `python -m bench load` is the server's, never a stale request body)."""

from __future__ import annotations

import pytest

from bench.load import _mix

pytestmark = pytest.mark.anyio


async def test_every_kind_of_the_load_mix_gets_its_expected_status(client):
    mix = _mix(0)
    assert sum(k.share for k in mix) == pytest.approx(1.0)
    for kind in mix:
        r = await client.post(kind.path, content=kind.body,
                              headers={"content-type": "application/json"})
        assert r.status_code == kind.expect, (kind.name, r.text[:300])
