"""A batch of steps in which some runs moved meanwhile: the rest still commit as one batch.

A poll of due timers holds hundreds of runs; one of them may have moved since its
timer was claimed (its event came, or its timer was claimed twice). Only the
losers may drop out, each step must happen once, and the survivors should not
fall back to one update per run (on the embedded store that turned a 500-run poll
into 500 commands inside a transaction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from pymongo import AsyncMongoClient, monitoring

from services.journey.model import RunState, Step
from services.journey.runs import Planned, Runner
from services.journey.store import INDEXES, JourneyStore, run_doc
from services.kit.clock import FixedClock
from services.kit.mongo import ensure_indexes
from services.kit.outbox import OutboxRelay
from tests.journey_support import waiting_run


class Updates(monitoring.CommandListener):
    """The `update` commands sent to the runs collection, each as its number of statements."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def started(self, event) -> None:
        if event.command_name == "update" and event.command.get("update") == "runs":
            self.sizes.append(len(event.command.get("updates", [])))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def done(state: RunState, now: dt.datetime) -> Planned:
    after = dataclasses.replace(state, seq=state.seq + 1, status="done", node="after", wait=None, ended_at=now)
    return Planned(state.seq, Step(state=after, visited=["after"]), None)


async def test_a_moved_run_drops_out_and_the_others_commit_once_as_a_batch(stack):
    listener = Updates()
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True, event_listeners=[listener])
    try:
        # A database of its own: a journey service started by another module would claim these due runs.
        db = client[f"batch_{uuid.uuid4().hex[:8]}"]
        await ensure_indexes(db, INDEXES)
        store = JourneyStore(db)
        now = dt.datetime.now(dt.UTC)
        journey, workspace = f"jny_batch_{uuid.uuid4().hex[:8]}", "ws_batch"
        states = [waiting_run(journey, workspace, f"p{i:03d}", now) for i in range(40)]
        await store.runs.insert_many([run_doc(s, None) for s in states])
        # Run 7 moved after its timer was read (its event came first): seq 1 -> 2.
        await store.runs.update_one({"_id": states[7].run_id}, {"$set": {"seq": 2, "status": "active"}})
        runner = Runner(client, store, OutboxRelay(db, None, f"batch_test_{uuid.uuid4().hex[:6]}"), FixedClock(now))
        # Run 3's timer was claimed twice: it is in the poll twice.
        plans = [done(s, now) for s in states] + [done(states[3], now)]

        listener.sizes.clear()
        committed = await runner.commit(plans)

        ids = sorted(p.step.state.run_id for p in committed)
        expected = sorted(s.run_id for i, s in enumerate(states) if i != 7)
        assert ids == expected
        by_id = {d["_id"]: d async for d in store.runs.find({"journey_id": journey})}
        assert by_id[states[7].run_id]["seq"] == 2 and by_id[states[7].run_id]["status"] == "active"
        assert all(by_id[i]["seq"] == 2 and by_id[i]["status"] == "done" for i in expected)
        # Counted once per run that moved: the counters commit in the steps' transaction.
        counted = [c async for c in store.counts.find({"journey_id": journey})]
        assert sum(c.get("done", 0) for c in counted) == 39
        # The first bulk write lost; the 39 still at seq 1 went again as one bulk write, not one by one.
        assert listener.sizes == [41, 39], listener.sizes
    finally:
        await client.drop_database(db.name)
        await client.close()
