"""An exit that loses its compare-and-set to a timer still ends the run.

An exit event reads the person's runs, then ends each; a run's timer may fire in
between and step it (seq 1 -> 2). The exit must then apply to where the run is
now, not be dropped: otherwise the person stays in a journey they left.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pymongo import AsyncMongoClient

from services.journey import definition as definitions
from services.journey.live import LiveVersion
from services.journey.runs import Runner
from services.journey.store import INDEXES, JourneyStore, run_doc
from services.kit.clock import FixedClock
from services.kit.mongo import ensure_indexes
from services.kit.outbox import OutboxRelay
from tests.journey_support import waiting_run

DEFINITION = {
    "entry": {"event": {"name": "Seen"}},
    "exit": [{"event": "Left"}],
    "start": "wait",
    "nodes": {
        "wait": {"type": "wait", "duration": "1h", "next": "wait2"},
        "wait2": {"type": "wait", "duration": "1h", "next": "x"},
        "x": {"type": "exit"},
    },
}


@pytest.fixture(name="runs")
async def runs_fixture(stack):
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    # A database of its own: no journey service claims these runs' timers.
    db = client[f"end_{uuid.uuid4().hex[:8]}"]
    await ensure_indexes(db, INDEXES)
    store = JourneyStore(db)
    now = dt.datetime.now(dt.UTC)
    runner = Runner(client, store, OutboxRelay(db, None, f"end_test_{uuid.uuid4().hex[:6]}"), FixedClock(now))
    try:
        yield store, runner, now
    finally:
        await client.drop_database(db.name)
        await client.close()


def _version(journey: str, workspace: str) -> LiveVersion:
    return LiveVersion(workspace, journey, 1, definitions.parse(DEFINITION), "active", "journey")


async def test_an_exit_that_loses_to_a_timer_still_ends_the_run(runs):
    store, runner, now = runs
    journey, workspace = f"jny_end_{uuid.uuid4().hex[:8]}", "ws_end"
    read = waiting_run(journey, workspace, "p1", now)
    await store.runs.insert_one(run_doc(read, None))
    # The timer fired after the exit read the run: it now waits at the next step, seq 2.
    due = now + dt.timedelta(hours=1)
    await store.runs.update_one(
        {"_id": read.run_id},
        {"$set": {"seq": 2, "node": "wait2", "wait": {"node": "wait2", "due_at": due, "event": None, "match": {}},
                  "due_at": due}},
    )  # fmt: skip

    assert await runner.end(_version(journey, workspace), read, "exit event Left")

    doc = await store.runs.find_one({"_id": read.run_id})
    assert (doc["status"], doc["seq"], doc["end_reason"]) == ("exited", 3, "exit event Left")
    assert doc["wait"] is None and "due_at" not in doc  # its pending wait is void


async def test_an_exit_that_loses_to_the_run_finishing_leaves_it_finished(runs):
    store, runner, now = runs
    journey, workspace = f"jny_end_{uuid.uuid4().hex[:8]}", "ws_end"
    read = waiting_run(journey, workspace, "p2", now)
    await store.runs.insert_one(run_doc(read, None))
    await store.runs.update_one(
        {"_id": read.run_id},
        {"$set": {"seq": 2, "status": "done", "node": "x", "wait": None, "ended_at": now}, "$unset": {"due_at": ""}},
    )

    assert not await runner.end(_version(journey, workspace), read, "exit event Left")

    doc = await store.runs.find_one({"_id": read.run_id})
    assert (doc["status"], doc["seq"]) == ("done", 2)
