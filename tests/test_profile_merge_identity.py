"""Profile behind the real identity service: a login merge, its unmerge and a forget.

tests/test_profile_merge.py produces identity's topics by hand; this checks the
same rules against what identity actually sends.
"""

from __future__ import annotations

import grpc
import pytest

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.conftest import eventually
from tests.helpers import collect, create_workspace, grpc_channel, mongo_db
from tests.test_profile import get_profile


@pytest.fixture(scope="module")
def running(start_service):
    start_service("profile")
    return start_service("identity")


@pytest.fixture
def stub(running):
    with grpc_channel(running.grpc_target("identity")) as channel:
        yield identity_pb2_grpc.IdentityServiceStub(channel)


def person_of(stub, workspace: str, id_type: str, value: str):
    request = identity_pb2.LookupRequest(
        workspace_id=workspace, identifier=common_pb2.Identifier(type=id_type, value=value)
    )
    try:
        return stub.Lookup(request)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def order(anonymous_id: str, revenue: float, at: str) -> dict:
    return {
        "type": "track",
        "anonymousId": anonymous_id,
        "event": "Order Completed",
        "properties": {"revenue": revenue},
        "timestamp": at,
    }


def test_login_merge_unmerge_and_forget_follow_identity(running, stub, workspace_id):
    ws = workspace_id
    key = create_workspace(running, ws)
    collect(running, key, [order("phone", 30, "2026-06-01T10:00:00Z")])
    phone = eventually(lambda: person_of(stub, ws, "anonymous_id", "phone"))
    collect(
        running,
        key,
        [
            {
                "type": "identify",
                "anonymousId": "laptop",
                "userId": "ling",
                "traits": {"tier": "gold"},
                "timestamp": "2026-06-02T10:00:00Z",
            },
            order("laptop", 70, "2026-06-03T10:00:00Z"),
        ],
    )
    laptop = eventually(lambda: person_of(stub, ws, "user_id", "ling"))
    eventually(lambda: (p := get_profile(running, ws, laptop.id)) and p.computed.event_count == 2)
    eventually(lambda: (p := get_profile(running, ws, phone.id)) and p.computed.event_count == 1)

    # Logging in on the phone ties both devices to "ling": the older person (phone) wins.
    collect(
        running,
        key,
        [{"type": "identify", "anonymousId": "phone", "userId": "ling", "timestamp": "2026-06-04T10:00:00Z"}],
    )
    merged = eventually(lambda: (p := get_profile(running, ws, phone.id)) and p.computed.event_count == 4 and p)
    assert merged.computed.order_count == 2 and merged.computed.revenue == pytest.approx(100.0)
    assert dict(merged.traits) == {"tier": "gold"}
    assert get_profile(running, ws, laptop.id).person_id == phone.id

    (record,) = stub.ListMerges(identity_pb2.ListMergesRequest(workspace_id=ws, person_id=phone.id)).merges
    stub.Unmerge(identity_pb2.UnmergeRequest(workspace_id=ws, merge_id=record.id, reason="test"))
    restored = eventually(lambda: (p := get_profile(running, ws, laptop.id)) and p.person_id == laptop.id and p)
    assert restored.computed.order_count == 1 and dict(restored.traits) == {"tier": "gold"}
    winner = get_profile(running, ws, phone.id)
    assert winner.computed.order_count == 1 and winner.computed.event_count == 2 and dict(winner.traits) == {}

    stub.Forget(identity_pb2.ForgetRequest(workspace_id=ws, person_id=laptop.id))
    db = mongo_db(running)
    eventually(lambda: db["profiles"].count_documents({"_id": laptop.id}) == 0)
    assert db["events"].count_documents({"workspace": ws, "person_id": laptop.id}) == 0
    assert get_profile(running, ws, phone.id).computed.event_count == 2
