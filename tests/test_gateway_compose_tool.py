"""Tests for gateway/compose.mjs (supergraph composition with @theguild/federation-composition).

Runs the real Node tool on small federation-2.9 subgraph SDLs (in the shape
strawberry's ``schema.as_str()`` prints them) written to a temp directory.
Skipped when node or gateway/node_modules is missing (run ``npm ci`` in gateway/).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

GATEWAY_DIR = Path(__file__).resolve().parent.parent / "gateway"
COMPOSE = GATEWAY_DIR / "compose.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (GATEWAY_DIR / "node_modules" / "@theguild" / "federation-composition").is_dir(),
    reason="node or gateway/node_modules missing (run `npm ci` in gateway/)",
)

ALPHA = """\
schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"]) {
  query: Query
}

type Person @key(fields: "id") {
  id: ID!
  uid: Int!
}

type Query {
  _entities(representations: [_Any!]!): [_Entity]!
  _service: _Service!
  person(id: ID!): Person
}

scalar _Any

union _Entity = Person

type _Service {
  sdl: String!
}
"""

# Same shape as the `_service { sdl }` / federation export form: `extend schema`.
BETA = """\
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])

type Person @key(fields: "id") {
  id: ID!
  traits: String
}

type Query {
  _entities(representations: [_Any!]!): [_Entity]!
  _service: _Service!
}

scalar _Any

union _Entity = Person

type _Service {
  sdl: String!
}
"""

URLS = {"alpha": "http://alpha:4001/graphql", "beta": "http://beta:4002/graphql"}


def _write_subgraphs(directory: Path, sdls: dict[str, str], urls: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sdl in sdls.items():
        (directory / f"{name}.graphql").write_text(sdl)
    (directory / "urls.json").write_text(json.dumps(urls))
    return directory


def _compose(subgraphs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NODE, str(COMPOSE), "--subgraphs", str(subgraphs), "--out", str(out), *extra],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def subgraphs(tmp_path: Path) -> Path:
    return _write_subgraphs(tmp_path / "subgraphs", {"alpha": ALPHA, "beta": BETA}, URLS)


def test_compose_writes_supergraph(subgraphs: Path, tmp_path: Path) -> None:
    out = tmp_path / "supergraph.graphql"
    res = _compose(subgraphs, out)
    assert res.returncode == 0, res.stderr
    sdl = out.read_text()
    assert 'ALPHA @join__graph(name: "alpha", url: "http://alpha:4001/graphql")' in sdl
    assert 'BETA @join__graph(name: "beta", url: "http://beta:4002/graphql")' in sdl
    assert "uid: Int! @join__field(graph: ALPHA)" in sdl
    assert "traits: String @join__field(graph: BETA)" in sdl
    assert "person(id: ID!): Person @join__field(graph: ALPHA)" in sdl
    # federation plumbing of the subgraphs is not part of the supergraph API
    assert "_entities" not in sdl and "_service" not in sdl
    assert sdl.endswith("\n")


def test_check_passes_when_up_to_date_and_fails_when_stale(subgraphs: Path, tmp_path: Path) -> None:
    out = tmp_path / "supergraph.graphql"
    assert _compose(subgraphs, out).returncode == 0
    ok = _compose(subgraphs, out, "--check")
    assert ok.returncode == 0, ok.stderr

    (subgraphs / "beta.graphql").write_text(BETA.replace("traits: String", "traits: String\n  score: Int"))
    before = out.read_text()
    stale = _compose(subgraphs, out, "--check")
    assert stale.returncode == 1
    assert "out of date" in stale.stderr
    assert out.read_text() == before, "--check must not rewrite the file"

    missing = _compose(subgraphs, tmp_path / "nope.graphql", "--check")
    assert missing.returncode == 1
    assert not (tmp_path / "nope.graphql").exists()


def test_output_is_deterministic_regardless_of_file_creation_order(
    tmp_path: Path,
) -> None:
    a = _write_subgraphs(tmp_path / "a", {"alpha": ALPHA, "beta": BETA}, URLS)
    b = _write_subgraphs(tmp_path / "b", {"beta": BETA, "alpha": ALPHA}, dict(reversed(URLS.items())))
    assert _compose(a, tmp_path / "a.graphql").returncode == 0
    assert _compose(b, tmp_path / "b.graphql").returncode == 0
    assert (tmp_path / "a.graphql").read_text() == (tmp_path / "b.graphql").read_text()


def test_composition_error_exits_non_zero(tmp_path: Path) -> None:
    # strawberry camelCases field names but not @key(fields:) strings
    bad = ALPHA.replace('@key(fields: "id")', '@key(fields: "person_id")')
    subgraphs = _write_subgraphs(tmp_path / "s", {"alpha": bad, "beta": BETA}, URLS)
    out = tmp_path / "supergraph.graphql"
    res = _compose(subgraphs, out)
    assert res.returncode != 0
    assert "KEY_INVALID_FIELDS" in res.stderr
    assert not out.exists()


def test_unsupported_federation_version_is_rejected(tmp_path: Path) -> None:
    v211 = ALPHA.replace("federation/v2.9", "federation/v2.11")
    subgraphs = _write_subgraphs(tmp_path / "s", {"alpha": v211, "beta": BETA}, URLS)
    res = _compose(subgraphs, tmp_path / "supergraph.graphql")
    assert res.returncode != 0
    assert "v2.11" in res.stderr


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ({"alpha": URLS["alpha"]}, 'no URL for subgraph "beta"'),
        ({**URLS, "gamma": "http://gamma:4003/graphql"}, 'urls.json names "gamma"'),
    ],
)
def test_urls_json_must_match_sdl_files(tmp_path: Path, urls: dict[str, str], message: str) -> None:
    subgraphs = _write_subgraphs(tmp_path / "s", {"alpha": ALPHA, "beta": BETA}, urls)
    res = _compose(subgraphs, tmp_path / "supergraph.graphql")
    assert res.returncode != 0
    assert message in res.stderr


def test_committed_supergraph_is_up_to_date() -> None:
    """gateway/supergraph.graphql must be regenerated whenever gateway/subgraphs/ changes."""
    if not (GATEWAY_DIR / "subgraphs" / "urls.json").exists():
        pytest.skip("gateway/subgraphs/urls.json not exported yet")
    res = subprocess.run(
        [NODE, str(COMPOSE), "--check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
