"""Kafka workers of segment: profile.changed and events.resolved -> bitmaps and memberships;
identity events -> moving and erasing uids. The work itself is in realtime.py."""

from __future__ import annotations

import logging
import time

from google.protobuf.timestamp_pb2 import Timestamp

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2
from services.kit.concurrent_consumer import ConcurrentConsumer
from services.kit.kafka import Consumer, Subscription, Topics, identity_consumer
from services.kit.protos import from_struct, from_timestamp
from services.segment.realtime import Realtime, changes_of, ms_of

log = logging.getLogger(__name__)

GROUP = "segment.index"
IDENTITY_GROUP = "segment.identity"
# Persons of a partition's poll handled side by side.
PERSONS_AT_ONCE = 16


class IndexWorker:
    """profile.changed and events.resolved, one person's records in order (they share a key)."""

    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime

    async def changed(self, key: str, message: events_pb2.ProfileChanged) -> None:
        cause = message.cause_message_id or f"changed:{message.person_id}:{ms_of(message.at)}"
        await self.realtime.profile_changed(
            message.workspace_id, message.uid, message.person_id, changes_of(message), cause, ms_of(message.at)
        )

    async def resolved(self, key: str, message: identity_events.ResolvedEvent) -> None:
        event = message.event
        if event.type != "track" or not event.event or not event.workspace_id or not message.person_id:
            return
        when = from_timestamp(event.timestamp) or from_timestamp(event.received_at)
        if when is None:
            return
        await self.realtime.event(
            event.workspace_id,
            message.uid,
            message.person_id,
            event.message_id,
            event.event,
            from_struct(event.properties),
            when,
        )

    def consumer(self, bootstrap: str) -> Consumer:
        # A person's records in order, different persons side by side: each record waits on a
        # few store and Redis round trips, so one at a time per partition left the store and
        # Redis half idle while the demo shop loaded (segment finished minutes after profile).
        return ConcurrentConsumer(
            bootstrap,
            GROUP,
            [
                Subscription(Topics.PROFILE_CHANGED, events_pb2.ProfileChanged, self.changed),
                Subscription(Topics.EVENTS_RESOLVED, identity_events.ResolvedEvent, self.resolved),
            ],
            window=PERSONS_AT_ONCE,
            keyed=True,
        )


class IdentityWorker:
    """Follows identity: merges move behaviour to the winner, merged-away and forgotten uids leave every bitmap.

    - identity.merged: the loser's event counts are added to the winner's, and the
      loser's uid is cleared from every bitmap of its shard (alive and memberships
      included). Attributes are not copied: profile announces the winner's combined
      profile on profile.changed (copying would leave stale values where traits conflict).
    - identity.unmerged: the counts go back, the restored uid is alive again and
      marked restored so a replay of the older merge cannot erase it again.
    - person.forgotten: the uid is cleared everywhere, its documents deleted, and it
      stays erased: later announcements for it never set a bit.
    Every handler is idempotent.
    """

    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime

    async def merged(self, key: str, event: identity_events.IdentityMerged) -> None:
        if not event.workspace_id or event.loser_uid == event.winner_uid:
            log.warning("merge event without a distinct loser skipped", extra={"merge_id": event.merge_id})
            return
        await self.realtime.merged(
            event.workspace_id, event.winner_uid, event.loser_uid, event.merge_id, self._at(event.at)
        )

    async def unmerged(self, key: str, event: identity_events.IdentityUnmerged) -> None:
        if not event.workspace_id:
            return
        await self.realtime.unmerged(
            event.workspace_id, event.winner_uid, event.restored_uid, event.merge_id, self._at(event.at)
        )

    async def forgotten(self, key: str, event: identity_events.PersonForgotten) -> None:
        if not event.workspace_id:
            return
        await self.realtime.forgotten(event.workspace_id, event.uid, self._at(event.at))
        log.info("forgotten uid erased", extra={"workspace": event.workspace_id, "uid": event.uid})

    @staticmethod
    def _at(ts: Timestamp) -> int:
        return ms_of(ts) or int(time.time() * 1000)

    def consumer(self, bootstrap: str) -> Consumer:
        return identity_consumer(bootstrap, IDENTITY_GROUP, self)
