"""messaging follows identity: merged persons' messages move, unmerge gives them back, forget deletes.

Real processes: the messaging service sends to a webhook sink in this test
process and consumes the identity topics from Tansu; the tests produce the
identity events themselves, as the identity service would.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.messaging.v1 import events_pb2, messaging_pb2
from services.kit.kafka import Topics
from services.kit.protos import to_struct, to_timestamp
from services.messaging.messages import Content, SendCommand, new_message
from tests.conftest import eventually
from tests.helpers import graphql, produce
from tests.messaging_support import db_fixture, messaging_fixture, stub_fixture  # noqa: F401 (module fixtures)


@pytest.fixture
def ws(stub, sink, workspace_id) -> str:
    stub.UpsertChannel(
        messaging_pb2.Channel(
            workspace_id=workspace_id,
            name="hook",
            type="webhook",
            config=to_struct({"url": f"{sink.url}/ok/{workspace_id}"}),
        )
    )
    # No quiet hours: these tests are about whose messages are whose, whatever the hour.
    stub.SetPolicy(messaging_pb2.Policy(workspace_id=workspace_id, quiet_start="00:00", quiet_end="00:00"))
    return workspace_id


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def send(stub, ws: str, person: str, n: int = 1) -> list[str]:
    return [
        stub.Send(
            messaging_pb2.SendRequest(
                workspace_id=ws,
                person_id=person,
                channel="hook",
                idempotency_key=f"{person}-{uuid.uuid4().hex[:8]}",
                content=messaging_pb2.Content(title="Snack combo", body=f"coupon for {person}"),
            )
        ).id
        for _ in range(n)
    ]


def ids_of(stub, ws: str, person: str) -> set[str]:
    listed = stub.ListMessages(messaging_pb2.ListMessagesRequest(workspace_id=ws, person_id=person, limit=500))
    assert all(m.person_id == person for m in listed.messages)
    return {m.id for m in listed.messages}


def merged(ws: str, winner: str, loser: str, merge_id: str, key: str = ""):
    return (
        Topics.IDENTITY_MERGED,
        key or winner,
        identity_events.IdentityMerged(
            workspace_id=ws,
            merge_id=merge_id,
            winner_id=winner,
            winner_uid=1,
            loser_id=loser,
            loser_uid=2,
            rule="test",
            at=to_timestamp(now()),
        ),
    )


def unmerged(ws: str, winner: str, restored: str, merge_id: str):
    return (
        Topics.IDENTITY_UNMERGED,
        winner,
        identity_events.IdentityUnmerged(
            workspace_id=ws,
            merge_id=merge_id,
            winner_id=winner,
            winner_uid=1,
            restored_id=restored,
            restored_uid=2,
            at=to_timestamp(now()),
        ),
    )


def forgotten(ws: str, person: str, key: str = ""):
    return (
        Topics.PERSON_FORGOTTEN,
        key or person,
        identity_events.PersonForgotten(workspace_id=ws, person_id=person, uid=1, at=to_timestamp(now())),
    )


def person_messages(stack, ws: str, people: list[str]) -> dict[str, set[str]]:
    answer = graphql(
        stack.http_url("messaging") + "/graphql",
        ws,
        """query($r: [_Any!]!) {
             _entities(representations: $r) { ... on Person { id messages(limit: 500) { id personId } } }
           }""",
        {"r": [{"__typename": "Person", "id": p} for p in people]},
    )
    assert "errors" not in answer, answer
    out = {}
    for person in answer["data"]["_entities"]:
        assert all(m["personId"] == person["id"] for m in person["messages"])
        out[person["id"]] = {m["id"] for m in person["messages"]}
    return out


def test_merge_moves_messages_and_unmerge_moves_back_exactly_those(messaging, stub, db, ws):
    winner_own = set(send(stub, ws, "win", 1))
    loser_own = set(send(stub, ws, "lose", 2))

    merge = merged(ws, "win", "lose", "m-1")
    produce(messaging, [merge])

    eventually(lambda: ids_of(stub, ws, "win") == winner_own | loser_own)
    assert ids_of(stub, ws, "lose") == set()
    assert person_messages(messaging, ws, ["win", "lose"]) == {"win": winner_own | loser_own, "lose": set()}
    for doc in db.messages.find({"workspace": ws, "_id": {"$in": list(loser_own)}}):
        assert doc["original_person_id"] == "lose"
        assert doc["merged_via"] == [{"merge_id": "m-1", "from": "lose"}]
    assert "original_person_id" not in db.messages.find_one({"_id": next(iter(winner_own))})

    # Replay: nothing moves twice (a second merge behind it, same key, shows it was handled).
    probe = set(send(stub, ws, "probe", 1))
    produce(messaging, [merge, merged(ws, "win", "probe", "m-probe")])
    eventually(lambda: ids_of(stub, ws, "probe") == set())
    assert ids_of(stub, ws, "win") == winner_own | loser_own | probe
    assert db.messages.find_one({"_id": next(iter(loser_own))})["merged_via"] == [{"merge_id": "m-1", "from": "lose"}]

    produce(messaging, [unmerged(ws, "win", "lose", "m-1")])

    eventually(lambda: ids_of(stub, ws, "lose") == loser_own)
    assert ids_of(stub, ws, "win") == winner_own | probe
    assert person_messages(messaging, ws, ["win", "lose"]) == {"win": winner_own | probe, "lose": loser_own}
    assert all(d["merged_via"] == [] for d in db.messages.find({"_id": {"$in": list(loser_own)}}))

    # The undone merge replayed (or arriving late) does not move them again.
    later = set(send(stub, ws, "later", 1))
    produce(messaging, [merge, merged(ws, "win", "later", "m-later")])
    eventually(lambda: ids_of(stub, ws, "later") == set())
    assert ids_of(stub, ws, "lose") == loser_own
    assert ids_of(stub, ws, "win") == winner_own | probe | later


def test_unmerge_in_a_chain_gives_back_what_the_merge_carried(messaging, stub, ws):
    k, l_, w = set(send(stub, ws, "k")), set(send(stub, ws, "l", 2)), set(send(stub, ws, "w"))
    produce(messaging, [merged(ws, "l", "k", "m-kl")])
    eventually(lambda: ids_of(stub, ws, "l") == k | l_)
    produce(messaging, [merged(ws, "w", "l", "m-lw")])
    eventually(lambda: ids_of(stub, ws, "w") == k | l_ | w)

    # Undo the later merge: l gets back its own messages and those k brought into it.
    produce(messaging, [unmerged(ws, "w", "l", "m-lw")])
    eventually(lambda: ids_of(stub, ws, "l") == k | l_)
    assert ids_of(stub, ws, "w") == w
    assert ids_of(stub, ws, "k") == set()

    # Undo the earlier one: k's message returns from l.
    produce(messaging, [unmerged(ws, "l", "k", "m-kl")])
    eventually(lambda: ids_of(stub, ws, "k") == k)
    assert ids_of(stub, ws, "l") == l_


def test_an_unmerge_seen_before_its_merge_wins(messaging, stub, db, ws):
    lose = set(send(stub, ws, "lose", 2))
    # Different topics have no order between them: the unmerge may be handled first.
    produce(messaging, [unmerged(ws, "win", "lose", "m-9")])
    eventually(lambda: db.identity_log.find_one({"_id": f"{ws}:unmerged:m-9"}))

    probe = set(send(stub, ws, "probe"))
    produce(messaging, [merged(ws, "win", "lose", "m-9"), merged(ws, "win", "probe", "m-probe")])
    eventually(lambda: ids_of(stub, ws, "win") == probe)
    assert ids_of(stub, ws, "lose") == lose


def queued(db, ws: str, person: str) -> str:
    """A message still waiting for delivery, as Sender stores it (its outbound event is produced later)."""
    message_id = f"inflight-{uuid.uuid4().hex[:10]}"
    cmd = SendCommand(
        workspace=ws,
        person_id=person,
        channel="hook",
        content=Content(title="in flight", body=person),
        idempotency_key=message_id,
        category="marketing",
    )
    db.messages.insert_one(new_message(cmd, message_id, now()))
    return message_id


def outbound(ws: str, message_id: str, person: str, key: str):
    return (
        Topics.MESSAGES_OUTBOUND,
        key,
        events_pb2.OutboundMessage(
            workspace_id=ws, message_id=message_id, person_id=person, channel="hook", idempotency_key=message_id
        ),
    )


def test_forget_deletes_every_message_of_the_person_and_an_in_flight_one_is_not_sent(messaging, stub, db, sink, ws):
    own, merged_in = set(send(stub, ws, "gone", 2)), set(send(stub, ws, "absorbed"))
    keep = set(send(stub, ws, "keep"))
    produce(messaging, [merged(ws, "gone", "absorbed", "m-ga")])
    eventually(lambda: ids_of(stub, ws, "gone") == own | merged_in)
    in_flight = queued(db, ws, "gone")
    assert db.messages.count_documents({"workspace": ws, "person_id": "gone"}) == 4

    produce(messaging, [forgotten(ws, "gone")])

    erased = {"workspace": ws, "$or": [{"person_id": {"$in": ["gone", "absorbed"]}}, {"original_person_id": "gone"}]}
    eventually(lambda: db.messages.count_documents(erased) == 0)
    assert db.messages.count_documents({"workspace": ws, "_id": {"$in": list(own | merged_in) + [in_flight]}}) == 0
    assert ids_of(stub, ws, "gone") == set() and ids_of(stub, ws, "absorbed") == set()
    assert person_messages(messaging, ws, ["gone", "keep"]) == {"gone": set(), "keep": keep}

    # The in-flight message's delivery event arrives after the forget: the claim finds nothing,
    # so it is not sent. The control message behind it (same key, same partition) is.
    control = queued(db, ws, "keep")
    produce(messaging, [outbound(ws, in_flight, "gone", "gone"), outbound(ws, control, "keep", "gone")])
    eventually(lambda: any(r.body["messageId"] == control for r in sink.at(f"/ok/{ws}")))
    assert not any(r.body["messageId"] == in_flight for r in sink.at(f"/ok/{ws}"))
    assert db.messages.find_one({"_id": in_flight}) is None

    # A merge into the forgotten person that arrives late deletes the loser's messages instead of
    # moving them in; a replayed forget is harmless.
    late = set(send(stub, ws, "late"))
    produce(messaging, [forgotten(ws, "gone"), merged(ws, "gone", "late", "m-late")])
    eventually(lambda: db.messages.count_documents({"_id": {"$in": list(late)}}) == 0)
    assert ids_of(stub, ws, "gone") == set()
    assert db.messages.count_documents(erased) == 0
    assert ids_of(stub, ws, "keep") == keep | {control}
