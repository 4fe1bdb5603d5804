"""Kafka workers of segment: profile.changed -> bitmap index; identity events -> erasing uids."""

from __future__ import annotations

import logging
import time

from google.protobuf.timestamp_pb2 import Timestamp

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2
from services.kit.kafka import Consumer, Subscription, Topics, identity_consumer
from services.kit.protos import from_value
from services.segment.bitmaps import FORGOTTEN, MERGED, BitmapIndex

log = logging.getLogger(__name__)

GROUP = "segment.index"
IDENTITY_GROUP = "segment.identity"
TRAIT_PREFIX = "traits."


def _ms(ts: Timestamp) -> int | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.seconds * 1000 + ts.nanos // 1_000_000


class IndexWorker:
    """Keeps trait bitmaps in step with profiles.

    Replays are harmless: the bits end as the last change in the partition
    (one person's changes share a key, so they arrive in order) says. A change
    for a uid that identity events erased is dropped (see BitmapIndex.retire).
    """

    def __init__(self, index: BitmapIndex) -> None:
        self.index = index

    async def handle(self, key: str, changed: events_pb2.ProfileChanged) -> None:
        changes = [
            (c.path[len(TRAIT_PREFIX) :], from_value(c.before), from_value(c.after))
            for c in changed.changes
            if c.path.startswith(TRAIT_PREFIX)
        ]
        # A change without a time counts as "oldest": it cannot bring back a merged-away uid.
        at = _ms(changed.at)
        await self.index.apply_trait_changes(changed.workspace_id, changed.uid, changes, 0 if at is None else at)

    def consumer(self, bootstrap: str) -> Consumer:
        return Consumer(
            bootstrap, GROUP, [Subscription(Topics.PROFILE_CHANGED, events_pb2.ProfileChanged, self.handle)]
        )


class IdentityWorker:
    """Follows identity: a merged-away or forgotten uid leaves every bitmap.

    - identity.merged: the loser's uid is cleared from every bitmap of its
      shard, `alive` included, so it is in no segment, NOT rules do not count
      it, and Person.segments of the old id is []. Nothing is copied to the
      winner: profile announces the winner's combined profile on profile.changed
      and IndexWorker sets those bits (copying would leave stale values where
      traits conflict).
    - identity.unmerged: the restored uid is made alive again. Profile announces
      the restored person's traits (from nothing) on profile.changed, which
      also sets alive; doing it here too keeps a restored person without any
      trait counted, and marks the uid restored so a replay of the older merge
      cannot erase it again.
    - person.forgotten: the uid is cleared everywhere and stays erased: the
      profile's "every trait to null" announcement (and anything later) for it
      never sets a bit, `alive` included.

    Segment membership is not stored anywhere (it is evaluated from the
    bitmaps), so there is nothing else to clear. Every handler is idempotent.
    """

    def __init__(self, index: BitmapIndex) -> None:
        self.index = index

    async def merged(self, key: str, event: identity_events.IdentityMerged) -> None:
        if not event.workspace_id or event.loser_uid == event.winner_uid:
            log.warning("merge event without a distinct loser skipped", extra={"merge_id": event.merge_id})
            return
        cleared = await self.index.retire(event.workspace_id, event.loser_uid, MERGED, self._at(event.at))
        log.info(
            "merged-away uid erased" if cleared is not None else "merge already undone; skipped",
            extra={"workspace": event.workspace_id, "merge_id": event.merge_id, "uid": event.loser_uid},
        )

    async def unmerged(self, key: str, event: identity_events.IdentityUnmerged) -> None:
        if not event.workspace_id:
            return
        await self.index.restore(event.workspace_id, event.restored_uid, self._at(event.at))

    async def forgotten(self, key: str, event: identity_events.PersonForgotten) -> None:
        if not event.workspace_id:
            return
        await self.index.retire(event.workspace_id, event.uid, FORGOTTEN, self._at(event.at))
        log.info("forgotten uid erased", extra={"workspace": event.workspace_id, "uid": event.uid})

    @staticmethod
    def _at(ts: Timestamp) -> int:
        return _ms(ts) or int(time.time() * 1000)

    def consumer(self, bootstrap: str) -> Consumer:
        return identity_consumer(bootstrap, IDENTITY_GROUP, self)
