"""Due timers: claimed by compare-and-set in MongoDB, advanced through Kafka.

MongoDB holds every wait (`runs.due_at`); nothing else ever holds the only
copy, so a flushed Redis or a restarted scheduler loses none. Each pass
claims the earliest due runs in one update that moves their `due_at` a lease
ahead (so the index holds only timers nobody holds, and a pass never reads
the ones claimed before: with 100,000 claimed and waiting for the worker,
filtering them on every pass was the store's largest cost), reads back what
this pass claimed and puts each on journey.timers with the run as claimed. The
worker advances it with a compare-and-set on the run's seq, so a timer
claimed twice (a lease that ran out under load, two schedulers side by side)
still moves the run once. A claimed timer whose tick was lost is claimed
again when its lease ends.

Runs of paused journeys are not claimed: their timers wait, and fall due at
resume.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid

import bson

from cdp.journey.v1 import journey_pb2
from services.journey.live import LiveJourneys
from services.journey.metrics import TIMERS_CLAIMED
from services.journey.store import JourneyStore
from services.kit.clock import Clock
from services.kit.kafka import Producer, Topics
from services.kit.mongo import due_by, try_in_transaction
from services.kit.protos import to_timestamp

log = logging.getLogger(__name__)

# Runs claimed per pass at most: one update, one read and one produce batch.
PASS = 2000
# Ticks per produce call (each carries its run, about 1 KB).
SEND_CHUNK = 500
# Claimed timers not yet advanced, at most (the worker's work of a few seconds; see InFlight).
DEFAULT_IN_FLIGHT = 1000
# How far past the last pass's edge a pass looks at first (see Scheduler.claim), and at least.
FIRST_SLICE = dt.timedelta(seconds=5)
LEAST_SLICE = dt.timedelta(milliseconds=100)


class InFlight:
    """Timers this process claimed and has not advanced yet, counted over the last half lease.

    The scheduler claims no more than `limit` ahead of the worker: claiming 100,000 at once would
    let leases run out before the worker reached them, and every expired lease is a second tick
    for a run (harmless, the compare-and-set drops it, but it is work for nothing). Claims older
    than half a lease no longer count (their ticks may have gone to another replica's worker).
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._claims: list[list[float]] = []  # [monotonic time, n not yet advanced]

    def _trim(self) -> None:
        horizon = time.monotonic() - self.window
        self._claims = [c for c in self._claims if c[0] >= horizon and c[1] > 0]

    def room(self) -> int:
        self._trim()
        return max(0, self.limit - int(sum(c[1] for c in self._claims)))

    def claimed(self, n: int) -> None:
        self._claims.append([time.monotonic(), n])

    def advanced(self, n: int) -> None:
        for claim in self._claims:
            if n <= 0:
                break
            taken = min(n, claim[1])
            claim[1] -= taken
            n -= taken


class Scheduler:
    def __init__(
        self, store: JourneyStore, producer: Producer, clock: Clock, live: LiveJourneys,
        lease_seconds: float = 60.0, idle_seconds: float = 0.5, enter_due=None, in_flight: InFlight | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.producer = producer
        self.clock = clock
        self.live = live
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.idle_seconds = idle_seconds
        self.claimed = 0
        self.in_flight = in_flight or InFlight(DEFAULT_IN_FLIGHT, lease_seconds / 2)
        # Up to when the last pass claimed (everything due before it was claimed then), and how far
        # past it the next pass looks: see claim().
        self.reach: dt.datetime | None = None
        self.slice = FIRST_SLICE
        # True when the last pass stopped short of the clock: the next one goes at once.
        self.go_on = False
        # Flow.entry_timers_due: enters the people whose date-trait entry fell due.
        self.enter_due = enter_due

    async def claim(self, now: dt.datetime, most: int = PASS) -> list[dict]:
        """Claim up to `most` due runs (earliest first) and return them as claimed.

        A pass looks at the timers due up to `slice` past where the last one stopped, not up to
        now: the embedded store reads (and sorts) every document in the range to find the
        `most`-th, so with 10,000 timers overdue each pass read all of them to claim 1,000. The
        range still starts at the beginning of time, so nothing due earlier is ever skipped; the
        slice grows while passes find less than `most` and shrinks to the span that held `most`.
        """
        await self.live.refresh()
        ahead = now if self.reach is None else min(now, self.reach + self.slice)
        caught_up = ahead >= now
        filter_: dict = {"due_at": due_by(ahead)}
        paused = self.live.paused()
        if paused:
            filter_["journey_id"] = {"$nin": paused}
        # The `most`-th earliest (due time, id) bounds this pass: everything due before its due time,
        # and of the timers due at that very time (a campaign's, often thousands) those up to its id.
        # Two indexed updates; an `$or` or `$in` would make the embedded store scan the collection.
        edge = (
            await self.store.runs.find(filter_, {"due_at": 1})
            .sort([("due_at", 1), ("_id", 1)])
            .skip(most - 1)
            .limit(1)
            .to_list(1)
        )
        if edge:
            edge_due = edge[0]["due_at"]
            self.slice = max(LEAST_SLICE, edge_due - self.reach) if self.reach is not None else self.slice
            self.reach = edge_due
        else:
            self.slice = FIRST_SLICE if caught_up else self.slice * 2
            self.reach = ahead
        self.go_on = bool(edge) or not caught_up
        token, until = uuid.uuid4().hex, now + self.lease
        claim = {"$set": {"due_at": until, "claim": token}}

        # In a transaction, so that a run a worker's transaction holds makes this pass give way
        # (and claim again next pass) instead of locking the collection (kit.mongo says why).
        async def work(session) -> list[dict]:
            if edge:
                edge_due, edge_id = edge[0]["due_at"], edge[0]["_id"]
                before = {**filter_, "due_at": due_by(edge_due, inclusive=False)}
                await self.store.runs.update_many(before, claim, session=session)
                await self.store.runs.update_many(
                    {**filter_, "due_at": edge_due, "_id": {"$lte": edge_id}}, claim, session=session
                )
            else:
                await self.store.runs.update_many(filter_, claim, session=session)
            return await self.store.runs.find({"due_at": until, "claim": token}, session=session).to_list(None)

        return await try_in_transaction(self.store.runs.database.client, work, default=[])

    async def entry_timers(self, now: dt.datetime) -> int:
        """Date-trait entries whose day came: claimed (a lease, so replicas do not both enter), then entered."""
        token = uuid.uuid4().hex
        until = now + self.lease

        async def work(session) -> list[dict]:
            result = await self.store.entry_timers.update_many(
                {"fire_at": due_by(now)}, {"$set": {"fire_at": until, "claim": token}}, session=session
            )
            if result.modified_count == 0:
                return []
            return await self.store.entry_timers.find({"fire_at": until, "claim": token}, session=session).to_list(None)

        docs = await try_in_transaction(self.store.entry_timers.database.client, work, default=[])
        if not docs:
            return 0
        return await self.enter_due(docs)

    async def tick(self) -> int:
        now = self.clock.now()
        self.go_on = False
        if self.enter_due is not None:
            try:
                await self.entry_timers(now)
            except Exception:
                log.exception("date-trait entries failed; retrying")
        room = min(PASS, self.in_flight.room())
        if room <= 0:
            return 0
        claimed = await self.claim(now, room)
        if not claimed:
            return 0
        items = [
            (
                Topics.JOURNEY_TIMERS,
                doc["person_id"],
                journey_pb2.RunDue(
                    workspace_id=doc["workspace"],
                    run_id=doc["_id"],
                    seq=doc["seq"],
                    person_id=doc["person_id"],
                    due_at=to_timestamp(doc["wait"]["due_at"]),
                    run=bson.encode(doc),
                ),
            )
            for doc in claimed
        ]
        for i in range(0, len(items), SEND_CHUNK):
            await self.producer.send_many(items[i : i + SEND_CHUNK])
        self.claimed += len(items)
        self.in_flight.claimed(len(items))
        TIMERS_CLAIMED.inc(len(items))
        return len(items)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                n = await self.tick()
            except Exception:
                log.exception("timer pass failed; retrying")
                n = 0
            if n < PASS and not self.go_on:
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=self.idle_seconds)
                except TimeoutError:
                    pass
