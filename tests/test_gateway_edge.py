"""The GraphQL edge's abuse limits and hygiene, against the real Hive Gateway and subgraphs.

The session's gateway and subgraphs run in production mode (no CDP_DEV_MODE) with no CORS
origins; a second gateway in dev mode with two listed origins covers the other side, and a
third one, whose supergraph points segment at a closed port, fails for real to show how an
unexpected error is answered.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from services.identity.graphql_api import build_schema as identity_schema
from services.kit.graphql import graphql_app
from tests.helpers import claims_token
from tools.stack import SERVICES, free_port

LISTED = ("https://console.example", "https://admin.example")
UNLISTED = "https://evil.example"
CORRELATION_ID = re.compile(r"^[0-9a-f]{32}$")

README_EXAMPLE = """
{
  person(identity: {type: "user_id", value: "u00001"}) {
    id uid identities { type value }
    traits computed { orderCount revenue averageOrderValue lastOrderAt }
    segments { name } messages { status }
  }
  previewSegment(rule: "traits.vip = true AND traits.city = \\"上海\\"") { count elapsedMs }
}
"""
# A console-style page: 100 members with what the console shows of each (depth 6, cost 8,711).
MEMBER_PAGE = """
query($id: ID!) { segment(id: $id) { members(first: 100) {
  edges { cursor node { id uid traits computed { orderCount revenue } segments { name } } }
  pageInfo { hasNextPage endCursor } } } }
"""


def _nest(fields: list[str], leaf: str = "id") -> str:
    inner = leaf
    for name in reversed(fields):
        inner = f"{name} {{ {inner} }}"
    return f"{{ {inner} }}"


CYCLE = ["members", "edges", "node", "segments"]
# The review's findings, and one over each remaining limit.
REFUSED = {
    "maxDepth": _nest((['person(id: "p")', "segments"] + CYCLE * 5)[:21]),  # 22 levels
    "maxAliases": "{ " + " ".join(f'a{i}: person(id: "p{i}") {{ id }}' for i in range(50)) + " }",
    "maxTokens": "{ " + " ".join(["__typename"] * 1200) + " }",
    "maxCost": '{ segment(id: "s") { members(first: 2000) { edges { node { id uid } } } } }',
}
# Segment.members -> Person.segments, nested twice: depth 10.
CYCLE_NESTED = _nest(["segments"] + CYCLE * 2)


def post(url: str, query: str, variables: dict | None = None, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        url,
        json={"query": query, "variables": variables or {}},
        headers={"x-workspace-id": "ws_edge", "authorization": f"Bearer {claims_token('ws_edge')}", **(headers or {})},
        timeout=15,
    )


@pytest.fixture(scope="module")
def dev_gateway(suite):
    port = free_port()
    name = suite.start_gateway("gateway-dev", port, CDP_DEV_MODE="1", CDP_CORS_ORIGINS=f" {LISTED[0]}, {LISTED[1]} ")
    yield f"http://127.0.0.1:{port}/graphql"
    suite.stop_process(name)


@pytest.fixture(scope="module")
def broken_gateway(suite):
    """A production gateway that finds segment's subgraph unreachable."""
    closed = free_port()
    text = (
        suite.runtime_supergraph()
        .read_text()
        .replace(suite.http_url("segment") + "/graphql", f"http://127.0.0.1:{closed}/graphql")
    )
    supergraph = suite.data_dir / "supergraph-segment-unreachable.graphql"
    supergraph.write_text(text)
    port = free_port()
    name = suite.start_gateway("gateway-broken", port, supergraph)
    yield name, f"http://127.0.0.1:{port}/graphql"
    suite.stop_process(name)


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-workspace-id",
        },
    )


# -- CORS ----------------------------------------------------------------------------


def test_no_cors_origins_configured_means_no_cross_origin_access(suite):
    for response in (
        _preflight(suite.gateway_url, LISTED[0]),
        post(suite.gateway_url, "{ __typename }", headers={"origin": LISTED[0]}),
    ):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers
    assert post(suite.gateway_url, "{ __typename }").json() == {"data": {"__typename": "Query"}}


