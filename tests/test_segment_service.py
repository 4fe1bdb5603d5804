"""The segment service as a process: gRPC and GraphQL APIs, membership on Kafka, and a SIGKILL mid-stream.

The tests produce profile.changed and events.resolved as profile and identity
do (contract-profile-changed), and the last test runs the real identity and
profile services in front.
"""

from __future__ import annotations

import datetime as dt
import signal
import uuid
from collections import Counter, defaultdict

import grpc
import pytest

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2 as profile_events
from cdp.segment.v1 import events_pb2 as segment_events
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit.kafka import Topics, dead_letter_topic
from services.kit.protos import to_struct, to_timestamp, to_value
from services.segment.encoding import SHARD_BITS
from services.segment.workers import GROUP
from tests.conftest import eventually, grpc_stub
from tests.helpers import collect, create_workspace, graphql, mongo_db, new_id, produce, read_topic
from tools.stack import free_port

BIG = 1 << SHARD_BITS


@pytest.fixture(scope="module")
def segment(start_service):
    return start_service("segment")


@pytest.fixture(scope="module")
def stub(segment):
    return grpc_stub(segment, "segment", segment_pb2_grpc.SegmentServiceStub)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def changed(ws: str, uid: int, values: dict, cause: str | None = None):
    person = f"p-{uid}"
    return (
        Topics.PROFILE_CHANGED,
        person,
        profile_events.ProfileChanged(
            workspace_id=ws,
            person_id=person,
            uid=uid,
            cause_message_id=cause or uuid.uuid4().hex,
            at=to_timestamp(now()),
            changes=[
                profile_events.FieldChange(path=path, before=to_value(None), after=to_value(v))
                for path, v in values.items()
            ],
        ),
    )


def tracked(ws: str, uid: int, name: str, when: dt.datetime, **props):
    return (
        Topics.EVENTS_RESOLVED,
        f"p-{uid}",
        identity_events.ResolvedEvent(
            person_id=f"p-{uid}",
            uid=uid,
            event=identity_events.RawEvent(
                workspace_id=ws,
                message_id=new_id(),
                type="track",
                event=name,
                properties=to_struct(props),
                timestamp=to_timestamp(when),
            ),
        ),
    )


def memberships(stack, ws: str, until=None, seconds: float = 20.0) -> list:
    records = read_topic(
        stack,
        Topics.SEGMENT_MEMBERSHIP,
        segment_events.SegmentMembershipChanged,
        seconds,
        until=(lambda msgs: until([m for m in msgs if m.workspace_id == ws])) if until else None,
    )
    return [m for m in records if m.workspace_id == ws]


def preview(stub, ws: str, rule: str) -> int:
    """The count, or -1 while the rule's trait is not known yet (its first change is still on the way)."""
    try:
        return stub.Preview(segment_pb2.PreviewRequest(workspace_id=ws, rule=rule)).count
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "unknown" in exc.details():
            return -1
        raise


