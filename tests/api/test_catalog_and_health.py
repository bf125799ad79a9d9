"""GET /losses, /losses/{name}, /healthz, /readyz, /version."""

from __future__ import annotations

import httpx
import pytest

from service.losses import LOSSES, get_loss
from service.main import create_app

pytestmark = pytest.mark.anyio


async def test_catalog_lists_every_loss(client):
    r = await client.get("/losses")
    assert r.status_code == 200
    data = r.json()
    assert data["count"] == len(LOSSES)
    names = [e["name"] for e in data["losses"]]
    assert sorted(names) == sorted(LOSSES)
    for entry in data["losses"]:
        spec = get_loss(entry["name"])
        assert entry["aliases"] == list(spec.aliases)
        assert entry["formula"] == spec.formula and entry["reference"]
        assert entry["differentiable"] == spec.differentiable
        assert [i["name"] for i in entry["inputs"]] == list(spec.input_names)
        assert all(i["meaning"] and i["shape"] for i in entry["inputs"])
        assert set(entry["params"]) == {p.name for p in spec.params}
        for schema in entry["params"].values():
            assert "default" in schema


async def test_catalog_entry_by_alias(client):
    r = await client.get("/losses/mean_squared_error")
    assert r.status_code == 200 and r.json()["name"] == "mse"
    r = await client.get("/losses/msse")
    assert r.status_code == 404 and r.json()["code"] == "unknown_loss"
    assert "mse" in r.json()["suggestions"]


async def test_health_ready_version(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["backends"]["numpy"]["available"] is True
    v = (await client.get("/version")).json()
    assert v["service"] and v["numpy"] and v["default_backend"] == "numpy"
    assert v["backends"]["numpy"]["available"] is True
    cupy = v["backends"]["cupy"]
    assert cupy["available"] or cupy["reason"]  # never unavailable without saying why


async def test_not_ready_before_warm_up():
    app = create_app()  # lifespan not run: no warm-up yet
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["code"] == "not_ready"
        assert (await c.get("/healthz")).status_code == 200


async def test_catalog_is_served_with_an_etag_and_revalidates_to_304(client):
    from service.api.routes.catalog import Catalog, LossEntry

    r = await client.get("/losses")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    etag = r.headers["etag"]
    assert Catalog.model_validate(r.json()).count == len(LOSSES)  # its own model, whole
    again = await client.get("/losses")
    assert again.content == r.content and again.headers["etag"] == etag
    cached = await client.get("/losses", headers={"if-none-match": etag})
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["etag"] == etag
    stale = await client.get("/losses", headers={"if-none-match": '"other"'})
    assert stale.status_code == 200 and stale.content == r.content

    one = await client.get("/losses/l2")  # an alias: the canonical entry, the same ETag
    assert LossEntry.model_validate(one.json()).name == "mse"
    mse = await client.get("/losses/mse")
    assert mse.content == one.content and mse.headers["etag"] == one.headers["etag"] != etag
    assert (await client.get("/losses/mse", headers={"if-none-match": one.headers["etag"]})
            ).status_code == 304
