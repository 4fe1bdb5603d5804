"""A journey worker SIGKILLed mid-run, Redis flushed, the scheduler restarted with thousands of waits due.

The runs are written into the store as the journey service writes them
(services.journey.store.run_doc), already waiting at a wait step that fell
due: what 20,000 people who entered yesterday look like today. The checks
count what could only be counted twice if a step happened twice: the per-step
counter is incremented in the same transaction as the step's compare-and-set,
and messaging's messages carry the step's idempotency key.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time

from services.journey.model import RunState, Wait
from services.journey.store import run_doc, run_id
from tests.conftest import eventually
from tests.journey_support import (  # noqa: F401 (module fixtures)
    db_fixture,
    journeys_fixture,
    messaging_stub_fixture,
    publish,
    webhook_channel,
)

# The issue asks for 20,000 (CDP_TEST_JOURNEY_KILL_RUNS=20000); the default proves the point in CI time.
KILL_RUNS = int(os.environ.get("CDP_TEST_JOURNEY_KILL_RUNS", "3000"))
RESTART_RUNS = int(os.environ.get("CDP_TEST_JOURNEY_RESTART_RUNS", "10000"))


def waiting_then(next_node: dict, template: str | None = None) -> dict:
    nodes = {"wait": {"type": "wait", "duration": "1h", "next": "after"}, "after": next_node}
    if next_node.get("next") == "end":
        nodes["end"] = {"type": "exit"}
    return {
        "entry": {"event": {"name": "Seeded"}, "policy": {"mode": "once"}},
        "start": "wait",
        "nodes": nodes,
    }


def seed(db, workspace: str, journey: str, n: int, due: dt.datetime) -> list[str]:
    """n runs waiting at "wait", due at `due`, as the service writes them."""
    docs = []
    for i in range(n):
        person = f"seed-{i:06d}"
        state = RunState(
            run_id=run_id(journey, person, "", 0), workspace_id=workspace, journey_id=journey, version=1,
            person_id=person, key="", seq=1, status="waiting", node="wait", entered_at=due - dt.timedelta(hours=1),
            wait=Wait(node="wait", due_at=due),
        )  # fmt: skip
        doc = run_doc(state, None)
        docs.append(doc)
    for i in range(0, n, 5000):
        db["runs"].insert_many(docs[i : i + 5000], ordered=False)
    return [d["_id"] for d in docs]


def counted(db, journey: str, node: str, what: str = "entered") -> int:
    return sum(d.get(what, 0) for d in db["journey_counts"].find({"journey_id": journey, "node": node}))


def test_sigkill_of_the_journey_worker_mid_run_moves_every_due_step_exactly_once(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/kill")
    journey = publish(
        journeys, workspace_id, waiting_then({"type": "send", "channel": "hook", "template": template, "next": "end"})
    )
    seed(db, workspace_id, journey, KILL_RUNS, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))

    eventually(lambda: counted(db, journey, "after") >= KILL_RUNS // 5, timeout=300, interval=0.05)
    journeys.stop_process("journey", signal.SIGKILL)
    at_kill = counted(db, journey, "after")
    journeys.start_service("journey")

    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "done"}) == KILL_RUNS,
               timeout=max(300, KILL_RUNS / 10), interval=2)  # fmt: skip
    eventually(lambda: db["messages"].count_documents({"workspace": workspace_id, "campaign_id": journey}) == KILL_RUNS,
               timeout=max(300, KILL_RUNS / 10), interval=2)  # fmt: skip
    time.sleep(2)
    assert at_kill < KILL_RUNS, "the kill came before the end"
    assert counted(db, journey, "after") == KILL_RUNS, "each send step counted once: none skipped, none twice"
    assert counted(db, journey, "end", "done") == KILL_RUNS
    assert {d["seq"] for d in db["runs"].find({"journey_id": journey}, {"seq": 1})} == {2}
    keys = [d["idempotency_key"] for d in db["messages"].find({"workspace": workspace_id, "campaign_id": journey})]
    assert len(keys) == len(set(keys)) == KILL_RUNS
    print(f"\n{KILL_RUNS} due runs, journey worker killed after {at_kill} steps")


def test_flushing_redis_loses_no_wait(journeys, db, messaging_stub, workspace_id):
    journey = publish(journeys, workspace_id, waiting_then({"type": "exit"}))
    seed(db, workspace_id, journey, 200, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3))
    subprocess.run(["redis-cli", "-p", str(journeys.ports["redis"]), "FLUSHALL"], check=True, capture_output=True)
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "done"}) == 200, timeout=60)
    assert counted(db, journey, "after", "done") == 200


def test_a_restarted_scheduler_advances_every_wait_that_fell_due_while_it_was_down(
    journeys, db, messaging_stub, workspace_id
):
    journey = publish(journeys, workspace_id, waiting_then({"type": "exit"}))
    journeys.stop_process("journey")
    try:
        seed(db, workspace_id, journey, RESTART_RUNS, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    finally:
        journeys.start_service("journey")
    began = time.monotonic()
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "done"}) == RESTART_RUNS,
               timeout=max(300, RESTART_RUNS / 20), interval=2)  # fmt: skip
    took = time.monotonic() - began
    assert counted(db, journey, "after", "done") == RESTART_RUNS
    assert db["runs"].count_documents({"journey_id": journey, "due_at": {"$exists": True}}) == 0
    print(f"\n{RESTART_RUNS} waits due at restart advanced in {took:.1f} s")
