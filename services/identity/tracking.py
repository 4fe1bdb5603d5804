"""Segment tracking-API payloads: validation and conversion to RawEvent.

Pure functions, no I/O: the collection API calls `parse_batch` and either gets
every event of the request or an InvalidInput naming the first failing field,
so a bad batch changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cdp.identity.v1 import events_pb2
from services.kit.documents import check_keys
from services.kit.errors import InvalidInput
from services.kit.protos import to_struct, to_timestamp

# Segment's own limits: 32 KB per event, 500 KB per batch request.
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_ID_LENGTH = 256

EVENT_TYPES = ("identify", "track", "page", "screen", "alias", "group")


def parse_batch(
    body: Any, received_at: dt.datetime, workspace_id: str, max_event_bytes: int = MAX_EVENT_BYTES
) -> list[events_pb2.RawEvent]:
    """`POST /v1/batch`: {"batch": [event, ...], "context": {...}}."""
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object", "body")
    batch = body.get("batch")
    if not isinstance(batch, list) or not batch:
        raise InvalidInput("batch must be a non-empty array of events", "batch")
    shared_context = body.get("context")
    if shared_context is not None and not isinstance(shared_context, dict):
        raise InvalidInput("context must be an object", "context")
    events = []
    for i, item in enumerate(batch):
        if isinstance(item, dict) and shared_context and "context" not in item:
            item = {**item, "context": shared_context}
        events.append(parse_event(item, None, received_at, workspace_id, f"batch[{i}]", max_event_bytes))
    return events


def parse_event(
    item: Any,
    implied_type: str | None,
    received_at: dt.datetime,
    workspace_id: str,
    path: str = "body",
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> events_pb2.RawEvent:
    """One event; `implied_type` is set by the single-event endpoints (/v1/track...)."""
    if not isinstance(item, dict):
        raise InvalidInput("event must be a JSON object", path)
    kind = implied_type or item.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(EVENT_TYPES)}", f"{path}.type")

    user_id = _optional_id(item, "userId", path)
    anonymous_id = _optional_id(item, "anonymousId", path)
    if not user_id and not anonymous_id:
        raise InvalidInput("userId or anonymousId is required", f"{path}.userId")

    event = events_pb2.RawEvent(
        workspace_id=workspace_id,
        type=kind,
        user_id=user_id,
        anonymous_id=anonymous_id,
        received_at=to_timestamp(received_at),
    )
    message_id = _optional_id(item, "messageId", path)
    # SDKs always send a messageId; one we make up cannot dedupe a client retry.
    event.message_id = message_id or f"srv-{uuid.uuid4()}"
    event.timestamp.CopyFrom(to_timestamp(_timestamp(item.get("timestamp"), received_at, f"{path}.timestamp")))

    if kind == "track":
        name = item.get("event")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("track events need a non-empty event name", f"{path}.event")
        if len(name) > 200:
            raise InvalidInput("event name is longer than 200 characters", f"{path}.event")
        event.event = name
    elif kind in ("page", "screen"):
        name = item.get("name") or ""
        if not isinstance(name, str):
            raise InvalidInput("name must be a string", f"{path}.name")
        event.event = name
    elif kind == "alias":
        event.previous_id = _optional_id(item, "previousId", path)
        if not event.previous_id:
            raise InvalidInput("alias events need previousId", f"{path}.previousId")

    for field, target in (("properties", event.properties), ("traits", event.traits), ("context", event.context)):
        value = item.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InvalidInput(f"{field} must be an object", f"{path}.{field}")
        check_keys(value, f"{path}.{field}")
        try:
            target.CopyFrom(to_struct(value))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{field} holds a value that is not JSON: {exc}", f"{path}.{field}") from None
    # Segment puts identify traits in context.traits for track calls too; keep as sent.
    if event.ByteSize() > max_event_bytes:
        raise InvalidInput(f"event is larger than {max_event_bytes} bytes", path)
    return event


def _optional_id(item: dict, field: str, path: str) -> str:
    value = item.get(field)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInput(f"{field} must be a string", f"{path}.{field}")
    value = str(value).strip()
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{field} is longer than {MAX_ID_LENGTH} characters", f"{path}.{field}")
    return value


def _timestamp(value: Any, default: dt.datetime, path: str) -> dt.datetime:
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput("timestamp must be an ISO-8601 string", path)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"timestamp {value!r} is not ISO-8601", path) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def partition_key(event: events_pb2.RawEvent) -> str:
    """Key for events.raw: one device's events stay in one partition, in order.

    The anonymous id comes first because SDKs send it on every call, before and
    after login, while the user id appears only from the identify on.
    """
    return event.anonymous_id or event.user_id
