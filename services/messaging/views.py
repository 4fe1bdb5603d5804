"""Message and channel documents as API values (shared by gRPC, GraphQL and the webhook body)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.messaging.messages import Content


@dataclass
class MessageView:
    workspace: str
    id: str
    person_id: str
    channel: str
    idempotency_key: str
    status: str
    status_reason: str
    category: str
    campaign_id: str
    content: Content
    created_at: dt.datetime | None
    sent_at: dt.datetime | None
    attempts: int
    template_id: str = ""
    topic: str = ""
    to: str = ""
    timezone: str = ""
    gen: int = 1
    due_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    clicked_at: dt.datetime | None = None
    converted: bool = False
    revenue: float = 0.0

    @classmethod
    def of(cls, doc: dict) -> MessageView:
        return cls(
            workspace=doc["workspace"],
            id=doc["_id"],
            person_id=doc["person_id"],
            channel=doc["channel"],
            idempotency_key=doc["idempotency_key"],
            status=doc["status"],
            status_reason=doc.get("status_reason") or "",
            category=doc.get("category") or "",
            campaign_id=doc.get("campaign_id") or "",
            content=Content.of(doc.get("content")),
            created_at=doc.get("created_at"),
            sent_at=doc.get("sent_at"),
            attempts=int(doc.get("attempts", 0)),
            template_id=doc.get("template_id") or "",
            topic=doc.get("topic") or "",
            to=doc.get("to") or "",
            timezone=doc.get("timezone") or "",
            gen=int(doc.get("gen", 1)),
            due_at=doc.get("due_at"),
            delivered_at=doc.get("delivered_at"),
            opened_at=doc.get("opened_at"),
            clicked_at=doc.get("clicked_at"),
            converted=bool(doc.get("conversions")),
            revenue=float(doc.get("revenue", 0.0)),
        )
