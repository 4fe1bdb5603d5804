"""Tags and retention through merge and unmerge, against the running service."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from cdp.profile.v1 import profile_pb2
from services.kit.clock import FixedClock
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import mongo_db, produce
from tests.profile_support import order, profile_fixture, send, stub_fixture, with_events  # noqa: F401 (fixtures)
from tests.test_profile import get_profile, resolved
from tests.test_profile_merge import merged, unmerged

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def tags_of(p) -> dict:
    return {t.name: (t.value, round(t.confidence, 4), t.source) for t in p.tags}


def assign(stub, ws, person, *tags):
    stub.AssignTags(profile_pb2.AssignTagsRequest(workspace_id=ws, person_ids=[person], tags=list(tags)))


def test_merge_unites_tags_by_confidence_and_unmerge_gives_them_back(profile, stub, workspace_id):
    ws, w, lo = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}"
    send(profile, [order(ws, w, 1, 20, NOW), order(ws, lo, 2, 30, NOW)])
    with_events(profile, ws, w, 1)
    with_events(profile, ws, lo, 1)
    assign(stub, ws, w, profile_pb2.TagAssignment(name="smart_shopper", confidence=0.5))
    assign(
        stub,
        ws,
        lo,
        profile_pb2.TagAssignment(name="smart_shopper", confidence=0.9, source="partner"),
        profile_pb2.TagAssignment(name="vip_level", value="gold"),
    )
    merge = merged(ws, w, 1, lo, 2)
    produce(profile, [(Topics.IDENTITY_MERGED, w, merge)])
    got = with_events(profile, ws, w, 2)
    tags = tags_of(got)
    assert tags["smart_shopper"] == ("true", 0.9, "partner") and tags["vip_level"] == ("gold", 1.0, "own")
    assert tags["rfm_group"][2] == "computed" and got.computed.ltv == pytest.approx(50)

    # An operator's removal on the merged person holds for both sides after an unmerge.
    stub.RemoveTags(profile_pb2.RemoveTagsRequest(workspace_id=ws, person_id=lo, names=["vip_level"]))
    assert "vip_level" not in tags_of(get_profile(profile, ws, w))

    produce(profile, [(Topics.IDENTITY_UNMERGED, w, unmerged(merge))])
    restored = eventually(lambda: (p := get_profile(profile, ws, lo)) and p.person_id == lo and p)
    assert tags_of(restored)["smart_shopper"] == ("true", 0.9, "partner") and "vip_level" not in tags_of(restored)
    winner = with_events(profile, ws, w, 1)
    assert tags_of(winner)["smart_shopper"] == ("true", 0.5, "own") and "vip_level" not in tags_of(winner)


def _retention(stack, clock):
    from pymongo import AsyncMongoClient

    from services.profile.retention import Retention
    from services.profile.rulebook import Rulebook
    from services.profile.store import ProfileStore

    async def run() -> int:
        client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
        db = client[stack.mongo_db]
        try:
            return await Retention(client, ProfileStore(db), clock, Rulebook(db, ttl=0)).run_once()
        finally:
            await client.close()

    return asyncio.run(run())


def test_retention_prunes_old_events_and_a_later_merge_still_counts_them(profile, stub, workspace_id):
    ws, w, lo = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}"
    stub.UpdateSettings(profile_pb2.UpdateSettingsRequest(workspace_id=ws, retention_days=90))
    send(
        profile,
        [
            resolved(ws, w, 1, kind="identify", name="", traits={"tier": "silver"}, at=NOW - 200 * DAY),
            order(ws, w, 1, 100, NOW - 150 * DAY),
            order(ws, w, 1, 10, NOW - DAY),
            order(ws, lo, 2, 5, NOW - 120 * DAY),
            resolved(ws, lo, 2, kind="identify", name="", traits={"city": "上海"}, at=NOW - 2 * DAY),
        ],
    )
    before_w = with_events(profile, ws, w, 3)
    with_events(profile, ws, lo, 2)
    assert _retention(profile, FixedClock(NOW)) >= 3
    events = mongo_db(profile)["events"]
    assert events.count_documents({"workspace": ws}) == 2
    assert get_profile(profile, ws, w).computed == before_w.computed  # pruning changes no value

    produce(profile, [(Topics.IDENTITY_MERGED, w, merged(ws, w, 1, lo, 2))])
    got = with_events(profile, ws, w, 5)
    assert got.computed.order_count == 3 and got.computed.revenue == pytest.approx(115)
    assert got.computed.first_order_at.ToDatetime(tzinfo=dt.UTC) == NOW - 150 * DAY
    assert dict(got.traits) == {"tier": "silver", "city": "上海"}
    timeline = stub.GetTimeline(profile_pb2.GetTimelineRequest(workspace_id=ws, person_id=w))
    assert len(timeline.events) == 2  # only what retention kept
