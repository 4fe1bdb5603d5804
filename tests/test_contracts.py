"""Generated artefacts must match their sources: protobuf stubs and the supergraph."""

from __future__ import annotations

import pytest

from tools import export_sdl, gen_protos
from tools.stack import ROOT


def test_committed_stubs_match_a_fresh_generation(tmp_path):
    fresh = gen_protos.generate(tmp_path)
    committed = sorted(p for p in (ROOT / "cdp").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert [p.relative_to(tmp_path) for p in fresh] == [p.relative_to(ROOT) for p in committed], (
        "stub files differ; run: python tools/gen_protos.py"
    )
    for new in fresh:
        old = ROOT / new.relative_to(tmp_path)
        assert new.read_bytes() == old.read_bytes(), f"{old} is stale; run: python tools/gen_protos.py"


def test_every_grpc_service_is_named_in_the_stubs():
    from cdp.identity.v1 import identity_pb2
    from cdp.messaging.v1 import messaging_pb2
    from cdp.profile.v1 import profile_pb2
    from cdp.segment.v1 import segment_pb2

    methods = {
        "IdentityService": (
            identity_pb2,
            {"Resolve", "Lookup", "GetPerson", "Merge", "Unmerge", "ListMerges", "Forget"},
        ),
        "ProfileService": (
            profile_pb2,
            {"GetProfile", "BatchGetProfiles", "UpsertTraits", "AssignTags", "GetTimeline"},
        ),
        "SegmentService": (
            segment_pb2,
            {"CreateSegment", "Preview", "Count", "IsMember", "StreamMembers", "Retention"},
        ),
        "MessagingService": (messaging_pb2, {"Send", "SendBatch", "GetMessage", "GetStats", "Render"}),
    }
    for service, (module, expected) in methods.items():
        names = {m.name for m in module.DESCRIPTOR.services_by_name[service].methods}
        assert expected <= names, f"{service} lacks {expected - names}"


@pytest.mark.skipif(not (ROOT / "gateway" / "node_modules").exists(), reason="npm ci has not run in gateway/")
def test_committed_subgraphs_and_supergraph_are_fresh(tmp_path):
    fresh = tmp_path / "subgraphs"
    export_sdl.write_subgraphs(fresh)
    for path in sorted(fresh.iterdir()):
        committed = export_sdl.SUBGRAPHS / path.name
        assert committed.exists() and committed.read_text() == path.read_text(), (
            f"{committed} is stale; run: python -m tools.export_sdl"
        )
    result = export_sdl.compose("--check", "--subgraphs", str(fresh))
    assert result.returncode == 0, result.stdout + result.stderr


def test_supergraph_composes_person_from_all_four_subgraphs():
    text = (ROOT / "gateway" / "supergraph.graphql").read_text()
    person = next(line for line in text.splitlines() if line.startswith("type Person "))
    for graph in ("IDENTITY", "PROFILE", "SEGMENT", "MESSAGING"):
        assert f'@join__type(graph: {graph}, key: "id")' in person
