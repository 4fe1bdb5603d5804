"""/metrics answers the deployment's own network only (identity's HTTP port also faces the world)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from services.kit import metrics


async def _get(source: str) -> httpx.Response:
    app = Starlette(routes=[metrics.route()])
    transport = httpx.ASGITransport(app=app, client=(source, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp") as client:
        return await client.get("/metrics")


async def test_scrapers_inside_the_network_are_served_and_the_internet_is_not(monkeypatch):
    monkeypatch.delenv("CDP_METRICS_ALLOW", raising=False)
    for inside in ("127.0.0.1", "10.1.2.3", "172.20.0.5", "192.168.1.9", "::1"):
        resp = await _get(inside)
        assert resp.status_code == 200 and "process_cpu_seconds_total" in resp.text, inside
    for outside in ("203.0.113.7", "8.8.8.8", "2001:db8::1"):
        resp = await _get(outside)
        assert resp.status_code == 403 and "process_cpu" not in resp.text, outside


async def test_the_allowed_sources_are_a_setting(monkeypatch):
    monkeypatch.setenv("CDP_METRICS_ALLOW", "203.0.113.0/24")
    assert (await _get("203.0.113.7")).status_code == 200
    assert (await _get("127.0.0.1")).status_code == 403
