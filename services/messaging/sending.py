"""Accepting sends: the message and its outbound event commit together, once per key."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from cdp.messaging.v1 import events_pb2, messaging_pb2
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction, is_duplicate_key
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_struct
from services.messaging.messages import SendCommand, new_message, validate_send
from services.messaging.store import MessagingStore


def outbound(doc: dict) -> events_pb2.OutboundMessage:
    content = doc["content"]
    return events_pb2.OutboundMessage(
        workspace_id=doc["workspace"],
        message_id=doc["_id"],
        person_id=doc["person_id"],
        channel=doc["channel"],
        idempotency_key=doc["idempotency_key"],
        content=messaging_pb2.Content(
            subject=content["subject"],
            title=content["title"],
            body=content["body"],
            deep_link=content["deep_link"],
            data=to_struct(content["data"]),
        ),
        category=doc["category"],
    )


class Sender:
    def __init__(self, client: Any, store: MessagingStore, relay: OutboxRelay, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock

    async def send(self, cmd: SendCommand) -> tuple[dict, bool]:
        """The message document and whether this call created it (False: the key existed)."""
        cmd = validate_send(cmd)
        if await self.store.channel(cmd.workspace, cmd.channel) is None:
            raise InvalidInput(f"channel {cmd.channel!r} does not exist in this workspace", "channel")
        # ObjectId strings sort by creation, which keeps "newest first" stable within a second.
        doc = new_message(cmd, str(ObjectId()), self.clock.now())

        async def work(session) -> None:
            await self.store.insert_message(doc, session)
            await self.relay.add(Topics.MESSAGES_OUTBOUND, cmd.person_id, outbound(doc), session)

        try:
            await in_transaction(self.client, work)
        except Exception as exc:
            # The unique (workspace, idempotency_key) index aborted the whole
            # transaction, outbox entry included, so nothing is enqueued twice.
            if not is_duplicate_key(exc):
                raise
            existing = await self.store.message_by_key(cmd.workspace, cmd.idempotency_key)
            if existing is None:
                raise
            return existing, False
        self.relay.notify()
        return doc, True
