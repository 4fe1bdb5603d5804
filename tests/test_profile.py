"""Profile worker: traits and order counters from resolved events, exactly once."""

from __future__ import annotations

import datetime as dt
import signal

import grpc
import pytest

from cdp.identity.v1 import events_pb2
from cdp.profile.v1 import events_pb2 as profile_events
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit.kafka import Topics
from services.kit.protos import to_struct, to_timestamp
from tests.conftest import eventually
from tests.helpers import grpc_channel, mongo_db, new_id, produce, read_topic

T0 = dt.datetime(2026, 6, 18, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def profile(start_service):
    return start_service("profile")


def resolved(
    workspace: str,
    person: str,
    uid: int,
    kind: str = "track",
    name: str = "Order Completed",
    message_id: str | None = None,
    properties: dict | None = None,
    traits: dict | None = None,
    at: dt.datetime = T0,
) -> events_pb2.ResolvedEvent:
    raw = events_pb2.RawEvent(
        workspace_id=workspace,
        message_id=message_id or new_id(),
        type=kind,
        event=name,
        user_id=person,
        properties=to_struct(properties),
        traits=to_struct(traits),
        timestamp=to_timestamp(at),
        received_at=to_timestamp(at),
    )
    return events_pb2.ResolvedEvent(event=raw, person_id=person, uid=uid)


def get_profile(stack, workspace: str, person: str) -> profile_pb2.Profile | None:
    with grpc_channel(stack.grpc_target("profile")) as channel:
        try:
            return profile_pb2_grpc.ProfileServiceStub(channel).GetProfile(
                profile_pb2.GetProfileRequest(workspace_id=workspace, person_id=person)
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise


def test_traits_and_orders_are_applied_once_even_when_redelivered(profile, workspace_id):
    person = f"p_{workspace_id}"
    order = resolved(workspace_id, person, 7, properties={"order_id": "o1", "revenue": 199.9, "currency": "CNY"})
    events = [
        resolved(workspace_id, person, 7, kind="identify", name="", traits={"gender": "female", "age": 29}),
        order,
        order,  # a redelivery: same messageId
        resolved(workspace_id, person, 7, properties={"order_id": "o2", "total": 100}),
    ]
    produce(profile, [(Topics.EVENTS_RESOLVED, person, e) for e in events])
    got = eventually(lambda: (p := get_profile(profile, workspace_id, person)) and p.computed.event_count == 3 and p)
    assert got.uid == 7
    assert dict(got.traits) == {"gender": "female", "age": 29}
    assert got.computed.order_count == 2
    assert got.computed.revenue == pytest.approx(299.9)
    assert got.computed.average_order_value == pytest.approx(149.95)
    assert mongo_db(profile)["events"].count_documents({"workspace": workspace_id}) == 3


def test_profile_changed_announces_before_and_after(profile, workspace_id):
    person = f"p_{workspace_id}"
    first = resolved(workspace_id, person, 3, kind="identify", name="", traits={"tier": "silver"})
    second = resolved(workspace_id, person, 3, kind="identify", name="", traits={"tier": "gold"})
    produce(profile, [(Topics.EVENTS_RESOLVED, person, first), (Topics.EVENTS_RESOLVED, person, second)])
    causes = {first.event.message_id, second.event.message_id}
    changed = read_topic(
        profile,
        Topics.PROFILE_CHANGED,
        profile_events.ProfileChanged,
        20,
        until=lambda ms: causes <= {m.cause_message_id for m in ms},
    )
    mine = {m.cause_message_id: m for m in changed if m.workspace_id == workspace_id}
    tier = {c.path: c for c in mine[second.event.message_id].changes}["traits.tier"]
    assert tier.before.string_value == "silver" and tier.after.string_value == "gold"
    assert mine[second.event.message_id].uid == 3


def test_upsert_traits_rejects_operator_keys_and_writes_nothing(profile, workspace_id):
    person = f"p_{workspace_id}"
    produce(
        profile,
        [
            (
                Topics.EVENTS_RESOLVED,
                person,
                resolved(workspace_id, person, 1, kind="identify", name="", traits={"a": 1}),
            )
        ],
    )
    eventually(lambda: get_profile(profile, workspace_id, person))
    with grpc_channel(profile.grpc_target("profile")) as channel:
        stub = profile_pb2_grpc.ProfileServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.UpsertTraits(
                profile_pb2.UpsertTraitsRequest(
                    workspace_id=workspace_id, person_id=person, set=to_struct({"ok": 1, "$set": {"x": 1}})
                )
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "$set" in err.value.details()
        assert dict(get_profile(profile, workspace_id, person).traits) == {"a": 1}
        done = stub.UpsertTraits(
            profile_pb2.UpsertTraitsRequest(
                workspace_id=workspace_id, person_id=person, set=to_struct({"b": "x"}), unset=["a"]
            )
        )
        assert dict(done.traits) == {"b": "x"}


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(profile, workspace_id):
    """Kill the profile worker while it works through orders; the restarted one finishes exactly.

    Slow by nature: the killed worker's open transaction keeps its documents
    locked until the server reaps it (60 s, like mongod's
    transactionLifetimeLimitSeconds), and only then can the new worker go on.
    """
    persons = [f"p_{workspace_id}_{n}" for n in range(20)]
    orders = [
        resolved(workspace_id, p, n + 1, properties={"revenue": 10 + n})
        for n, p in enumerate(persons)
        for _ in range(15)
    ]
    produce(profile, [(Topics.EVENTS_RESOLVED, e.person_id, e) for e in orders])
    events = mongo_db(profile)["events"]
    eventually(lambda: events.count_documents({"workspace": workspace_id}) >= 10, interval=0.01)
    assert profile.stop_process("profile", signal.SIGKILL) == -signal.SIGKILL
    assert events.count_documents({"workspace": workspace_id}) < len(orders), "the worker finished before the kill"
    profile.start_service("profile")
    eventually(lambda: events.count_documents({"workspace": workspace_id}) == len(orders), timeout=150)
    docs = {d["_id"]: d for d in mongo_db(profile)["profiles"].find({"workspace": workspace_id})}
    for n, p in enumerate(persons):
        computed = eventually(lambda p=p: docs_for(profile, p))["computed"]
        assert computed["order_count"] == 15, p
        assert computed["revenue"] == pytest.approx(15 * (10 + n))
    assert len(docs) == len(persons)


def docs_for(stack, person):
    doc = mongo_db(stack)["profiles"].find_one({"_id": person})
    return doc if doc and doc["computed"]["order_count"] == 15 else None
