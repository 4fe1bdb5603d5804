"""Tags against the running profile service: templates, rules, assignments, expiry sweep, bulk jobs."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from cdp.profile.v1 import events_pb2 as profile_events
from cdp.profile.v1 import profile_pb2
from services.kit.clock import FixedClock
from services.kit.kafka import Topics
from services.kit.protos import from_value, to_timestamp
from tests.conftest import eventually
from tests.helpers import grpc_channel, mongo_db, read_topic
from tests.profile_support import order, profile_fixture, send, stub_fixture, with_events  # noqa: F401 (fixtures)
from tests.test_profile import get_profile, resolved

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def tags_of(p: profile_pb2.Profile) -> dict[str, profile_pb2.TagAssignment]:
    return {t.name: t for t in p.tags}


def changes(stack, ws, person, cause, seconds=20) -> dict[str, tuple]:
    got = read_topic(
        stack,
        Topics.PROFILE_CHANGED,
        profile_events.ProfileChanged,
        seconds,
        until=lambda ms: any(m.workspace_id == ws and m.cause_message_id == cause for m in ms),
    )
    mine = [m for m in got if m.workspace_id == ws and m.person_id == person and m.cause_message_id == cause]
    assert mine, f"no profile.changed for {person} caused by {cause}"
    return {c.path: (from_value(c.before), from_value(c.after)) for c in mine[0].changes}


def test_template_library_is_loaded_and_definitions_are_checked(stub, workspace_id):
    found = stub.ListTagDefinitions(profile_pb2.ListTagDefinitionsRequest(workspace_id=workspace_id)).definitions
    by_name = {d.name: d for d in found}
    assert by_name["high_spender"].display_name_zh == "订单金额高" and by_name["high_spender"].rule
    assert by_name["domestic_brand_preference"].display_name_zh == "国货品牌偏好"
    assert by_name["fitness"].display_name_zh == "运动健身" and by_name["smart_shopper"].display_name_zh == "精明购"
    assert by_name["rfm_group"].value_kind == "enumerated" and "重要价值" in by_name["rfm_group"].description
    made = stub.DefineTag(
        profile_pb2.TagDefinition(
            workspace_id=workspace_id,
            name="sunscreen_fan",
            display_name_zh="防晒达人",
            display_name_en="Sunscreen fan",
            category="preference",
            source="own",
            value_kind="flag",
            rule='computed.categories contains "sunscreen"',
        )
    )
    assert made.name == "sunscreen_fan"
    with pytest.raises(grpc.RpcError) as err:
        stub.DefineTag(profile_pb2.TagDefinition(workspace_id=workspace_id, name="x", rule="computed.ltv >>= 3"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("rule:")
    names = {
        d.name
        for d in stub.ListTagDefinitions(profile_pb2.ListTagDefinitionsRequest(workspace_id=workspace_id)).definitions
    }
    assert "sunscreen_fan" in names and "x" not in names


def test_rule_tags_follow_events_and_are_announced(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    send(profile, [order(ws, person, 5, 800, products=[{"category": "fitness"}])])
    first = with_events(profile, ws, person, 1)
    tags = tags_of(first)
    assert tags["fitness"].value == "true" and tags["fitness"].source == "computed"
    assert "high_spender" not in tags and tags["rfm_group"].value == first.computed.rfm_group
    assert first.computed.lifecycle_stage == "new" and first.computed.acquisition_channel == "direct"

    second = order(ws, person, 5, 400)
    send(profile, [second])
    got = with_events(profile, ws, person, 2)
    assert tags_of(got)["high_spender"].confidence == 1.0 and got.computed.ltv == pytest.approx(1200)
    change = changes(profile, ws, person, second.event.message_id)
    before, after = change["tags.high_spender"]
    assert before is None
    assert after["value"] == "true" and after["source"] == "computed" and after["expires_at"] is None
    assert set(after) == {"value", "confidence", "source", "assigned_at", "expires_at"}
    assert change["computed.order_count"] == (1, 2) and change["computed.lifecycle_stage"] == ("new", "growing")

    refund = resolved(ws, person, 5, name="Order Refunded", properties={"order_id": "x", "total": 500}, at=NOW)
    send(profile, [refund])
    got = with_events(profile, ws, person, 3)
    assert got.computed.refund_count == 1 and got.computed.ltv == pytest.approx(700)
    assert "high_spender" not in tags_of(got)
    assert changes(profile, ws, person, refund.event.message_id)["tags.high_spender"][1] is None


def test_assign_and_remove_tags_with_confidence_source_and_expiry(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    send(profile, [resolved(ws, person, 9, kind="identify", name="", traits={"gender": "female"}, at=NOW)])
    with_events(profile, ws, person, 1)
    expires = NOW + 2 * DAY
    answer = stub.AssignTags(
        profile_pb2.AssignTagsRequest(
            workspace_id=ws,
            person_ids=[person],
            tags=[
                profile_pb2.TagAssignment(name="smart_shopper", confidence=0.8, source="partner"),
                profile_pb2.TagAssignment(name="vip_level", value="gold", expires_at=to_timestamp(expires)),
            ],
        )
    )
    tags = tags_of(answer.profiles[0])
    assert tags["smart_shopper"].confidence == pytest.approx(0.8) and tags["smart_shopper"].source == "partner"
    assert tags["vip_level"].value == "gold" and tags["vip_level"].confidence == 1.0
    assert tags["vip_level"].expires_at.ToDatetime(tzinfo=dt.UTC) == expires

    bad = [
        (profile_pb2.TagAssignment(name="nope"), "tags[0].name"),
        (profile_pb2.TagAssignment(name="smart_shopper", confidence=1.5), "tags[0].confidence"),
        (profile_pb2.TagAssignment(name="high_spender"), "tags[0].name"),  # computed by its rule
        (profile_pb2.TagAssignment(name="vip_level"), "tags[0].value"),
        (profile_pb2.TagAssignment(name="smart_shopper", expires_at=to_timestamp(NOW - DAY)), "tags[0].expires_at"),
    ]
    for tag, field in bad:
        with pytest.raises(grpc.RpcError) as err:
            stub.AssignTags(profile_pb2.AssignTagsRequest(workspace_id=ws, person_ids=[person], tags=[tag]))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith(field)
    with pytest.raises(grpc.RpcError) as err:
        stub.AssignTags(
            profile_pb2.AssignTagsRequest(
                workspace_id=ws,
                person_ids=[person, "nobody"],
                tags=[profile_pb2.TagAssignment(name="household_main_buyer")],
            )
        )
    assert err.value.details().startswith("person_ids[1]")
    # Nothing of the refused calls was written.
    assert set(tags_of(get_profile(profile, ws, person))) == {"smart_shopper", "vip_level"} | {"new_user"}

    removed = stub.RemoveTags(profile_pb2.RemoveTagsRequest(workspace_id=ws, person_id=person, names=["smart_shopper"]))
    assert "smart_shopper" not in tags_of(removed) and "vip_level" in tags_of(removed)


def _sweeper(stack, clock):
    """A sweep in this process, with a clock the test moves; the service's outbox relay publishes it."""
    from pymongo import AsyncMongoClient

    from services.kit.outbox import OutboxRelay
    from services.profile.rulebook import Rulebook
    from services.profile.store import ProfileStore
    from services.profile.sweep import Sweeper

    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    db = client[stack.mongo_db]
    store = ProfileStore(db)
    return client, Sweeper(client, store, OutboxRelay(db, None, "profile"), clock, Rulebook(db))


