"""Delivering queued messages: claim, hand to the channel's provider, record the outcome.

Order matters for "nothing is sent twice": the claim (queued -> sending) is
durable before the provider is called, so a crash after the provider accepted
leaves the message in "sending", which is never claimed again. Policy checks
(rate limits, frequency caps, quiet hours) belong before the claim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from cdp.messaging.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_timestamp
from services.messaging.messages import FAILED, SENT
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: str
    reason: str = ""


class Provider(Protocol):
    async def deliver(self, channel: dict, message: MessageView) -> Outcome: ...


def status_event(doc: dict) -> events_pb2.MessageStatus:
    return events_pb2.MessageStatus(
        workspace_id=doc["workspace"],
        message_id=doc["_id"],
        person_id=doc["person_id"],
        status=doc["status"],
        reason=doc.get("status_reason") or "",
        at=to_timestamp(doc["updated_at"]),
        campaign_id=doc.get("campaign_id") or "",
    )


class Deliverer:
    def __init__(
        self, client: Any, store: MessagingStore, relay: OutboxRelay, clock: Clock, providers: dict[str, Provider]
    ) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.providers = providers

    async def deliver(self, workspace: str, message_id: str) -> str | None:
        """Deliver one message; its final status, or None when it was not queued."""
        claimed = await self.store.claim(workspace, message_id, self.clock.now())
        if claimed is None:
            # Redelivered event, or a message left "sending" by a crash: not ours to send.
            log.info("message not queued; skipped", extra={"workspace": workspace, "message_id": message_id})
            return None
        message = MessageView.of(claimed)
        outcome = await self._attempt(message)
        await self._record(message, outcome)
        return outcome.status

    async def _attempt(self, message: MessageView) -> Outcome:
        channel = await self.store.channel(message.workspace, message.channel)
        if channel is None:
            return Outcome(FAILED, f"channel {message.channel!r} no longer exists")
        provider = self.providers.get(channel["type"])
        if provider is None:
            return Outcome(FAILED, f"channel type {channel['type']!r} has no provider")
        return await provider.deliver(channel, message)

    async def _record(self, message: MessageView, outcome: Outcome) -> None:
        now = self.clock.now()
        update = {"status": outcome.status, "status_reason": outcome.reason}
        if outcome.status == SENT:
            update["sent_at"] = now

        async def work(session) -> None:
            doc = await self.store.finish(message.workspace, message.id, update, now, session)
            if doc is not None:
                await self.relay.add(Topics.MESSAGES_STATUS, doc["person_id"], status_event(doc), session)

        await in_transaction(self.client, work)
        self.relay.notify()
        log.info(
            "message delivered" if outcome.status == SENT else "message not delivered",
            extra={"message_id": message.id, "status": outcome.status, "reason": outcome.reason},
        )
