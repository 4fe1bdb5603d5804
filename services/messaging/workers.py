"""Kafka workers of messaging: messages.outbound -> delivery."""

from __future__ import annotations

from cdp.messaging.v1 import events_pb2
from services.kit.kafka import Consumer, Subscription, Topics
from services.messaging.delivery import Deliverer

GROUP = "messaging.delivery"


class DeliveryWorker:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer

    async def handle(self, key: str, message: events_pb2.OutboundMessage) -> None:
        await self.deliverer.deliver(message.workspace_id, message.message_id)

    def consumer(self, bootstrap: str) -> Consumer:
        return Consumer(
            bootstrap, GROUP, [Subscription(Topics.MESSAGES_OUTBOUND, events_pb2.OutboundMessage, self.handle)]
        )
