"""Entries beyond events: a flapping segment, a schedule in each person's local time, variants kept through merges, the workspace holdout."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import grpc

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.segment.v1 import events_pb2 as segment_events
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.journey.localtime import resolve
from services.kit.kafka import Topics
from services.kit.protos import to_struct, to_timestamp
from tests.conftest import eventually, grpc_stub
from tests.helpers import produce
from tests.journey_support import (  # noqa: F401 (module fixtures)
    db_fixture,
    event,
    gql,
    journeys_fixture,
    messaging_stub_fixture,
    ok,
    publish,
    runs_of,
    send_events,
    webhook_channel,
)

DONE_AT_ONCE = {"start": "x", "nodes": {"x": {"type": "exit"}}}


def membership(ws: str, person: str, segment: str, change: str, at: dt.datetime):
    return (
        Topics.SEGMENT_MEMBERSHIP,
        person,
        segment_events.SegmentMembershipChanged(
            workspace_id=ws, segment_id=segment, person_id=person, uid=1, change=change, at=to_timestamp(at),
            transition_id=uuid.uuid4().hex,
        ),
    )  # fmt: skip


def test_a_segment_that_flaps_inside_the_debounce_window_enters_nobody_again(journeys, db, workspace_id):
    journey = publish(journeys, workspace_id, {"entry": {"segment": "seg-flap", "on": "enter", "debounce_seconds": 300}, **DONE_AT_ONCE})
    t0 = dt.datetime.now(dt.UTC)
    produce(journeys, [
        membership(workspace_id, "p-flap", "seg-flap", "enter", t0),
        membership(workspace_id, "p-flap", "seg-flap", "exit", t0 + dt.timedelta(seconds=10)),
        membership(workspace_id, "p-flap", "seg-flap", "enter", t0 + dt.timedelta(seconds=20)),  # inside 300 s
    ])  # fmt: skip
    eventually(lambda: runs_of(db, workspace_id, "p-flap"))
    eventually(lambda: db["journey_entries"].find_one({"_id": f"{journey}|p-flap", "segment_changed_at": {"$gte": t0 + dt.timedelta(seconds=19)}}))
    assert len(runs_of(db, workspace_id, "p-flap")) == 1
    produce(journeys, [
        membership(workspace_id, "p-flap", "seg-flap", "exit", t0 + dt.timedelta(seconds=1000)),
        membership(workspace_id, "p-flap", "seg-flap", "enter", t0 + dt.timedelta(seconds=2000)),  # quiet for long enough
    ])  # fmt: skip
    eventually(lambda: len(runs_of(db, workspace_id, "p-flap")) == 2)


def identify(ws: str, person: str, uid: int, traits: dict):
    raw = identity_events.RawEvent(
        workspace_id=ws, message_id=uuid.uuid4().hex, type="identify", user_id=person, traits=to_struct(traits),
        timestamp=to_timestamp(dt.datetime.now(dt.UTC)),
    )  # fmt: skip
    return (Topics.EVENTS_RESOLVED, person, identity_events.ResolvedEvent(event=raw, person_id=person, uid=uid))


def _segment(stack, ws: str, rule: str, size: int) -> str:
    stub = grpc_stub(stack, "segment", segment_pb2_grpc.SegmentServiceStub)

    def create():
        try:
            return stub.CreateSegment(segment_pb2.CreateSegmentRequest(workspace_id=ws, name="audience", rule=rule))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            return None

    segment = eventually(create, timeout=60)
    eventually(lambda: stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=segment.id)).count == size, timeout=60)
    return segment.id


def test_a_schedule_in_each_persons_local_time_waits_for_their_own_clock(journeys, db, workspace_id):
    zones = {"p-kiritimati": "Pacific/Kiritimati", "p-la": "America/Los_Angeles", "p-shanghai": "Asia/Shanghai"}
    produce(journeys, [identify(workspace_id, p, 500 + i, {"timezone": z, "local_test": True}) for i, (p, z) in enumerate(zones.items())])
    segment = _segment(journeys, workspace_id, "traits.local_test = true", 3)
    # A local time Kiritimati (UTC+14, the first zone to reach any time) has just passed.
    now_kiri = dt.datetime.now(zoneinfo.ZoneInfo("Pacific/Kiritimati"))
    at = (now_kiri - dt.timedelta(minutes=1)).replace(tzinfo=None, second=0, microsecond=0)
    definition = {
        "entry": {"schedule": {"at": at.isoformat(), "every": None, "timezone": "person"}, "segment": segment},
        **DONE_AT_ONCE,
    }
    journey = publish(journeys, workspace_id, definition)
    runs = eventually(lambda: (r := list(db["runs"].find({"journey_id": journey}))) and len(r) == 3 and r, timeout=60)
    by_person = {r["person_id"]: r for r in runs}
    # Kiritimati's moment has come: that run started and ended; the others wait for their own clocks.
    eventually(lambda: db["runs"].find_one({"journey_id": journey, "person_id": "p-kiritimati"})["status"] == "done", timeout=30)
    for person in ("p-la", "p-shanghai"):
        run = by_person[person]
        expected = resolve(at, zoneinfo.ZoneInfo(zones[person]))
        assert run["status"] == "waiting" and run["wait"]["node"] == "$start"
        assert abs((run["due_at"] - expected).total_seconds()) < 1, (person, run["due_at"], expected)


def test_variants_stay_with_the_person_through_a_merge_and_the_workspace_holdout_sends_nothing(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/ab")
    ok(gql(journeys, workspace_id, "mutation { setJourneySettings(holdoutPct: 50) { holdoutPct } }"))
    definition = {
        "entry": {"event": {"name": "Promo Viewed"}, "policy": {"mode": "again_after_exit"}},
        "start": "ab",
        "nodes": {
            "ab": {"type": "experiment", "variants": [{"name": "A", "next": "send"}, {"name": "B", "next": "send"}]},
            "send": {"type": "send", "channel": "hook", "template": template},
        },
    }
    journey = publish(journeys, workspace_id, definition)
    people = [f"p-ab{i}" for i in range(40)]
    send_events(journeys, *[event(workspace_id, p, "Promo Viewed") for p in people])
    eventually(lambda: db["runs"].count_documents({"journey_id": journey}) == 40, timeout=60)
    runs = {r["person_id"]: r for r in db["runs"].find({"journey_id": journey})}
    held = {p for p, r in runs.items() if r["holdout"]}
    assert 8 <= len(held) <= 32, "about half held out workspace-wide"
    treated = [p for p in people if p not in held]
    eventually(lambda: {r.body["personId"] for r in sink.at("/ab")} == set(treated), timeout=60)
    # A merge: the survivor keeps its own variant; the merged person's runs follow it.
    a, b = treated[0], treated[1]
    variant_a = runs[a]["variants"]["ab"]
    produce(journeys, [(Topics.IDENTITY_MERGED, a, identity_events.IdentityMerged(
        workspace_id=workspace_id, merge_id=uuid.uuid4().hex, winner_id=a, loser_id=b, winner_uid=1, loser_uid=2))])  # fmt: skip
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "person_id": a}) == 2)
    assert db["assignments"].count_documents({"workspace": workspace_id, "person_id": b}) == 0
    assert db["assignments"].find_one({"workspace": workspace_id, "person_id": a})["variant"] == variant_a
