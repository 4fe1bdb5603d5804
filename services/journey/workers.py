"""Kafka workers of journey.

- timers: journey.timers (claimed due timers) -> runs advance, a partition's poll at once;
- events: events.resolved -> entries, "wait until event", exits, goals;
- segments: segment.membership -> entries on enter/exit, exits on leaving;
- actions: journey.actions -> messaging SendBatch and profile updates (actions.py);
- identity: merges move runs, entries and variants to the surviving person;
  forget deletes them.

Every handler is safe to repeat: entries are idempotent per cause, steps are
compare-and-set on the run's seq, sends carry idempotency keys.
"""

from __future__ import annotations

import datetime as dt
import logging

import bson

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2
from cdp.profile.v1 import events_pb2 as profile_events
from cdp.segment.v1 import events_pb2 as segment_events
from services.journey.actions import Actions
from services.journey.flow import Flow
from services.journey.metrics import RUNS_MOVED, TIMER_LATENESS
from services.journey.store import JourneyStore
from services.journey.timers import InFlight
from services.kit.clock import Clock
from services.kit.concurrent_consumer import ConcurrentConsumer
from services.kit.kafka import BATCH_LINGER, Consumer, Subscription, Topics, identity_consumer
from services.kit.mongo import in_transaction
from services.kit.protos import from_struct, from_timestamp, from_value

log = logging.getLogger(__name__)

TIMERS_GROUP = "journey.timers"
EVENTS_GROUP = "journey.events"
SEGMENTS_GROUP = "journey.segments"
ACTIONS_GROUP = "journey.actions"
IDENTITY_GROUP = "journey.identity"
PROFILE_GROUP = "journey.profile"
# Due timers advanced per transaction at most (the scheduler produces them 500 to a call).
TIMERS_PER_POLL = 500


class TimerWorker:
    def __init__(self, flow: Flow, clock: Clock, in_flight: InFlight) -> None:
        self.flow = flow
        self.clock = clock
        self.in_flight = in_flight

    async def handle(self, key: str, due: journey_pb2.RunDue) -> None:
        await self.handle_batch([(key, due)])

    async def handle_batch(self, items: list[tuple[str, journey_pb2.RunDue]]) -> None:
        docs = [bson.decode(due.run, codec_options=bson.CodecOptions(tz_aware=True)) for _, due in items]
        moved = await self.flow.timers_due(docs)
        self.in_flight.advanced(len(docs))
        RUNS_MOVED.labels("timer").inc(moved)
        now = self.clock.now()
        for doc in docs:
            due = (doc.get("wait") or {}).get("due_at")
            if due is not None:
                TIMER_LATENESS.observe(max(0.0, (now - due).total_seconds()))


class EventWorker:
    """Resolved events: exits and "until event" waits always; entries only for fresh events.

    An imported history (last year's orders) must not start this year's journeys: an event
    older than `entry_max_age` when it arrives enters nobody, though it still ends waits and
    counts as a goal within the window.
    """

    def __init__(self, flow: Flow, clock: Clock, entry_max_age: dt.timedelta) -> None:
        self.flow = flow
        self.clock = clock
        self.entry_max_age = entry_max_age

    async def handle(self, key: str, resolved: identity_events.ResolvedEvent) -> None:
        event = resolved.event
        if not resolved.person_id or event.type != "track" or not event.event:
            return
        at = from_timestamp(event.timestamp) or from_timestamp(event.received_at) or self.clock.now()
        fresh = self.clock.now() - at <= self.entry_max_age
        await self.flow.on_event(
            event.workspace_id,
            resolved.person_id,
            event.event,
            from_struct(event.properties),
            event.message_id,
            at,
            fresh,
        )


class SegmentWorker:
    def __init__(self, flow: Flow, clock: Clock) -> None:
        self.flow = flow
        self.clock = clock

    async def handle(self, key: str, change: segment_events.SegmentMembershipChanged) -> None:
        if not change.person_id or change.change not in ("enter", "exit") or change.reason:
            # A merge or a forget is not the person entering or leaving by the rule.
            return
        at = from_timestamp(change.at) or self.clock.now()
        await self.flow.on_membership(
            change.workspace_id, change.person_id, change.segment_id, change.change, change.transition_id, at
        )