def test_grpc_and_graphql_operations(segment, stub, workspace_id):
    ws = workspace_id
    people = list(range(1, 21)) + [BIG + i for i in range(10)]
    batch = []
    for n, uid in enumerate(people):
        batch.append(
            changed(
                ws,
                uid,
                {
                    "traits.gender": "female" if n % 2 else "male",
                    "traits.age": 20 + n,
                    "computed.revenue": n * 100.0,
                    "computed.lifecycle_stage": "churned" if n % 5 == 0 else "loyal",
                    "tags.fitness": {"value": "true", "confidence": 0.9, "source": "own"} if n % 3 == 0 else None,
                },
            )
        )
        if n % 4 == 0:
            batch.append(tracked(ws, uid, "Order Completed", now() - dt.timedelta(days=8), category="fruit"))
            batch.append(tracked(ws, uid, "App Opened", now()))
    produce(segment, batch)
    eventually(lambda: preview(stub, ws, 'DID "App Opened" IN LAST 1 DAYS') == 8)
    eventually(lambda: preview(stub, ws, "traits.age EXISTS") == 30)

    women = stub.CreateSegment(
        segment_pb2.CreateSegmentRequest(
            workspace_id=ws,
            name="women 25-40 spenders",
            rule='traits.gender = "female" AND traits.age BETWEEN 25 AND 40 AND computed.revenue >= 500 '
            'AND NOT computed.lifecycle_stage = "churned"',
        )
    )
    json_rule = '{"or": [{"tag": "fitness", "min_confidence": 0.8}, {"did": "Order Completed", "days": 30}]}'
    fit = stub.CreateSegment(segment_pb2.CreateSegmentRequest(workspace_id=ws, name="fit or buyer", rule=json_rule))
    assert fit.rule == 'tags.fitness WITH CONFIDENCE >= 0.8 OR DID "Order Completed" IN LAST 30 DAYS'
    assert fit.windowed and sorted(fit.uses) == ["event:Order Completed", "tags.fitness"]
    # n odd, 25 <= 20 + n <= 40, n >= 5, n % 5 != 0: n = 7, 9, 11, 13, 17, 19
    expected_women = {people[n] for n in (7, 9, 11, 13, 17, 19)}
    count = stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=women.id))
    assert count.count == 6 and count.elapsed_ms > 0
    assert stub.IsMember(segment_pb2.IsMemberRequest(workspace_id=ws, segment_id=women.id, uid=people[7])).member
    assert not stub.IsMember(segment_pb2.IsMemberRequest(workspace_id=ws, segment_id=women.id, uid=people[8])).member

    members = list(stub.StreamMembers(segment_pb2.StreamMembersRequest(workspace_id=ws, segment_id=women.id)))
    assert {m.uid for m in members} == expected_women
    assert all(m.person_id == f"p-{m.uid}" for m in members)
    with pytest.raises(grpc.RpcError) as err:
        list(stub.StreamMembers(segment_pb2.StreamMembersRequest(workspace_id=ws, segment_id="seg_missing")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    fit_size = stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=fit.id)).count
    assert fit_size == len({people[n] for n in range(30) if n % 3 == 0 or n % 4 == 0})
    overlap = stub.Overlap(segment_pb2.OverlapRequest(workspace_id=ws, segment_ids=[women.id, fit.id]))
    both = {people[n] for n in (7, 9, 11, 13, 17, 19) if n % 3 == 0 or n % 4 == 0}
    assert (overlap.intersection, overlap.union_count, list(overlap.sizes)) == (
        len(both),
        6 + fit_size - len(both),
        [6, fit_size],
    )
    sample = stub.Sample(segment_pb2.SampleRequest(workspace_id=ws, segment_id=fit.id, size=4, seed=7))
    assert len(set(sample.uids)) == 4 and set(sample.uids) <= {people[n] for n in range(30) if n % 3 == 0 or n % 4 == 0}
    again = stub.Sample(segment_pb2.SampleRequest(workspace_id=ws, segment_id=fit.id, size=4, seed=7))
    assert list(again.uids) == list(sample.uids)

    # Retention: cohort of first orders 8 days ago, back (App Opened) today.
    start = now() - dt.timedelta(days=8)
    table = stub.Retention(
        segment_pb2.RetentionRequest(
            workspace_id=ws,
            cohort_event="Order Completed",
            return_event="App Opened",
            start=to_timestamp(start),
            periods=9,
            period="day",
        )
    )
    assert table.rows[0].size == 8 and list(table.rows[0].shares) == [0.0] * 7 + [1.0]

    # Rebuild from MongoDB gives the same counts.
    rebuilt = stub.Rebuild(segment_pb2.RebuildRequest(workspace_id=ws))
    assert rebuilt.persons == 30
    assert stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=women.id)).count == 6
    assert stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=fit.id)).count == fit_size

    # GraphQL: members page by page, size, errors with their position.
    url = segment.http_url("segment") + "/graphql"
    query = """query($id: ID!, $after: String) { segment(id: $id) { size
        members(first: 4, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }"""
    seen, after = [], None
    while True:
        data = graphql(url, ws, query, {"id": fit.id, "after": after})["data"]["segment"]
        seen += [e["node"]["id"] for e in data["members"]["edges"]]
        if not data["members"]["pageInfo"]["hasNextPage"]:
            break
        after = data["members"]["pageInfo"]["endCursor"]
    assert data["size"] == fit_size and len(seen) == fit_size == len(set(seen))
    bad = graphql(url, ws, '{ previewSegment(rule: "traits.gender = \\"f\\" AND traits.agee > 3") { count } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "unknown trait 'agee' at column 25" in bad["errors"][0]["message"]
    with pytest.raises(grpc.RpcError) as err:
        stub.Preview(segment_pb2.PreviewRequest(workspace_id=ws, rule='DID "x" IN LAST 500 DAYS'))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "column 17" in err.value.details()
    rows = graphql(
        url,
        ws,
        'query($s: Date!) { retention(cohortEvent: "Order Completed", returnEvent: "App Opened", start: $s,'
        ' periods: 9, period: "day") { size shares } }',
        {"s": start.date().isoformat()},
    )["data"]["retention"]
    assert rows[0]["size"] == 8


def test_segments_created_with_announce_existing_enter_their_members_on_kafka(segment, stub, workspace_id):
    ws = workspace_id
    produce(segment, [changed(ws, uid, {"traits.plan": "gold" if uid < 4 else "free"}) for uid in (1, 2, 3, 4, BIG)])
    eventually(lambda: preview(stub, ws, "traits.plan EXISTS") == 5)
    by_grpc = stub.CreateSegment(
        segment_pb2.CreateSegmentRequest(
            workspace_id=ws, name="gold", rule='traits.plan = "gold"', announce_existing=True
        )
    )
    url = segment.http_url("segment") + "/graphql"
    mutation = 'mutation($r: String!) { createSegment(name: "free", rule: $r, announceExisting: true) { id size } }'
    created = graphql(url, ws, mutation, {"r": 'traits.plan = "free"'})
    by_graphql = created["data"]["createSegment"]
    silent = stub.CreateSegment(
        segment_pb2.CreateSegmentRequest(workspace_id=ws, name="all", rule="traits.plan EXISTS")
    )
    assert by_graphql["size"] == 2
    expected = sorted(
        [(by_grpc.id, uid, f"create:{by_grpc.id}") for uid in (1, 2, 3)]
        + [(by_graphql["id"], uid, f"create:{by_graphql['id']}") for uid in (4, BIG)]
    )
    # Waits the whole time for one more (there must be none).
    got = memberships(segment, ws, until=lambda msgs: len(msgs) > len(expected), seconds=8)
    assert all(m.change == "enter" for m in got)
    assert sorted((m.segment_id, m.uid, m.cause_message_id) for m in got) == expected
    assert silent.id not in {m.segment_id for m in got}


def test_declared_fields_let_a_rule_be_saved_before_the_first_event(segment, stub, workspace_id):
    ws = workspace_id
    url = segment.http_url("segment") + "/graphql"
    with pytest.raises(grpc.RpcError) as err:
        stub.DeclareField(segment_pb2.DeclareFieldRequest(workspace_id=ws, path="traits.a$b", kind="text"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "traits.<name>" in err.value.details()
    bad = graphql(url, ws, 'mutation { declareSegmentField(path: "traits.region", kind: "colour") { path } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and "kind must be" in bad["errors"][0]["message"]
    assert mongo_db(segment)["segment_fields"].count_documents({"workspace": ws}) == 0

    field = stub.DeclareField(segment_pb2.DeclareFieldRequest(workspace_id=ws, path="traits.region", kind="text"))
    assert (field.path, list(field.kinds), list(field.declared)) == ("traits.region", ["text"], ["text"])
    tag = graphql(url, ws, 'mutation { declareSegmentField(path: "tags.pioneer") { path kinds declared } }')
    assert tag["data"]["declareSegmentField"] == {"path": "tags.pioneer", "kinds": ["tag"], "declared": ["tag"]}
    north = stub.CreateSegment(
        segment_pb2.CreateSegmentRequest(workspace_id=ws, name="north", rule='traits.region = "north" OR tags.pioneer')
    )
    produce(segment, [changed(ws, 5, {"traits.region": "north"}), changed(ws, 6, {"traits.region": "south"})])
    got = memberships(segment, ws, until=lambda msgs: len(msgs) >= 1)
    assert [(m.segment_id, m.uid, m.change) for m in got] == [(north.id, 5, "enter")]

    # Declarations of one new field at once (as a saved cohort's tag and the worker's own record of a
    # field may meet): each answers the field, none loses the race with an error.
    from concurrent.futures import ThreadPoolExecutor

    def declare(path: str):
        return stub.DeclareField(segment_pb2.DeclareFieldRequest(workspace_id=ws, path=path, kind="tag"))

    for round_ in range(5):
        path = f"tags.racing_{round_}"
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(declare, [path] * 8))
        assert {(a.path, tuple(a.kinds)) for a in answers} == {(path, ("tag",))}


def test_sigkill_mid_stream_loses_and_duplicates_no_transition(segment, stub, workspace_id):
    ws = workspace_id
    produce(segment, [changed(ws, 9999, {"traits.tier": "bronze"})])
    eventually(lambda: preview(stub, ws, "traits.tier EXISTS") == 1)
    gold = stub.CreateSegment(
        segment_pb2.CreateSegmentRequest(workspace_id=ws, name="gold", rule='traits.tier = "gold"')
    )
    name = "segment-killed"
    segment.start_service("segment", name=name, CDP_HTTP_PORT=str(free_port()), CDP_GRPC_PORT=str(free_port()))
    persons, rounds = 100, 8
    records = [
        changed(ws, uid, {"traits.tier": "gold" if r % 2 == 0 else "silver"}, cause=f"{uid}-{r}")
        for r in range(rounds)
        for uid in range(1, persons + 1)
    ]
    for i in range(0, len(records), 40):
        produce(segment, records[i : i + 40])
    docs = mongo_db(segment)["segment_people"]
    eventually(lambda: docs.count_documents({"workspace": ws}) >= 30, timeout=60, interval=0.05)
    assert segment.stop_process(name, signal.SIGKILL) == -signal.SIGKILL
    total = persons * rounds
    assert len(memberships(segment, ws, seconds=1)) < total, "the stream ended before the kill"
    # Generous: documents of the killed replica's open transaction stay locked until
    # SecantusDB reaps it (60 s), and those persons' later rounds wait behind it.
    got = memberships(segment, ws, until=lambda msgs: len(msgs) >= total, seconds=300)
    assert len(got) >= 30
    # A record the survivor gave up on would be lost silently: say so before comparing sequences.
    dead = read_topic(segment, dead_letter_topic(GROUP), profile_events.ProfileChanged, 2)
    assert [m.cause_message_id for m in dead if m.workspace_id == ws] == []
    ids = Counter(m.transition_id for m in got)
    assert [i for i, n in ids.items() if n > 1] == [], "a transition was published twice"
    by_person = defaultdict(list)
    for m in got:
        assert m.segment_id == gold.id
        by_person[m.uid].append(m.change)
    assert {uid: changes for uid, changes in by_person.items()} == {
        uid: ["enter", "exit"] * (rounds // 2) for uid in range(1, persons + 1)
    }
    assert stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=gold.id)).count == 0


def test_identify_and_orders_through_identity_and_profile(start_service, segment, stub, workspace_id):
    start_service("identity")
    start_service("profile")
    ws = workspace_id
    key = create_workspace(segment, ws)
    seed = [{"type": "identify", "userId": "u-seed", "traits": {"plan": "free"}, "messageId": new_id()}]
    assert collect(segment, key, seed).status_code == 200
    eventually(lambda: preview(stub, ws, 'traits.plan = "free"') == 1, timeout=60)
    gold = stub.CreateSegment(
        segment_pb2.CreateSegmentRequest(
            workspace_id=ws, name="gold buyers", rule='traits.plan = "gold" AND DID "Order Completed" IN LAST 30 DAYS'
        )
    )
    events = [
        {"type": "identify", "userId": "u-ling", "traits": {"plan": "gold"}, "messageId": new_id()},
        {
            "type": "track",
            "userId": "u-ling",
            "event": "Order Completed",
            "properties": {"order_id": "o1", "revenue": 99.0, "products": [{"category": "fruit"}]},
            "messageId": new_id(),
        },
    ]
    assert collect(segment, key, events).status_code == 200
    eventually(lambda: stub.Count(segment_pb2.CountRequest(workspace_id=ws, segment_id=gold.id)).count == 1, timeout=60)
    entered = memberships(segment, ws, until=lambda msgs: len(msgs) >= 1)
    assert [(m.segment_id, m.change) for m in entered] == [(gold.id, "enter")]
    assert entered[0].person_id.startswith("p") or entered[0].person_id
