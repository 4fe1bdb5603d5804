"""The outbound record: what a message's dispatch puts on messages.outbound for the delivery worker.

Built by the sender (first dispatch) and again by delivery and reconciliation
(a deferred message's next generation, a reconciled redispatch), so it lives
apart from all three.
"""

from __future__ import annotations

from cdp.messaging.v1 import events_pb2, messaging_pb2
from services.kit.kafka import Topics
from services.kit.protos import to_struct
from services.messaging.messages import TRANSACTIONAL


def outbound_topic(category: str) -> str:
    return Topics.MESSAGES_OUTBOUND_TRANSACTIONAL if category == TRANSACTIONAL else Topics.MESSAGES_OUTBOUND


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
        generation=doc.get("gen", 1),
        campaign_id=doc.get("campaign_id") or "",
        timezone=doc.get("timezone") or "",
        template_id=doc.get("template_id") or "",
    )