def sweep(stack, workspace: str, at: dt.datetime) -> int:
    async def run() -> int:
        client, sweeper = _sweeper(stack, FixedClock(at))
        try:
            return await sweeper.run_once(workspace)
        finally:
            await client.close()

    return asyncio.run(run())


def test_sweep_expires_tags_and_moves_lifecycle_without_any_event(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    send(profile, [order(ws, person, 4, 50, at=NOW - HOUR)])
    with_events(profile, ws, person, 1)
    expires = NOW + HOUR
    stub.AssignTags(
        profile_pb2.AssignTagsRequest(
            workspace_id=ws,
            person_ids=[person],
            tags=[profile_pb2.TagAssignment(name="smart_shopper", expires_at=to_timestamp(expires))],
        )
    )
    assert sweep(profile, ws, NOW) == 0  # nothing due yet
    assert sweep(profile, ws, NOW + 2 * HOUR) == 1
    got = get_profile(profile, ws, person)
    assert "smart_shopper" not in tags_of(got) and got.computed.lifecycle_stage == "new"
    cause = f"sweep:expiry:{person}:{expires.isoformat().replace('+00:00', 'Z')}"
    assert changes(profile, ws, person, cause)["tags.smart_shopper"][1] is None
    assert sweep(profile, ws, NOW + 3 * HOUR) == 0  # a re-run finds nothing

    later = NOW + 31 * DAY
    assert sweep(profile, ws, later) == 1
    got = get_profile(profile, ws, person)
    assert got.computed.lifecycle_stage == "silent" and "new_user" not in tags_of(got)
    change = changes(profile, ws, person, f"sweep:lifecycle:{person}:{later.date().isoformat()}")
    assert change["computed.lifecycle_stage"] == ("new", "silent")
    assert change["tags.new_user"][1] is None
    assert changes(profile, ws, person, f"sweep:rfm:{person}:{later.date().isoformat()}")["computed.rfm_recency"] == (
        5,
        4,
    )
    churned = NOW + 200 * DAY
    assert sweep(profile, ws, churned) == 1
    assert get_profile(profile, ws, person).computed.lifecycle_stage == "churned"
    assert mongo_db(profile)["profiles"].find_one({"_id": person}).get("next_sweep_at") is None


def test_bulk_tagging_of_a_person_list_reports_progress(profile, stub, workspace_id):
    ws = workspace_id
    persons = [f"p_{ws}_{n}" for n in range(230)]
    send(profile, [order(ws, p, n + 1, 10) for n, p in enumerate(persons)])
    eventually(lambda: mongo_db(profile)["profiles"].count_documents({"workspace": ws}) == len(persons), timeout=60)
    answer = stub.AssignTags(
        profile_pb2.AssignTagsRequest(
            workspace_id=ws,
            person_ids=[*persons, "ghost"],
            tags=[profile_pb2.TagAssignment(name="household_main_buyer", confidence=0.6)],
        )
    )
    assert answer.job.id and answer.job.total == len(persons) + 1 and not answer.profiles
    request = profile_pb2.GetTagJobRequest(workspace_id=ws, job_id=answer.job.id)
    job = eventually(lambda: (j := stub.GetTagJob(request)).state == "done" and j, timeout=90)
    assert (job.total, job.done, job.tagged) == (len(persons) + 1, len(persons) + 1, len(persons))
    tagged = mongo_db(profile)["profiles"].count_documents(
        {"workspace": ws, "tags.household_main_buyer.confidence": 0.6}
    )
    assert tagged == len(persons)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetTagJob(profile_pb2.GetTagJobRequest(workspace_id="other", job_id=answer.job.id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_bulk_tagging_of_a_segment_against_the_real_segment_service(start_service, stub, workspace_id):
    from cdp.segment.v1 import segment_pb2, segment_pb2_grpc

    stack = start_service("segment")
    start_service("profile")
    ws = workspace_id
    persons = [f"p_{ws}_{n}" for n in range(4)]
    events = [
        resolved(ws, p, 100 + n, kind="identify", name="", traits={"vip": n < 3}, at=NOW) for n, p in enumerate(persons)
    ]
    send(stack, events)
    with grpc_channel(stack.grpc_target("segment")) as channel:
        segments = segment_pb2_grpc.SegmentServiceStub(channel)

        # A segment service may refuse a rule on a trait it has not seen yet: retry until it has.
        def create():
            try:
                return segments.CreateSegment(
                    segment_pb2.CreateSegmentRequest(workspace_id=ws, name="vip", rule="traits.vip = true")
                )
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
                return None

        segment = eventually(create, timeout=90)  # the trait reaches segment through two consumers: slow on a loaded CI
        count = segment_pb2.CountRequest(workspace_id=ws, segment_id=segment.id)
        eventually(lambda: segments.Count(count).count == 3, timeout=30)
    answer = stub.AssignTags(
        profile_pb2.AssignTagsRequest(
            workspace_id=ws, segment_id=segment.id, tags=[profile_pb2.TagAssignment(name="smart_shopper")]
        )
    )
    request = profile_pb2.GetTagJobRequest(workspace_id=ws, job_id=answer.job.id)
    job = eventually(lambda: (j := stub.GetTagJob(request)).state in ("done", "failed") and j, timeout=60)
    if job.state == "failed" and "UNIMPLEMENTED" in job.error:
        pytest.skip("segment's StreamMembers is not implemented in this tree yet")
    assert job.state == "done" and (job.total, job.tagged) == (3, 3), job
    tagged = {p for p in persons if "smart_shopper" in tags_of(get_profile(stack, ws, p))}
    assert tagged == set(persons[:3])


def test_a_new_rule_reaches_persons_who_send_no_event(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    send(profile, [order(ws, person, 6, 90, products=[{"category": "sunscreen"}])])
    with_events(profile, ws, person, 1)
    stub.DefineTag(
        profile_pb2.TagDefinition(
            workspace_id=ws,
            name="sunscreen_fan",
            category="preference",
            rule='computed.categories contains "sunscreen"',
        )
    )
    assert "sunscreen_fan" not in tags_of(get_profile(profile, ws, person))
    first = mongo_db(profile)["profiles"].find_one({"_id": person})["rederive"]
    assert sweep(profile, ws, NOW) == 1
    got = tags_of(get_profile(profile, ws, person))
    assert got["sunscreen_fan"].source == "computed"
    assert changes(profile, ws, person, f"sweep:rules:{person}:{first}")["tags.sunscreen_fan"][1]

    # A second change of the rule on the same day is announced under its own cause: under the
    # day's cause, receivers that dedupe by cause would drop it as a repeat.
    stub.DefineTag(
        profile_pb2.TagDefinition(
            workspace_id=ws, name="sunscreen_fan", category="preference", rule='computed.categories contains "fruit"'
        )
    )
    second = mongo_db(profile)["profiles"].find_one({"_id": person})["rederive"]
    assert second != first and sweep(profile, ws, NOW) == 1
    assert "sunscreen_fan" not in tags_of(get_profile(profile, ws, person))
    assert changes(profile, ws, person, f"sweep:rules:{person}:{second}")["tags.sunscreen_fan"][1] is None
