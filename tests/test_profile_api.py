"""Profile APIs against the running service: trait schema, settings, timeline, LTV by channel, GraphQL."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from cdp.profile.v1 import profile_pb2
from services.kit.protos import to_struct
from tests.helpers import graphql, mongo_db, new_id
from tests.profile_support import profile_fixture, send, stub_fixture, with_events  # noqa: F401 (fixtures)
from tests.test_profile import get_profile, resolved

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
MINUTE = dt.timedelta(minutes=1)


def upsert(stub, ws, person, **kwargs):
    args = {k: to_struct(v) if isinstance(v, dict) else v for k, v in kwargs.items()}
    return stub.UpsertTraits(profile_pb2.UpsertTraitsRequest(workspace_id=ws, person_id=person, **args))


def test_trait_schema_set_once_unset_and_key_limits(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    send(profile, [resolved(ws, person, 1, kind="identify", name="", traits={"city": "上海"}, at=NOW)])
    with_events(profile, ws, person, 1)
    settings = stub.UpdateSettings(
        profile_pb2.UpdateSettingsRequest(
            workspace_id=ws,
            trait_schema=profile_pb2.TraitSchema(
                types={"age": "number", "vip": "boolean", "birthday": "datetime", "likes": "list"}
            ),
        )
    )
    assert settings.trait_schema.types["age"] == "number" and settings.thresholds.silent_days == 30

    got = upsert(
        stub,
        ws,
        person,
        set={"age": 31, "birthday": "1995-03-08T08:00:00+08:00", "likes": ["snacks", "fruit"]},
        set_once={"vip": True, "city": "北京"},
    )
    assert dict(got.traits) == {
        "city": "上海",  # set_once does not overwrite
        "age": 31,
        "birthday": "1995-03-08T00:00:00Z",  # normalised to UTC
        "likes": ["snacks", "fruit"],
        "vip": True,
    }
    for kwargs, field in [
        ({"set": {"age": "thirty"}}, "set.age"),
        ({"set": {"birthday": "yesterday"}}, "set.birthday"),
        ({"set_once": {"vip": "yes"}}, "set_once.vip"),
        ({"set": {"a.b": 1}}, "set.a.b"),
        ({"set": {"k" * 129: 1}}, "set." + "k" * 32),
        ({"set": {"note": "x" * 5000}}, "set.note"),
        ({"set": {"nested": {"a": 1}}}, "set.nested"),
        ({"unset": ["$where"]}, "unset.$where"),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            upsert(stub, ws, person, **{"set": {"ok": 1}, **kwargs})
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith(field + ":"), err.value.details()
    assert "ok" not in dict(get_profile(profile, ws, person).traits)  # nothing written by refused calls
    assert dict(upsert(stub, ws, person, unset=["likes", "age"]).traits).keys() == {"city", "birthday", "vip"}

    # An identify that breaks the schema keeps its valid traits and its activity.
    send(profile, [resolved(ws, person, 1, kind="identify", name="", traits={"age": "old", "tier": "gold"}, at=NOW)])
    got = with_events(profile, ws, person, 2)
    assert dict(got.traits)["tier"] == "gold" and "age" not in dict(got.traits)

    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateSettings(
            profile_pb2.UpdateSettingsRequest(
                workspace_id=ws, trait_schema=profile_pb2.TraitSchema(types={"x": "money"})
            )
        )
    assert err.value.details().startswith("trait_schema.x:")


def test_thresholds_per_workspace_change_rfm_and_lifecycle(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    stub.UpdateSettings(
        profile_pb2.UpdateSettingsRequest(
            workspace_id=ws, thresholds=profile_pb2.Thresholds(monetary=[10, 20, 30, 40], loyal_orders=3)
        )
    )
    orders = [
        resolved(ws, person, 2, properties={"order_id": new_id("o"), "revenue": 15}, at=NOW - n * MINUTE)
        for n in range(3)
    ]
    send(profile, orders)
    got = with_events(profile, ws, person, 3)
    assert got.computed.rfm_monetary == 5 and got.computed.lifecycle_stage == "loyal"
    assert got.computed.rfm_group == "important_value"
    current = stub.GetSettings(profile_pb2.GetSettingsRequest(workspace_id=ws)).thresholds
    assert list(current.recency_days) == [30, 60, 90, 180] and current.loyal_orders == 3
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateSettings(
            profile_pb2.UpdateSettingsRequest(workspace_id=ws, thresholds=profile_pb2.Thresholds(silent_days=365))
        )
    assert err.value.details().startswith("silent_days:")


def test_timeline_pages_newest_first_and_filters_by_type(profile, stub, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    events = [
        resolved(ws, person, 3, name="Product Viewed", properties={"sku": f"s{n}"}, at=NOW - n * MINUTE)
        for n in range(7)
    ]
    events.append(resolved(ws, person, 3, properties={"revenue": 9}, at=NOW - 3 * MINUTE))  # same instant as s3
    send(profile, events)
    with_events(profile, ws, person, 8)
    seen, cursor = [], ""
    while True:
        page = stub.GetTimeline(
            profile_pb2.GetTimelineRequest(workspace_id=ws, person_id=person, limit=3, after=cursor)
        )
        seen += [e.message_id for e in page.events]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == 8 and len(set(seen)) == 8
    stamps = {e.event.message_id: e.event.timestamp.seconds for e in events}
    assert [stamps[m] for m in seen] == sorted((stamps[m] for m in seen), reverse=True)
    orders = stub.GetTimeline(
        profile_pb2.GetTimelineRequest(workspace_id=ws, person_id=person, event_type="Order Completed")
    )
    assert [e.event for e in orders.events] == ["Order Completed"]
    with pytest.raises(grpc.RpcError) as err:
        stub.GetTimeline(profile_pb2.GetTimelineRequest(workspace_id=ws, person_id=person, after="garbage"))
    assert err.value.details().startswith("after:")


def test_ltv_by_channel_uses_the_first_touch(profile, stub, workspace_id):
    ws = workspace_id

    def visit(person, uid, source, at):
        return resolved(
            ws, person, uid, kind="page", name="", at=at, properties={"utm_source": source} if source else {}
        )

    def buy(person, uid, revenue):
        return resolved(ws, person, uid, properties={"order_id": new_id("o"), "revenue": revenue}, at=NOW)

    send(
        profile,
        [
            visit("a", 1, "douyin", NOW - 10 * MINUTE),
            visit("a", 1, "baidu", NOW - 5 * MINUTE),  # later touch: does not change the channel
            buy("a", 1, 300),
            visit("b", 2, "douyin", NOW - MINUTE),
            buy("b", 2, 100),
            visit("c", 3, None, NOW - MINUTE),
            buy("c", 3, 50),
            resolved(ws, "c", 3, name="Order Refunded", properties={"total": 20}, at=NOW),
        ],
    )
    for person, count in (("a", 3), ("b", 2), ("c", 3)):
        with_events(profile, ws, person, count)
    rows = stub.LtvByChannel(profile_pb2.LtvByChannelRequest(workspace_id=ws)).channels
    got = {r.channel: (r.persons, r.revenue, r.mean_ltv) for r in rows}
    assert got == {"douyin": (2, 400.0, 200.0), "direct": (1, 30.0, 30.0)}
    assert [r.channel for r in rows] == ["douyin", "direct"]


def test_graphql_person_tags_computed_events_and_mutations(profile, workspace_id):
    ws, person = workspace_id, f"p_{workspace_id}"
    send(
        profile,
        [
            resolved(ws, person, 4, kind="identify", name="", traits={"gender": "female"}, at=NOW - MINUTE),
            resolved(ws, person, 4, properties={"revenue": 1500, "products": [{"category": "fitness"}]}, at=NOW),
        ],
    )
    with_events(profile, ws, person, 2)
    url = profile.http_url("profile") + "/graphql"
    mutation = """
      mutation($id: ID!) {
        assignTags(personIds: [$id], tags: [{name: "smart_shopper", confidence: 0.7, source: "partner"}]) {
          persons { id } job { id }
        }
        upsertTraits(personId: $id, set: {age: 30}, setOnce: {gender: "male"}) { traits }
      }"""
    done = graphql(url, ws, mutation, {"id": person})
    assert "errors" not in done, done
    assert done["data"]["upsertTraits"]["traits"] == {"gender": "female", "age": 30}
    query = """
      query($id: ID!, $after: String) {
        profile(personId: $id) {
          traits
          tags { name value source confidence expiresAt }
          computed { orderCount ltv rfmGroup lifecycleStage categories acquisitionChannel }
          events(first: 1, after: $after) { nodes { event type } endCursor hasNextPage }
        }
        tagDefinitions { name displayNameZh }
        ltvByChannel { channel persons meanLtv }
      }"""
    got = graphql(url, ws, query, {"id": person})["data"]
    p = got["profile"]
    tags = {t["name"]: t for t in p["tags"]}
    assert tags["smart_shopper"]["confidence"] == 0.7 and tags["smart_shopper"]["source"] == "partner"
    assert tags["high_spender"]["value"] == "true" and tags["fitness"]["source"] == "computed"
    assert p["computed"]["orderCount"] == 1 and p["computed"]["ltv"] == 1500
    assert p["computed"]["categories"] == ["fitness"] and p["computed"]["lifecycleStage"] == "new"
    assert p["events"]["nodes"] == [{"event": "Order Completed", "type": "track"}] and p["events"]["hasNextPage"]
    nxt = graphql(url, ws, query, {"id": person, "after": p["events"]["endCursor"]})["data"]["profile"]["events"]
    assert nxt["nodes"] == [{"event": None, "type": "identify"}] and not nxt["hasNextPage"]
    assert {"name": "high_spender", "displayNameZh": "订单金额高"} in got["tagDefinitions"]
    assert got["ltvByChannel"] == [{"channel": "direct", "persons": 1, "meanLtv": 1500.0}]

    bad = graphql(
        url, ws, 'mutation($id: ID!) { removeTags(personId: $id, names: ["high_spender"]) { id } }', {"id": person}
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad["errors"][0]["extensions"]["field"] == "names[0]"
    define = """mutation {
      defineTag(definition: {name: "night_owl", displayNameZh: "夜猫子", category: "preference"}) { name category }
    }"""
    assert graphql(url, ws, define)["data"]["defineTag"] == {"name": "night_owl", "category": "preference"}
    removed = graphql(
        url,
        ws,
        'mutation($id: ID!) { removeTags(personId: $id, names: ["smart_shopper"]) { tags { name } } }',
        {"id": person},
    )
    assert "smart_shopper" not in {t["name"] for t in removed["data"]["removeTags"]["tags"]}
    settings = graphql(url, ws, "mutation { updateProfileSettings(retentionDays: 400) { retentionDays } }")
    assert settings["data"]["updateProfileSettings"]["retentionDays"] == 400
    assert mongo_db(profile)["profile_settings"].find_one({"_id": ws})["retention_days"] == 400
