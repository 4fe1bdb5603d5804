"""Identity stitching end to end: automatic merges, the merge log, unmerge, forget, cache."""

from __future__ import annotations

import grpc
import pytest
import redis

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import collect, create_workspace, graphql, grpc_channel, lookup, mongo_db, new_id, read_topic


@pytest.fixture(scope="module")
def identity(start_service):
    return start_service("identity")


@pytest.fixture
def stub(identity):
    with grpc_channel(identity.grpc_target("identity")) as channel:
        yield identity_pb2_grpc.IdentityServiceStub(channel)


def resolve(stub, workspace: str, *ids: tuple[str, str]):
    """Resolve, then the whole person (Resolve itself answers id and uid only)."""
    request = identity_pb2.ResolveRequest(
        workspace_id=workspace, identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in ids]
    )
    person = stub.Resolve(request).person
    return stub.GetPerson(identity_pb2.GetPersonRequest(workspace_id=workspace, person_id=person.id))


def graph_of(identity, workspace: str) -> dict[tuple[str, str], str]:
    return {
        (d["type"], d["value"]): d["person_id"] for d in mongo_db(identity)["identities"].find({"workspace": workspace})
    }


def test_login_on_a_second_device_merges_into_the_older_person(identity, stub, workspace_id):
    key = create_workspace(identity, workspace_id)
    collect(identity, key, [{"type": "track", "anonymousId": "phone-app", "event": "Product Viewed"}])
    older = eventually(lambda: lookup(stub, workspace_id, "anonymous_id", "phone-app"))
    collect(identity, key, [{"type": "identify", "anonymousId": "laptop-web", "userId": "ling"}])
    newer = eventually(lambda: lookup(stub, workspace_id, "user_id", "ling"))
    assert newer.id != older.id
    cause = new_id()
    collect(identity, key, [{"type": "identify", "anonymousId": "phone-app", "userId": "ling", "messageId": cause}])
    merged = eventually(lambda: (p := lookup(stub, workspace_id, "user_id", "ling")) and p.id == older.id and p)
    assert {(i.type, i.value) for i in merged.identifiers} == {
        ("anonymous_id", "phone-app"),
        ("anonymous_id", "laptop-web"),
        ("user_id", "ling"),
    }
    # The loser is an alias that still resolves to the winner.
    assert stub.GetPerson(identity_pb2.GetPersonRequest(workspace_id=workspace_id, person_id=newer.id)).id == older.id
    (log,) = stub.ListMerges(identity_pb2.ListMergesRequest(workspace_id=workspace_id, person_id=older.id)).merges
    assert (log.winner_id, log.loser_id, log.cause_message_id) == (older.id, newer.id, cause)
    assert {(i.type, i.value) for i in log.moved} == {("anonymous_id", "laptop-web"), ("user_id", "ling")}
    assert log.rule == "shared user_id"
    announced = read_topic(
        identity,
        Topics.IDENTITY_MERGED,
        events_pb2.IdentityMerged,
        10,
        until=lambda ms: any(m.merge_id == log.id for m in ms),
    )
    event = next(m for m in announced if m.merge_id == log.id)
    assert (event.winner_uid, event.loser_uid) == (older.uid, newer.uid)


