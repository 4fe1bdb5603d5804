"""Moves membership transitions from the shards' outbox streams to Kafka `segment.membership`.

An entry is deleted from its stream only after the broker acknowledged it, so a
crash re-sends at most the batch in flight (at-least-once between Redis and
Kafka). Each record carries `transition_id` (segment, uid and the entry's
stream id, unique per transition), so a consumer can drop such a re-send; no
other path produces a second record for the same transition. One relay holds a
lease at a time, so replicas do not send the same entries side by side.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from cdp.segment.v1 import events_pb2
from services.kit.kafka import Producer, Topics
from services.segment.bitmaps import OUTBOXES

log = logging.getLogger(__name__)

LEASE_KEY = "cdp:relay:segment.membership"
BATCH = 500


def _text(value: bytes | None) -> str:
    return value.decode() if value else ""


def transition(entry_id: str, fields: dict[bytes, bytes]) -> events_pb2.SegmentMembershipChanged:
    from google.protobuf.timestamp_pb2 import Timestamp

    at_ms = int(_text(fields.get(b"at")) or 0)
    segment, uid = _text(fields.get(b"segment")), _text(fields.get(b"uid"))
    return events_pb2.SegmentMembershipChanged(
        workspace_id=_text(fields.get(b"workspace")),
        segment_id=segment,
        person_id=_text(fields.get(b"person")),
        uid=int(uid or 0),
        change=_text(fields.get(b"change")),
        at=Timestamp(seconds=at_ms // 1000, nanos=(at_ms % 1000) * 1_000_000),
        cause_message_id=_text(fields.get(b"cause")),
        transition_id=f"{segment}:{uid}:{entry_id}",
    )


class MembershipRelay:
    def __init__(self, redis, producer: Producer, lease_seconds: float = 10.0) -> None:
        self.redis = redis
        self.producer = producer
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ms = int(lease_seconds * 1000)
        self.published = 0

    async def _hold_lease(self) -> bool:
        if await self.redis.set(LEASE_KEY, self.owner, nx=True, px=self.lease_ms):
            return True
        if _text(await self.redis.get(LEASE_KEY)) == self.owner:
            await self.redis.pexpire(LEASE_KEY, self.lease_ms)
            return True
        return False

    async def publish_pending(self) -> int:
        sent = 0
        for stream in sorted(await self.redis.smembers(OUTBOXES)):
            entries = await self.redis.xrange(stream, count=BATCH)
            if not entries:
                continue
            items = []
            for entry_id, fields in entries:
                message = transition(_text(entry_id), fields)
                items.append((Topics.SEGMENT_MEMBERSHIP, message.person_id or str(message.uid), message))
            await self.producer.send_many(items)
            await self.redis.xdel(stream, *[e for e, _ in entries])
            sent += len(entries)
        self.published += sent
        return sent

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            busy = False
            try:
                if await self._hold_lease():
                    busy = await self.publish_pending() > 0
            except Exception:
                log.exception("membership relay failed; retrying")
            if not busy:
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=0.2)
                except TimeoutError:
                    pass
