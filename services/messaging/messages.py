"""Messages as the domain sees them: statuses, categories and validated sends. Pure, no I/O."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import quote

from services.kit.documents import check_keys
from services.kit.errors import InvalidInput
from services.messaging.policy import zone

QUEUED = "queued"
# Waiting for its due time (quiet hours, rate limit, retry backoff); the scheduler re-queues it.
DEFERRED = "deferred"
SENDING = "sending"
SENT = "sent"
# The provider's receipt said it reached the person (in-app: stored in the inbox).
DELIVERED = "delivered"
FAILED = "failed"
# Not sent by policy (frequency cap, unsubscribe); the reason says which.
SKIPPED = "skipped"
# The provider may or may not have the message (e.g. a timeout after the request
# went out); never resent automatically, since that could send it twice.
UNKNOWN = "unknown"

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
CATEGORIES = (TRANSACTIONAL, MARKETING)

MAX_ID_LENGTH = 128
MAX_KEY_LENGTH = 256
MAX_CONTENT_BYTES = 64 * 1024


@dataclass
class Content:
    subject: str = ""
    title: str = ""
    body: str = ""
    deep_link: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.subject or self.title or self.body or self.deep_link or self.data)

    @classmethod
    def of(cls, doc: dict | None) -> Content:
        doc = doc or {}
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if doc.get(k) is not None})


@dataclass
class SendCommand:
    """One send as every edge (gRPC, GraphQL, later campaigns) hands it over."""

    workspace: str
    person_id: str
    channel: str
    content: Content
    idempotency_key: str = ""
    campaign_id: str = ""
    step_id: str = ""
    category: str = ""
    template_id: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    to: str = ""
    timezone: str = ""
    topic: str = ""


def derived_key(campaign_id: str, step_id: str, person_id: str) -> str:
    # Percent-quoting keeps the parts apart: ids that contain ':' cannot collide.
    return ":".join(["c", quote(campaign_id, safe=""), "s", quote(step_id, safe=""), "p", quote(person_id, safe="")])


def _identifier(value: str, field_name: str, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field_name} is required", field_name)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{field_name} is longer than {MAX_ID_LENGTH} characters", field_name)
    return value


def validate_send(cmd: SendCommand) -> SendCommand:
    """The command with defaults filled in, or InvalidInput naming the failing field."""
    workspace = _identifier(cmd.workspace, "workspace_id")
    person_id = _identifier(cmd.person_id, "person_id")
    channel = _identifier(cmd.channel, "channel")
    campaign_id = _identifier(cmd.campaign_id, "campaign_id", required=False)
    step_id = _identifier(cmd.step_id, "step_id", required=False)
    template_id = _identifier(cmd.template_id, "template_id", required=False)
    topic = _identifier(cmd.topic, "topic", required=False)
    to = cmd.to.strip()
    if len(to) > MAX_KEY_LENGTH:
        raise InvalidInput(f"to is longer than {MAX_KEY_LENGTH} characters", "to")
    timezone = cmd.timezone.strip()
    if timezone:
        zone(timezone, "timezone")
    check_keys(cmd.vars, "vars")

    category = cmd.category.strip().lower() or MARKETING
    if category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", "category")

    if cmd.content.is_empty() and not template_id:
        raise InvalidInput("content is empty: give at least a subject, title, body, deep_link or data", "content")
    check_keys(cmd.content.data, "content.data")
    if len(json.dumps(asdict(cmd.content), default=str)) > MAX_CONTENT_BYTES:
        raise InvalidInput(f"content is larger than {MAX_CONTENT_BYTES} bytes", "content")

    key = cmd.idempotency_key.strip()
    if not key:
        if not campaign_id:
            raise InvalidInput(
                "idempotency_key is required when no campaign_id is given: a send without a key cannot be deduplicated",
                "idempotency_key",
            )
        key = derived_key(campaign_id, step_id, person_id)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotency_key is longer than {MAX_KEY_LENGTH} characters", "idempotency_key")

    return replace(
        cmd,
        workspace=workspace,
        person_id=person_id,
        channel=channel,
        campaign_id=campaign_id,
        step_id=step_id,
        category=category,
        idempotency_key=key,
        template_id=template_id,
        topic=topic,
        to=to,
        timezone=timezone,
    )


def new_message(cmd: SendCommand, message_id: str, now: dt.datetime) -> dict:
    """The `messages` document for a validated send."""
    return {
        "_id": message_id,
        "workspace": cmd.workspace,
        "person_id": cmd.person_id,
        "channel": cmd.channel,
        "idempotency_key": cmd.idempotency_key,
        "campaign_id": cmd.campaign_id,
        "step_id": cmd.step_id,
        "category": cmd.category,
        "content": asdict(cmd.content),
        "template_id": cmd.template_id,
        "topic": cmd.topic,
        "to": cmd.to,
        "timezone": cmd.timezone,
        "status": QUEUED,
        "status_reason": "",
        "attempts": 0,
        # Dispatch generation: raised each time the message is queued again (see OutboundMessage).
        "gen": 1,
        "created_at": now,
        "updated_at": now,
    }
