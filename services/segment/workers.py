"""Kafka workers of segment: profile.changed -> bitmap index."""

from __future__ import annotations

from cdp.profile.v1 import events_pb2
from services.kit.kafka import Consumer, Subscription, Topics
from services.kit.protos import from_value
from services.segment.bitmaps import BitmapIndex

GROUP = "segment.index"
TRAIT_PREFIX = "traits."


class IndexWorker:
    """Keeps trait bitmaps in step with profiles.

    Replays are harmless: the bits end as the last change in the partition
    (one person's changes share a key, so they arrive in order) says.
    """

    def __init__(self, index: BitmapIndex) -> None:
        self.index = index

    async def handle(self, key: str, changed: events_pb2.ProfileChanged) -> None:
        changes = [
            (c.path[len(TRAIT_PREFIX) :], from_value(c.before), from_value(c.after))
            for c in changed.changes
            if c.path.startswith(TRAIT_PREFIX)
        ]
        await self.index.apply_trait_changes(changed.workspace_id, changed.uid, changes)

    def consumer(self, bootstrap: str) -> Consumer:
        return Consumer(
            bootstrap, GROUP, [Subscription(Topics.PROFILE_CHANGED, events_pb2.ProfileChanged, self.handle)]
        )