def test_only_listed_origins_get_cors_with_credentials(dev_gateway):
    for origin in LISTED:
        preflight = _preflight(dev_gateway, origin)
        assert preflight.headers["access-control-allow-origin"] == origin
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "x-workspace-id" in preflight.headers["access-control-allow-headers"]
        response = post(dev_gateway, "{ __typename }", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
    for response in (
        _preflight(dev_gateway, UNLISTED),
        post(dev_gateway, "{ __typename }", headers={"origin": UNLISTED}),
    ):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers


# -- limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "query"), [*REFUSED.items(), ("maxDepth", CYCLE_NESTED)], ids=[*REFUSED, "cycle-nested"]
)
def test_limits_refuse_with_one_stable_code(suite, limit, query):
    body = post(suite.gateway_url, query).json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    assert error["extensions"]["limit"] == limit
    assert limit in error["message"] and str(error["extensions"]["max"]) in error["message"]
    assert "Syntax Error" not in error["message"]


def test_the_limits_hold_in_dev_mode_too(dev_gateway):
    [error] = post(dev_gateway, CYCLE_NESTED).json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_real_queries_pass_the_limits(suite):
    from tests.test_e2e import PERSON

    for query, variables in (
        (README_EXAMPLE, {}),
        (PERSON, {"type": "user_id", "value": "u1"}),
        (MEMBER_PAGE, {"id": "no-such-segment"}),
        (_nest(["segments", "members", "edges", "node", "segments"], "name"), {}),
    ):
        body = post(suite.gateway_url, query, variables).json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        assert "QUERY_TOO_COMPLEX" not in codes and "GRAPHQL_VALIDATION_FAILED" not in codes, body


# -- modes: introspection, GraphiQL, suggestions ----------------------------------------

MISSPELT = "{ segmnts { id } }"


def _serves_ide(url: str) -> bool:
    """GraphiQL (strawberry) or Hive Laboratory (the gateway's GraphiQL) on a browser's GET."""
    response = httpx.get(url, headers={"accept": "text/html"}, timeout=15)
    page = response.text.lower()
    return response.status_code == 200 and ("graphiql" in page or "laboratory" in page)


def test_gateway_in_production_mode_hides_the_schema(suite):
    body = post(suite.gateway_url, "{ __schema { queryType { name } } }").json()
    assert body.get("data") is None and body["errors"], body
    assert post(suite.gateway_url, '{ __type(name: "Person") { name } }').json().get("data") is None
    [error] = post(suite.gateway_url, MISSPELT).json()["errors"]
    assert "segmnts" in error["message"] and "Did you mean" not in error["message"]
    [error] = post(suite.gateway_url, '{ person(idd: "p") { id } }').json()["errors"]
    assert "idd" in error["message"] and "Did you mean" not in error["message"]
    assert not _serves_ide(suite.gateway_url)
    landing = httpx.get(suite.gateway_url.removesuffix("/graphql") + "/", headers={"accept": "text/html"})
    assert "graphiql" not in landing.text.lower() and "Hive Gateway" not in landing.text


def test_gateway_in_dev_mode_shows_the_schema(dev_gateway):
    body = post(dev_gateway, "{ __schema { queryType { name } } }").json()
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    [error] = post(dev_gateway, MISSPELT).json()["errors"]
    assert "Did you mean" in error["message"]
    assert _serves_ide(dev_gateway)


@pytest.mark.parametrize("service", SERVICES)
def test_subgraphs_in_production_mode_hide_the_schema_but_serve_federation(suite, service):
    url = suite.http_url(service) + "/graphql"
    sdl = post(url, "{ _service { sdl } }").json()["data"]["_service"]["sdl"]
    assert "type Query" in sdl
    body = post(url, "{ __schema { queryType { name } } }").json()
    assert body.get("data") is None and "introspection" in body["errors"][0]["message"]
    [error] = post(url, "{ persn { id } }").json()["errors"]
    assert "persn" in error["message"] and "Did you mean" not in error["message"]
    [error, *_] = post(url, "{ _entities(representation: []) { __typename } }").json()["errors"]
    assert "representation" in error["message"] and "Did you mean" not in error["message"]
    assert not _serves_ide(url)