class ProfileWorker:
    """profile.changed -> date-trait entries (re)scheduled."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    async def handle(self, key: str, changed: profile_events.ProfileChanged) -> None:
        if not changed.person_id:
            return
        changes = {c.path: from_value(c.after) for c in changed.changes}
        await self.flow.on_profile(changed.workspace_id, changed.person_id, changes)


class IdentityWorker:
    """Runs follow the person identity says they belong to.

    Each change is one transaction: runs are written by the worker's transactions, and a plain
    multi-document write beside them can lock the collection on the embedded store (kit.mongo's
    try_in_transaction says why); with_transaction retries the conflict instead.
    """

    def __init__(self, store: JourneyStore) -> None:
        self.store = store

    async def _transaction(self, work) -> None:
        await in_transaction(self.store.runs.database.client, work)

    async def merged(self, key: str, event: identity_events.IdentityMerged) -> None:
        ws, winner, loser = event.workspace_id, event.winner_id, event.loser_id
        if not ws or not winner or not loser or winner == loser:
            return

        async def work(session) -> None:
            await self.store.runs.update_many(
                {"workspace": ws, "person_id": loser},
                {"$set": {"person_id": winner, "merged_from": loser}},
                session=session,
            )
            # Variants stay stable: the survivor keeps theirs, and takes the loser's where they had none.
            async for doc in self.store.assignments.find({"workspace": ws, "person_id": loser}, session=session):
                await self.store.assignments.update_one(
                    {"_id": f"{ws}|{doc['experiment']}|{winner}"},
                    {"$setOnInsert": {**{k: v for k, v in doc.items() if k != "_id"}, "person_id": winner}},
                    upsert=True,
                    session=session,
                )
            await self.store.assignments.delete_many({"workspace": ws, "person_id": loser}, session=session)
            # The survivor's own profile.changed schedules its date-trait entries; the loser's are void.
            await self.store.entry_timers.delete_many({"workspace": ws, "person_id": loser}, session=session)

        await self._transaction(work)

    async def unmerged(self, key: str, event: identity_events.IdentityUnmerged) -> None:
        ws, restored = event.workspace_id, event.restored_id
        if not ws or not restored:
            return

        async def work(session) -> None:
            await self.store.runs.update_many(
                {"workspace": ws, "merged_from": restored},
                {"$set": {"person_id": restored}, "$unset": {"merged_from": ""}},
                session=session,
            )

        await self._transaction(work)

    async def forgotten(self, key: str, event: identity_events.PersonForgotten) -> None:
        ws, person = event.workspace_id, event.person_id
        if not ws or not person:
            return

        async def work(session) -> None:
            for collection in (self.store.runs, self.store.assignments, self.store.entries, self.store.entry_timers):
                await collection.delete_many({"workspace": ws, "person_id": person}, session=session)

        await self._transaction(work)


def consumers(
    bootstrap: str,
    flow: Flow,
    actions: Actions,
    store: JourneyStore,
    clock: Clock,
    entry_max_age: dt.timedelta,
    in_flight: InFlight,
) -> list[Consumer]:
    timers = TimerWorker(flow, clock, in_flight)
    return [
        # Due timers come in bursts (a campaign's minute, a schedule): one transaction for a whole poll
        # instead of one per partition. Partition batches side by side were concurrent transactions on
        # the same runs' collection, and on the embedded store they spent their time retrying conflicts.
        Consumer(
            bootstrap,
            TIMERS_GROUP,
            [
                Subscription(
                    Topics.JOURNEY_TIMERS,
                    journey_pb2.RunDue,
                    timers.handle,
                    timers.handle_batch,
                    across_partitions=True,
                )
            ],
            max_poll_records=TIMERS_PER_POLL,
            linger=BATCH_LINGER,
        ),
        Consumer(
            bootstrap,
            EVENTS_GROUP,
            [
                Subscription(
                    Topics.EVENTS_RESOLVED,
                    identity_events.ResolvedEvent,
                    EventWorker(flow, clock, entry_max_age).handle,
                )
            ],
        ),
        Consumer(
            bootstrap,
            SEGMENTS_GROUP,
            [
                Subscription(
                    Topics.SEGMENT_MEMBERSHIP,
                    segment_events.SegmentMembershipChanged,
                    SegmentWorker(flow, clock).handle,
                )
            ],
        ),
        ConcurrentConsumer(
            bootstrap,
            ACTIONS_GROUP,
            [Subscription(Topics.JOURNEY_ACTIONS, journey_pb2.JourneyAction, actions.handle, actions.handle_batch)],
        ),
        Consumer(
            bootstrap,
            PROFILE_GROUP,
            [Subscription(Topics.PROFILE_CHANGED, profile_events.ProfileChanged, ProfileWorker(flow).handle)],
        ),
        identity_consumer(bootstrap, IDENTITY_GROUP, IdentityWorker(store)),
    ]
