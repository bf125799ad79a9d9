"""``/docs`` and ``/redoc`` load nothing from outside the service (an air-gapped cluster sees them).

Always: the pages reference only same-origin URLs, each of which is served with its content type,
and the package ships the files. With a ``chromium`` on the PATH (``apt-get install chromium``,
which CI does; elsewhere the test skips without one, unless ``LOSS_SERVICE_TEST_REQUIRE`` names
``chromium``: tests/toolenv.py): a headless browser whose resolver knows no host but 127.0.0.1
loads the pages from a real server and finds the operations in the rendered DOM.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.api.docs_ui import STATIC_DIR
from tests import toolenv
from tests.serverutil import running_server

ROOT = Path(__file__).resolve().parents[2]
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                 ".png": ("image/png",), ".json": ("application/json",)}


class _Urls(HTMLParser):
    """Every URL an HTML page makes the browser fetch: src, href, and the ``url:`` /
    ``spec-url`` of the UIs' configuration."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]

    def handle_data(self, data: str) -> None:
        self.urls += re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", data)
        self.urls += re.findall(r"""https?://[^\s'"<>)]+""", data)


def urls_of(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.urls


def test_the_url_scan_sees_a_cdn():
    """The scan below would see FastAPI's default pages' CDN, fonts and favicon."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    default = get_swagger_ui_html(openapi_url="/openapi.json", title="t").body.decode()
    assert any(urlsplit(u).netloc for u in urls_of(default))
    redoc = get_redoc_html(openapi_url="/openapi.json", title="t").body.decode()
    assert {urlsplit(u).netloc for u in urls_of(redoc)} >= {"cdn.jsdelivr.net",
                                                            "fonts.googleapis.com"}


pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_pages_reference_only_this_service(client, page):
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = urls_of(r.text)
    assert len(urls) >= 3, urls  # the script, the favicon, the OpenAPI document (and the css)
    assert "/openapi.json" in urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = Path(parts.path).suffix
        media = asset.headers["content-type"].split(";")[0].strip()
        assert media in CONTENT_TYPES[suffix], (url, media)
        assert len(asset.content) > 100, url
    assert "validatorUrl" in r.text or page == "/redoc"  # no online validator badge


async def test_the_pages_follow_the_root_path(app):
    import httpx

    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        html = (await c.get("/docs")).text
    assert "/api/static/swagger-ui/swagger-ui-bundle.js" in urls_of(html)
    assert "/api/openapi.json" in urls_of(html)


async def test_static_files_are_counted_under_one_route(client):
    from prometheus_client.parser import text_string_to_metric_families

    await client.get("/static/redoc/redoc.standalone.js")
    text = (await client.get("/metrics")).text
    routes = {s.labels.get("route") for f in text_string_to_metric_families(text)
              for s in f.samples if s.name == "loss_service_requests_total"}
    assert "/static/{path}" in routes
    assert not any(r and r.startswith("/static/") and r != "/static/{path}" for r in routes)


def test_the_package_ships_the_static_files():
    """``pip install .`` installs what pyproject's package-data names: every vendored file,
    licenses included, is matched by a pattern."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service"]
    files = [p.relative_to(STATIC_DIR.parent).as_posix() for p in STATIC_DIR.rglob("*")
             if p.is_file()]
    assert {"static/swagger-ui/swagger-ui-bundle.js", "static/swagger-ui/LICENSE",
            "static/redoc/redoc.standalone.js", "static/redoc/LICENSE"} <= set(files)
    for f in files:  # setuptools globs: "*" does not cross "/"
        assert any(fnmatch.fnmatch(f, p) and f.count("/") == p.count("/") for p in patterns), f


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or \
    shutil.which("google-chrome")


def dump_dom(url: str, profile: Path) -> str:
    """The DOM after the page ran (headless, virtual time), every host but 127.0.0.1
    unresolvable: the network is off except for this service."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={profile}",
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
               "--virtual-time-budget=30000", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_a_browser_without_network_sees_the_operations(tmp_path):
    if CHROMIUM is None:
        toolenv.missing("chromium", "needs chromium (apt-get install chromium)")
    with running_server() as (url, _):
        swagger = dump_dom(f"{url}/docs", tmp_path / "a")
        redoc = dump_dom(f"{url}/redoc", tmp_path / "b")
    for operation in ("loss-mse", "gradient-cross_entropy", "compare", "version"):
        assert re.search(rf'id="operations-[a-z]+-{operation}"', swagger), operation
        assert f'id="operation/{operation}"' in redoc, operation
