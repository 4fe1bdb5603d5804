"""Moves membership transitions from the shards' outbox streams to Kafka `segment.membership`, each exactly once.

Each record carries `transition_id` (segment, uid and the entry's stream id,
unique per transition). One relay holds a lease at a time, so replicas do not
send the same entries side by side.

Exactly once across crashes: before a batch is produced, a pending marker is
written to Redis with the batch's entry ids and the topic's end offsets read
just before; after the broker's ack the entries are deleted, then the marker.
A crash between the ack and the delete leaves the marker: whoever holds the
lease next reads the topic from the recorded offsets to the end
(kit.kafka.TopicLog), produces only the transitions not found there, and then
deletes the entries and the marker. Since only the lease holder produces to the
topic, every earlier attempt of the batch lies within that range.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket

from cdp.segment.v1 import events_pb2
from services.kit.kafka import Producer, TopicLog, Topics
from services.segment.bitmaps import OUTBOXES

log = logging.getLogger(__name__)

LEASE_KEY = "cdp:relay:segment.membership"
BATCH = 500
# Test hook: SIGKILL this process at the worst moments of the first batch: "ack" right after
# the broker acked it and before its entries are deleted (where a plain "delete after ack"
# relay re-sends), "half" after half of it was acked (a batch partly on the topic).
CRASH_AT = "CDP_SEGMENT_RELAY_CRASH_AT"


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
        reason=_text(fields.get(b"reason")),
    )


def transition_id_of(key: bytes | None, value: bytes) -> str | None:
    message = events_pb2.SegmentMembershipChanged()
    try:
        message.ParseFromString(value)
    except Exception:
        return None  # not ours: anything else on the topic cannot be a transition of the batch
    return message.transition_id


class MembershipRelay:
    def __init__(
        self,
        redis,
        producer: Producer,
        bootstrap: str,
        lease_seconds: float = 10.0,
        *,
        topic: str = Topics.SEGMENT_MEMBERSHIP,
        outboxes: str = OUTBOXES,
        lease_key: str = LEASE_KEY,
    ) -> None:
        self.redis = redis
        self.producer = producer
        self.topic = topic
        self.outboxes = outboxes
        self.lease_key = lease_key
        self.pending_key = f"{lease_key}:pending"
        self.log = TopicLog(bootstrap, topic)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ms = int(lease_seconds * 1000)
        self.published = 0
        self.recovered = 0

    async def _hold_lease(self) -> bool:
        if await self.redis.set(self.lease_key, self.owner, nx=True, px=self.lease_ms):
            return True
        if _text(await self.redis.get(self.lease_key)) == self.owner:
            await self.redis.pexpire(self.lease_key, self.lease_ms)
            return True
        return False

    def _records(self, entries) -> list:
        items = []
        for entry_id, fields in entries:
            message = transition(_text(entry_id), fields)
            items.append((self.topic, message.person_id or str(message.uid), message))
        return items

    async def recover(self) -> int:
        """Finish a batch a crashed relay left pending; returns how many transitions it still had to produce."""
        raw = await self.redis.get(self.pending_key)
        if not raw:
            return 0
        pending = json.loads(raw)
        stream, ids = pending["stream"], pending["ids"]
        wanted_ids = set(ids)
        entries = [
            (e, f) for e, f in await self.redis.xrange(stream, min=ids[0], max=ids[-1]) if _text(e) in wanted_ids
        ]
        missing = []
        if entries:
            items = self._records(entries)
            on_topic = await self.log.find(
                {int(p): o for p, o in pending["offsets"].items()},
                await self.producer.partitions(self.topic),
                {m.transition_id for _, _, m in items},
                transition_id_of,
            )
            missing = [item for item in items if item[2].transition_id not in on_topic]
            if missing:
                await self.producer.send_many(missing)
            await self.redis.xdel(stream, *[e for e, _ in entries])
        await self.redis.delete(self.pending_key)
        self.recovered += len(missing)
        log.warning(
            "pending membership batch recovered",
            extra={"stream": stream, "entries": len(entries), "produced": len(missing)},
        )
        return len(missing)

    async def publish_pending(self) -> int:
        await self.recover()
        sent = 0
        for stream in sorted(await self.redis.smembers(self.outboxes)):
            if not await self._hold_lease():
                break  # lost it while busy (a long pause): the holder now sends these
            entries = await self.redis.xrange(stream, count=BATCH)
            if not entries:
                continue
            items = self._records(entries)
            partitions = await self.producer.partitions(self.topic)
            marker = {
                "stream": _text(stream),
                "ids": [_text(e) for e, _ in entries],
                "offsets": {str(p): o for p, o in (await self.log.end_offsets(partitions)).items()},
            }
            await self.redis.set(self.pending_key, json.dumps(marker))
            crash = os.environ.get(CRASH_AT)
            if crash == "half":
                await self.producer.send_many(items[: len(items) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            await self.producer.send_many(items)
            if crash == "ack":
                os.kill(os.getpid(), signal.SIGKILL)
            await self.redis.xdel(stream, *[e for e, _ in entries])
            await self.redis.delete(self.pending_key)
            sent += len(entries)
        self.published += sent
        return sent

    async def run(self, stopping: asyncio.Event) -> None:
        try:
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
        finally:
            await self.log.stop()
