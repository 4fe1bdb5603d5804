"""A workspace's catastrophic blocked-value regex stalls nobody: RE2 matches in linear time.

With Python's backtracking `re`, `(a+)+b` against 256 'a's never finishes, and
the resolver (one event loop for every workspace) would stop for all of them.
"""

from __future__ import annotations

import time

import grpc
import pytest

from cdp.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc
from services.kit.kafka import Topics
from tests.conftest import grpc_stub
from tests.helpers import collect, create_workspace, lookup, new_id, read_topic


@pytest.fixture(scope="module")
def identity(start_service):
    return start_service("identity")


def test_workspace_a_catastrophic_pattern_leaves_a_and_other_workspaces_resolving(identity):
    a, b = f"ws_{new_id()[:12]}", f"ws_{new_id()[:12]}"
    key_a, key_b = create_workspace(identity, a), create_workspace(identity, b)
    stub = grpc_stub(identity, "identity", identity_pb2_grpc.IdentityServiceStub)
    stub.SetIdentityRules(identity_pb2.IdentityRules(workspace_id=a, blocked_patterns=["(a+)+b"]))

    worst = "a" * 256  # the longest identifier accepted; exponential for a backtracking engine
    a_events = [
        {"type": "track", "event": "Product Viewed", "anonymousId": worst[: 256 - i], "messageId": new_id()}
        for i in range(20)
    ]
    blocked = {"type": "identify", "userId": "a-user", "anonymousId": "a" * 255 + "b", "messageId": new_id()}
    started = time.monotonic()
    assert collect(identity, key_a, [*a_events, blocked]).status_code == 200
    b_event = {"type": "track", "event": "X", "anonymousId": "b-dev", "messageId": new_id()}
    assert collect(identity, key_b, [b_event]).status_code == 200

    # Read from Kafka, not from identity: a stalled resolver (one event loop for its gRPC server
    # too) fails this by timing out instead of hanging the test.
    wanted = {e["messageId"] for e in a_events} | {blocked["messageId"], b_event["messageId"]}
    resolved = read_topic(
        identity,
        Topics.EVENTS_RESOLVED,
        events_pb2.ResolvedEvent,
        15,
        until=lambda msgs: wanted <= {m.event.message_id for m in msgs},
    )
    elapsed = time.monotonic() - started
    assert wanted <= {m.event.message_id for m in resolved}, "events of A or B were not resolved within 15 s"
    assert elapsed < 15, f"{elapsed:.1f} s"

    assert lookup(stub, b, "anonymous_id", "b-dev")
    assert all(lookup(stub, a, "anonymous_id", e["anonymousId"]) for e in a_events)
    user = lookup(stub, a, "user_id", "a-user")
    # The pattern still does its job: the value it matches identifies nobody.
    assert ("anonymous_id", "a" * 255 + "b") not in {(i.type, i.value) for i in user.identifiers}
    with pytest.raises(grpc.RpcError) as err:
        lookup(stub, a, "anonymous_id", "a" * 255 + "b")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "blocked" in err.value.details()
