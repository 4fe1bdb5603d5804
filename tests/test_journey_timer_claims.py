"""The scheduler's passes over thousands of overdue timers: earliest first, none skipped, a bounded look.

The embedded store reads every document of a range to find the pass's edge, so a
pass looks only a slice past where the last one stopped; these check that this
never skips a timer (one due long before the slice is still claimed next pass)
and that the look really is bounded while the scheduler is behind.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pymongo import AsyncMongoClient, monitoring

from services.journey.store import INDEXES, JourneyStore, run_doc
from services.journey.timers import Scheduler
from services.kit.clock import FixedClock
from services.kit.mongo import ensure_indexes
from tests.journey_support import waiting_run


class NothingPaused:
    async def refresh(self) -> None:
        pass

    def paused(self) -> list[str]:
        return []


class EdgeLooks(monitoring.CommandListener):
    """The upper bound of each edge query's due range."""

    def __init__(self) -> None:
        self.bounds: list[dt.datetime] = []

    def started(self, event) -> None:
        if event.command_name == "find" and event.command.get("find") == "runs" and event.command.get("skip"):
            self.bounds.append(event.command["filter"]["due_at"]["$lte"])

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def waiting(journey: str, person: str, due: dt.datetime) -> dict:
    return run_doc(waiting_run(journey, "ws_claims", person, due), None)


async def test_passes_claim_the_earliest_first_skip_nothing_and_look_a_bounded_range(stack):
    looks = EdgeLooks()
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True, event_listeners=[looks])
    try:
        # A database of its own: a journey service started by another module claims what is due in its own.
        db = client[f"claims_{uuid.uuid4().hex[:8]}"]
        await ensure_indexes(db, INDEXES)
        store = JourneyStore(db)
        now = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
        journey = f"jny_claims_{uuid.uuid4().hex[:8]}"
        # 3,000 timers overdue, one every 200 ms over the last ten minutes.
        docs = [waiting(journey, f"p{i:05d}", now - dt.timedelta(minutes=10) + dt.timedelta(milliseconds=200 * i))
                for i in range(3000)]  # fmt: skip
        await store.runs.insert_many(docs)
        due = sorted((d["due_at"], d["_id"]) for d in docs)
        scheduler = Scheduler(store, producer=None, clock=FixedClock(now), live=NothingPaused())

        # Each pass claims the earliest of what is left, at most 500.
        claimed: list[str] = []
        while len(claimed) < 1500:
            more = await scheduler.claim(now, 500)
            assert more or scheduler.go_on, "a pass found nothing while timers were left"
            assert len(more) <= 500
            claimed += [d["_id"] for d in more]
            assert sorted(claimed) == sorted(i for _, i in due[: len(claimed)])
        # Behind the clock, a pass looks only a slice past the last edge, not at all that is left.
        assert looks.bounds[-1] < now - dt.timedelta(minutes=2), looks.bounds

        # A wait that fell due long before where the passes are (a lease that ran out, a late write).
        late = waiting(journey, "late", now - dt.timedelta(hours=3))
        await store.runs.insert_one(late)
        more = await scheduler.claim(now, 500)
        assert late["_id"] in {d["_id"] for d in more}
        claimed += [d["_id"] for d in more]

        while len(claimed) < 3001:
            more = await scheduler.claim(now, 500)
            assert more or scheduler.go_on, "a pass found nothing while timers were left"
            claimed += [d["_id"] for d in more]
        assert len(set(claimed)) == len(claimed) == 3001, "a timer was claimed twice"
        assert await store.runs.count_documents({"journey_id": journey, "due_at": {"$lte": now}}) == 0
        # Caught up: the look is up to the clock again.
        await scheduler.claim(now, 500)
        assert looks.bounds[-1] == now and not scheduler.go_on
        await client.drop_database(db.name)
    finally:
        await client.close()