def test_normalised_email_and_phone_link_and_blocked_values_never_do(identity, stub, workspace_id):
    first = resolve(stub, workspace_id, ("user_id", "u1"), ("email", "Li.Na@Example.com"), ("phone", "138 0013 8000"))
    assert resolve(stub, workspace_id, ("email", "  li.na@example.COM")).id == first.id
    assert resolve(stub, workspace_id, ("phone", "+86 13800138000")).id == first.id
    # Two shoppers whose SDKs both send anonymousId "undefined" stay apart.
    a = resolve(stub, workspace_id, ("user_id", "a"), ("anonymous_id", "undefined"))
    b = resolve(stub, workspace_id, ("user_id", "b"), ("anonymous_id", "undefined"))
    assert a.id != b.id
    with pytest.raises(grpc.RpcError) as err:
        resolve(stub, workspace_id, ("device_id", "00000000-0000-0000-0000-000000000000"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_manual_merge_and_unmerge_restore_the_graph(identity, stub, workspace_id):
    a = resolve(stub, workspace_id, ("user_id", "anna"), ("device_id", "d-a"))
    b = resolve(stub, workspace_id, ("email", "anna@shop.cn"), ("device_id", "d-b"))
    before = graph_of(identity, workspace_id)
    record = stub.Merge(
        identity_pb2.MergeRequest(
            workspace_id=workspace_id, person_id_a=b.id, person_id_b=a.id, reason="same customer, service ticket 42"
        )
    )
    assert (record.winner_id, record.loser_id, record.reason, record.rule) == (
        a.id,
        b.id,
        "same customer, service ticket 42",
        "manual",
    )
    assert set(graph_of(identity, workspace_id).values()) == {a.id}
    with pytest.raises(grpc.RpcError) as err:
        stub.Merge(identity_pb2.MergeRequest(workspace_id=workspace_id, person_id_a=a.id, person_id_b=b.id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # b is an alias of a now

    undone = stub.Unmerge(identity_pb2.UnmergeRequest(workspace_id=workspace_id, merge_id=record.id, reason="wrong"))
    assert (undone.winner.id, undone.restored.id) == (a.id, b.id)
    assert graph_of(identity, workspace_id) == before
    again = stub.Unmerge(identity_pb2.UnmergeRequest(workspace_id=workspace_id, merge_id=record.id))
    assert again.restored.id == b.id and graph_of(identity, workspace_id) == before
    unmerged = read_topic(
        identity,
        Topics.IDENTITY_UNMERGED,
        events_pb2.IdentityUnmerged,
        10,
        until=lambda ms: any(m.merge_id == record.id for m in ms),
    )
    assert sum(m.merge_id == record.id for m in unmerged) == 1
    assert stub.ListMerges(identity_pb2.ListMergesRequest(workspace_id=workspace_id, person_id=a.id)).merges[0].undone


def test_graphql_merge_history_and_mutations(identity, stub, workspace_id):
    a = resolve(stub, workspace_id, ("user_id", "gq-a"))
    b = resolve(stub, workspace_id, ("phone", "13900139000"))
    other_user = resolve(stub, workspace_id, ("user_id", "gq-other"))
    url = identity.http_url("identity") + "/graphql"
    merged = graphql(
        url,
        workspace_id,
        """mutation($a: ID!, $b: ID!) {
        mergePersons(personIdA: $a, personIdB: $b, reason: "call centre") { id winnerId loserId reason } }""",
        {"a": a.id, "b": b.id},
    )
    merge = merged["data"]["mergePersons"]
    assert (merge["winnerId"], merge["loserId"], merge["reason"]) == (a.id, b.id, "call centre")
    history = graphql(
        url, workspace_id, "query($id: ID!) { person(id: $id) { id mergeHistory { id undone } } }", {"id": b.id}
    )["data"]["person"]
    assert history == {"id": a.id, "mergeHistory": [{"id": merge["id"], "undone": False}]}
    undone = graphql(
        url,
        workspace_id,
        'mutation($m: ID!) { unmergePersons(mergeId: $m, reason: "oops") { undone } }',
        {"m": merge["id"]},
    )
    assert undone["data"]["unmergePersons"]["undone"] is True
    # A manual merge obeys the rules too: two user ids never become one person.
    refused = graphql(
        url,
        workspace_id,
        'mutation($a: ID!, $b: ID!) { mergePersons(personIdA: $a, personIdB: $b, reason: "x") { id } }',
        {"a": a.id, "b": other_user.id},
    )
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "user_id" in refused["errors"][0]["message"]
    missing = graphql(url, workspace_id, 'mutation { unmergePersons(mergeId: "m_nope", reason: "x") { id } }')
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_forget_leaves_nothing_of_the_person(identity, stub, workspace_id):
    a = resolve(stub, workspace_id, ("user_id", "gone"), ("email", "gone@x.cn"), ("anonymous_id", "gone-dev"))
    b = resolve(stub, workspace_id, ("device_id", "gone-tablet"))
    stub.Merge(identity_pb2.MergeRequest(workspace_id=workspace_id, person_id_a=a.id, person_id_b=b.id, reason="t"))
    keep = resolve(stub, workspace_id, ("user_id", "stays"))
    r = redis.Redis.from_url(identity.redis_url)
    assert r.exists(f"cdp:idc:{workspace_id}:user_id:stays")
    result = stub.Forget(identity_pb2.ForgetRequest(workspace_id=workspace_id, person_id=b.id, reason="PIPL request"))
    assert result.person_id == a.id and result.identifiers_removed == 4
    db = mongo_db(identity)
    for collection in ("identities", "persons", "merges"):
        docs = list(db[collection].find({"workspace": workspace_id}))
        assert all(a.id not in str(d) and b.id not in str(d) and "gone" not in str(d) for d in docs), collection
    assert not [k for k in r.scan_iter(f"cdp:idc:{workspace_id}:*") if b"gone" in k]
    assert lookup(stub, workspace_id, "user_id", "gone") is None
    assert lookup(stub, workspace_id, "user_id", "stays").id == keep.id
    forgotten = read_topic(
        identity,
        Topics.PERSON_FORGOTTEN,
        events_pb2.PersonForgotten,
        10,
        until=lambda ms: any(m.person_id == a.id for m in ms),
    )
    assert next(m for m in forgotten if m.person_id == a.id).uid == a.uid


def test_cache_is_invalidated_when_a_merge_moves_identifiers(identity, stub, workspace_id):
    a = resolve(stub, workspace_id, ("user_id", "c-a"))
    b = resolve(stub, workspace_id, ("anonymous_id", "c-dev"))
    r = redis.Redis.from_url(identity.redis_url)
    assert r.get(f"cdp:idc:{workspace_id}:anonymous_id:c-dev").decode().startswith(b.id)
    stub.Merge(identity_pb2.MergeRequest(workspace_id=workspace_id, person_id_a=a.id, person_id_b=b.id, reason="t"))
    assert r.get(f"cdp:idc:{workspace_id}:anonymous_id:c-dev") is None
    assert lookup(stub, workspace_id, "anonymous_id", "c-dev").id == a.id


def test_workspace_rules_change_limits_and_add_types(identity, stub, workspace_id):
    create_workspace(identity, workspace_id)
    rules = stub.SetIdentityRules(
        identity_pb2.IdentityRules(
            workspace_id=workspace_id,
            custom_types=["member_card"],
            limits={"device_id": 1},
            blocked=["kiosk"],
            default_region="US",
            priority=["member_card", "user_id", "phone", "email", "device_id", "anonymous_id"],
        )
    )
    assert rules.priority[0] == "member_card" and rules.limits["device_id"] == 1 and "kiosk" in rules.blocked
    person = resolve(stub, workspace_id, ("member_card", "M-1"), ("device_id", "d1"), ("phone", "(650) 253-0000"))
    assert ("phone", "+16502530000") in {(i.type, i.value) for i in person.identifiers}
    # A second device is over the limit of 1 now: being the event's lowest priority, it is dropped.
    again = resolve(stub, workspace_id, ("member_card", "M-1"), ("device_id", "d2"))
    assert again.id == person.id and ("device_id", "d2") not in {(i.type, i.value) for i in again.identifiers}
    with pytest.raises(grpc.RpcError) as err:
        resolve(stub, workspace_id, ("device_id", "kiosk"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stub.SetIdentityRules(identity_pb2.IdentityRules(workspace_id=workspace_id, blocked_patterns=["(unclosed"]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "blocked_patterns" in err.value.details()
    assert (
        stub.GetIdentityRules(identity_pb2.GetIdentityRulesRequest(workspace_id=workspace_id)).limits["device_id"] == 1
    )
