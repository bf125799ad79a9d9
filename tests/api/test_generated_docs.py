"""Generated artifacts are current: openapi/openapi.json and the generated pages docs/losses.md
and docs/errors.md; the operators' guide documents every setting; the document's 422s are ones a
request can get."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main as cli
from service.cli import openapi_text
from service.docgen import generated_pages
from service.main import create_app

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


def test_openapi_file_is_current():
    committed = (ROOT / "openapi" / "openapi.json").read_text()
    assert committed == openapi_text(), "openapi/openapi.json is stale: run `loss-service openapi`"


def test_operation_ids_are_stable_and_unique():
    doc = create_app().openapi()
    ids = [op["operationId"] for p in doc["paths"].values() for op in p.values()]
    assert len(ids) == len(set(ids))
    assert "loss-mse" in ids and "gradient-mse" in ids and "list-losses" in ids


def test_every_route_documents_errors():
    doc = create_app().openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method == "post" and path.startswith("/v2/"):
                # the Open Inference Protocol's infer: any content type, and 400 for what the
                # native routes answer with 422
                assert {"400", "404", "413"} <= set(op["responses"]), (path, method)
                assert not {"415", "422"} & set(op["responses"]), (path, method)
            elif method == "post":
                assert {"400", "413", "415", "422"} <= set(op["responses"]), (path, method)
                body = op["requestBody"]["content"]["application/json"]
                assert body["schema"]["$ref"].split("/")[-1] in doc["components"]["schemas"]
    # API keys: both schemes declared; every operation but the open probes says 401
    assert {"ApiKeyHeader", "BearerAuth"} <= set(doc["components"]["securitySchemes"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op.get("security") == []:  # no key needed: the probes and /metrics
                assert "401" not in op["responses"], (path, method)
            else:
                assert "401" in op["responses"], (path, method)
    # every $ref resolves
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in doc["components"]["schemas"], ref


async def test_a_documented_422_is_one_a_request_can_get(client):
    # FastAPI documents a 422 for any operation with parameters; the document keeps it only
    # where validation can refuse something (a body, a parameter that is not a plain string)
    doc = create_app().openapi()
    for path in ("/losses/{name}", "/compare/mistakes"):
        assert "422" not in doc["paths"][path]["get"]["responses"], path
    assert "422" in doc["paths"]["/cases/{name}"]["get"]["responses"]
    for path, query in (("/losses/%20%22%00", ""), ("/compare/mistakes", "?loss=%00%ff")):
        r = await client.get(path + query)
        assert r.status_code == 404, (path, r.status_code)  # an unknown loss, never a 422
    assert (await client.get("/cases/mse?n=-3")).status_code == 422


def test_generated_pages_are_current():
    for name, text in generated_pages().items():
        path = ROOT / "docs" / name
        assert path.exists() and path.read_text() == text, (
            f"docs/{name} is stale: run `loss-service docs`")


def test_docs_check_command(tmp_path, capsys):
    assert cli(["docs", "--check"]) == 0  # the committed pages
    assert cli(["docs", "--dir", str(tmp_path), "--check"]) == 1  # absent: stale, none written
    assert not list(tmp_path.iterdir())
    assert cli(["docs", "--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.md", "losses.md"]
    (tmp_path / "losses.md").write_text("edited by hand\n")
    assert cli(["docs", "--dir", str(tmp_path), "--check"]) == 1
    assert "losses.md is stale" in capsys.readouterr().err


def test_losses_page_lists_every_loss_and_alias():
    from service.losses import ALIASES, LOSSES

    page = (ROOT / "docs" / "losses.md").read_text()
    assert [n for n in (*LOSSES, *ALIASES) if f"`{n}`" not in page] == []


def test_operations_guide_documents_every_setting():
    from service.config import Settings

    guide = (ROOT / "docs" / "operations.md").read_text()
    start = guide.index("\n## Configuration\n")
    table = guide[start:guide.index("\n## ", start + 1)]  # a row per setting
    missing = [name for name in Settings.model_fields
               if f"| `LOSS_SERVICE_{name.upper()}` |" not in table]
    assert not missing, f"settings missing from docs/operations.md's configuration table: {missing}"