async def test_a_subgraph_in_dev_mode_shows_the_schema(monkeypatch):
    monkeypatch.setenv("CDP_DEV_MODE", "1")
    schema = identity_schema()
    result = await schema.execute("{ __schema { queryType { name } } }")
    assert result.errors is None and result.data == {"__schema": {"queryType": {"name": "Query"}}}
    for misspelt in ("{ persn { id } }", "{ _entities(representation: []) { __typename } }"):
        result = await schema.execute(misspelt)
        assert "Did you mean" in result.errors[0].message

    async def no_context(request):  # GraphiQL is served without running a query
        return {}

    app = graphql_app(schema, no_context)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://subgraph") as client:
        page = await client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


# -- unexpected errors ------------------------------------------------------------------


def _log_lines_with(path, correlation_id: str) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if correlation_id in line]


def test_a_subgraph_crash_answers_internal_with_a_correlation_id(suite):
    # An entity representation without its key: the resolver is called without `id` (a TypeError).
    body = post(
        suite.http_url("identity") + "/graphql",
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { id } } }",
        {"r": [{"__typename": "Person"}]},
    ).json()
    [error] = body["errors"]
    correlation_id = error["extensions"]["correlationId"]
    assert error["extensions"] == {"code": "INTERNAL", "correlationId": correlation_id}
    assert CORRELATION_ID.match(correlation_id)
    assert error["message"] == f"internal error (correlation id {correlation_id})"
    assert "positional argument" not in json.dumps(body) and "TypeError" not in json.dumps(body)
    [line] = _log_lines_with(suite.data_dir / "logs" / "identity.log", correlation_id)
    logged = json.loads(line)
    assert logged["level"] == "error" and "TypeError" in logged["exc"] and "Traceback" in logged["exc"]


def test_a_gateway_failure_answers_internal_with_a_correlation_id(suite, broken_gateway):
    name, url = broken_gateway
    body = post(url, "{ segments { id } }").json()
    [error] = body["errors"]
    correlation_id = error["extensions"]["correlationId"]
    assert error["extensions"] == {"code": "INTERNAL", "correlationId": correlation_id}
    assert CORRELATION_ID.match(correlation_id)
    assert "ECONNREFUSED" not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)
    # Subgraphs that answer still do; their coded errors pass through unchanged.
    [refusal] = post(url, '{ person(identity: {type: "", value: ""}) { id } }').json()["errors"]
    assert refusal["extensions"]["code"] == "BAD_USER_INPUT" and refusal["extensions"]["serviceName"] == "identity"
    [line] = _log_lines_with(suite.data_dir / "logs" / f"{name}.log", correlation_id)
    assert "ECONNREFUSED" in json.loads(line)["exc"]


# -- rate limits ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict_gateway(suite):
    # One token per 20 s: under CI load six requests can take six seconds, and a
    # faster refill (0.5/s) let all six through once.
    port = free_port()
    name = suite.start_gateway("gateway-strict", port, CDP_RATE_PER_CREDENTIAL="0.05:3", CDP_RATE_PER_ADDRESS="0.05:3")
    yield f"http://127.0.0.1:{port}/graphql"
    suite.stop_process(name)


def test_a_credential_over_its_rate_gets_429_with_retry_after_and_others_go_on(strict_gateway):
    answers = [post(strict_gateway, "{ segments { id } }") for _ in range(6)]
    assert [a.status_code for a in answers[:3]] == [200] * 3, [a.text for a in answers]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # Another credential has its own bucket.
    other = post(
        strict_gateway,
        "{ segments { id } }",
        headers={"authorization": f"Bearer {claims_token('ws_edge2')}", "x-workspace-id": "ws_edge2"},
    )
    assert other.status_code == 200, other.text


def test_requests_without_a_credential_are_limited_per_address(strict_gateway):
    codes = [
        httpx.post(strict_gateway, json={"query": "{ segments { id } }"}, timeout=15).status_code for _ in range(6)
    ]
    assert codes[:3] == [200] * 3 and 429 in codes, codes
