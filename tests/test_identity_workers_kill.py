"""Two identity workers on one consumer group; one is SIGKILLed mid-stream.

The shoppers' events are spread over partitions (keyed by device), so the two
workers race to link and merge the same persons. The graph must end as a
single worker would leave it: every shopper one live person holding exactly
their identifiers. Slow by nature: the group must notice the dead member, and
a merge transaction cut by the kill keeps its documents locked until the
server reaps it (60 s).
"""

from __future__ import annotations

import random
import signal

from tests.conftest import eventually
from tests.helpers import collect, create_workspace, mongo_db
from tools.stack import free_port

SHOPPERS = 40


def shopper_events(n: int) -> list[dict]:
    user, phone_app, web, email = f"u{n}", f"app-{n}", f"web-{n}", f"s{n}@shop.cn"
    return [
        {"type": "track", "anonymousId": phone_app, "event": "Application Opened"},
        {"type": "track", "anonymousId": web, "event": "Product Viewed"},
        {"type": "identify", "anonymousId": phone_app, "userId": user},
        {"type": "identify", "anonymousId": web, "userId": user, "traits": {"email": email}},
    ]


def expected_partition() -> set[frozenset]:
    return {
        frozenset(
            {
                ("user_id", f"u{n}"),
                ("anonymous_id", f"app-{n}"),
                ("anonymous_id", f"web-{n}"),
                ("email", f"s{n}@shop.cn"),
            }
        )
        for n in range(SHOPPERS)
    }


def partition(stack, workspace: str) -> set[frozenset]:
    groups: dict[str, set] = {}
    for d in mongo_db(stack)["identities"].find({"workspace": workspace}):
        groups.setdefault(d["person_id"], set()).add((d["type"], d["value"]))
    return {frozenset(g) for g in groups.values()}


def test_sigkill_of_one_of_two_workers_leaves_the_same_graph(start_service, workspace_id):
    # The session's own identity replica is in the group too: three members, one killed.
    stack = start_service("identity")
    key = create_workspace(stack, workspace_id)
    for name in ("identity-w1", "identity-w2"):
        stack.start_service("identity", name=name, CDP_HTTP_PORT=str(free_port()), CDP_GRPC_PORT=str(free_port()))
    events = [e for n in range(SHOPPERS) for e in shopper_events(n)]
    random.Random(5).shuffle(events)
    for start in range(0, len(events), 20):
        assert collect(stack, key, events[start : start + 20]).status_code == 200
    identities = mongo_db(stack)["identities"]
    eventually(lambda: identities.count_documents({"workspace": workspace_id}) >= 20, interval=0.02)
    assert stack.stop_process("identity-w1", signal.SIGKILL) == -signal.SIGKILL
    assert identities.count_documents({"workspace": workspace_id}) < 4 * SHOPPERS, "the stream ended before the kill"
    try:
        eventually(lambda: partition(stack, workspace_id) == expected_partition(), timeout=180, interval=1)
    finally:
        stack.stop_process("identity-w2")
    persons = mongo_db(stack)["persons"]
    owners = {d["person_id"] for d in identities.find({"workspace": workspace_id})}
    assert all(not persons.find_one({"_id": p}).get("merged_into") for p in owners)
    assert len(owners) == SHOPPERS
