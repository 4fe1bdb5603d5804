"""The console's static server: files, the single-page fallback, and /graphql passed through.

A real server on a free port in front of a real HTTP server standing in for the gateway
(tests.helpers.Sink records what reaches it).
"""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.helpers import Sink
from tools.console_server import ConsoleServer


@pytest.fixture
def served(tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<div id=root></div>")
    (dist / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside dist")
    gateway = Sink()
    server = ConsoleServer(("127.0.0.1", 0), dist, f"{gateway.url}/graphql")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", gateway
    server.shutdown()
    server.server_close()
    gateway.close()


def test_files_with_a_single_page_fallback_and_nothing_outside_dist(served):
    url, _ = served
    asset = httpx.get(f"{url}/assets/app-1234.js")
    assert asset.text == "console.log(1)"
    assert "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    for path in ("/", "/people/u00001", "/%2e%2e/secret.txt"):
        page = httpx.get(url + path)
        assert (page.status_code, page.text) == (200, "<div id=root></div>"), path
        assert page.headers["cache-control"] == "no-cache"
    assert httpx.get(f"{url}/config.json").json() == {"graphqlUrl": "/graphql"}


def test_graphql_goes_to_the_gateway_with_the_operator_token_and_nothing_else(served):
    url, gateway = served
    for n in range(3):  # the kept-alive connection serves them all
        resp = httpx.post(
            f"{url}/graphql",
            json={"query": "{ me { role } }", "n": n},
            headers={"authorization": "Bearer op-token", "cookie": "session=abc", "x-workspace-id": "demo"},
        )
        assert resp.status_code == 200 and resp.text == "ok"
    received = gateway.at("/graphql")
    assert [r.body["n"] for r in received] == [0, 1, 2]
    assert received[0].headers["authorization"] == "Bearer op-token"
    assert received[0].headers["x-workspace-id"] == "demo"
    assert "cookie" not in received[0].headers
    assert httpx.post(f"{url}/elsewhere", json={}).status_code == 404
