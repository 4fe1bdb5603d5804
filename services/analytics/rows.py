"""Kafka payloads -> table rows (pure): what ingest writes for an event, a message status, a journey step
and a profile change."""

from __future__ import annotations

import datetime as dt
import json

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2
from cdp.messaging.v1 import events_pb2 as messaging_events
from cdp.profile.v1 import events_pb2 as profile_events
from services.analytics import sql
from services.kit.ecommerce import acquisition_channel
from services.kit.protos import from_struct, from_timestamp, from_value

# Event names of the non-track calls (a track's own name can never start with "$" in practice;
# the names say where a row came from when a funnel or path shows it).
TYPE_EVENTS = {"page": "$page", "screen": "$screen", "identify": "$identify", "alias": "$alias", "group": "$group"}
# The profile.changed paths kept as person traits: what only profile knows. Identify traits ("traits.")
# arrive with their identify events already (event_rows).
PROFILE_PATHS = ("computed.", "tags.")


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def _device(context: dict) -> str:
    device = context.get("device")
    value = device.get("id") if isinstance(device, dict) else None
    return value[:200] if isinstance(value, str) else ""


def event_rows(message: identity_events.ResolvedEvent) -> tuple[list[dict], list[dict]]:
    """(events rows, person_traits rows) of one resolved event; empty when it carries no person."""
    event = message.event
    if not event.workspace_id or not event.message_id or not message.person_id:
        return [], []
    when = from_timestamp(event.timestamp) or from_timestamp(event.received_at)
    if when is None:
        return [], []
    received = from_timestamp(event.received_at) or when
    properties = from_struct(event.properties)
    products = properties.get("products")
    items = [_json(p) for p in products if isinstance(p, dict)] if isinstance(products, list) else []
    name = event.event if event.type in ("page", "screen") else ""
    context = from_struct(event.context)
    row = {
        "workspace": event.workspace_id,
        "message_id": event.message_id,
        "person_id": message.person_id,
        "type": event.type,
        "event": event.event if event.type == "track" else TYPE_EVENTS.get(event.type, f"${event.type}"),
        "name": name,
        "ts": sql.stamp(when),
        "properties": _json(properties),
        "products": items,
        "version": _ms(received),
        # The first event's channel is the person's acquisition channel, as profile computes it.
        "channel": acquisition_channel({"context": context, "properties": properties}),
        "device": _device(context),
    }
    traits = [
        {
            "workspace": event.workspace_id,
            "person_id": message.person_id,
            "key": key,
            "value": value if isinstance(value, str) else _json(value),
            "ts": sql.stamp(when),
            "message_id": event.message_id,
        }
        for key, value in from_struct(event.traits).items()
        # computed.* and tags.* are profile's to announce (profile_rows): an identify trait so named
        # (profile drops dotted keys) must not pass for one.
        if not key.startswith(PROFILE_PATHS)
    ]
    return [row], traits


def status_row(message: messaging_events.MessageStatus) -> dict | None:
    if not message.workspace_id or not message.message_id or not message.status:
        return None
    when = from_timestamp(message.at)
    if when is None:
        return None
    return {
        "workspace": message.workspace_id,
        "message_id": message.message_id,
        "person_id": message.person_id,
        "campaign_id": message.campaign_id,
        "status": message.status,
        "reason": message.reason,
        "ts": sql.stamp(when),
        "channel": message.channel,
    }


def step_row(message: journey_pb2.RunStepped) -> dict | None:
    """A journey.steps announcement as a journey_steps row; None when it names no run, person or change."""
    if not message.workspace_id or not message.journey_id or not message.run_id or not message.change:
        return None
    when = from_timestamp(message.at)
    if when is None or not message.person_id:
        return None
    return {
        "workspace": message.workspace_id,
        "journey_id": message.journey_id,
        "version": message.version,
        "run_id": message.run_id,
        "person_id": message.person_id,
        "kind": message.change,
        "node": message.node,
        "variant": message.variant,
        "holdout": 1 if message.holdout else 0,
        "seq": message.seq,
        "ts": sql.stamp(when),
        "cause": message.reason,
        "value": message.value,
        "visited": list(message.visited),
    }


def _profile_value(path: str, after) -> str:
    """A change's value as the text a breakdown groups by; '' when the field is gone (a removed or
    expired tag, a cleared trait), so that the person's latest value is empty."""
    if after is None:
        return ""
    if path.startswith("tags."):
        # A tag is announced as its assignment; its value is 'true' for a flag, else the enum or score.
        return str(after.get("value") or "") if isinstance(after, dict) else ""
    if isinstance(after, float) and after.is_integer():
        after = int(after)  # protobuf Values carry every number as a double: order_count 2, not 2.0
    return after if isinstance(after, str) else _json(after)


def profile_rows(message: profile_events.ProfileChanged, seq: int) -> list[dict]:
    """person_traits rows of a profile.changed announcement's computed traits and tags, one per change.

    The message id is the cause and the path: a redelivered announcement replaces its own rows, while
    each path changed by one cause is a row of its own. Announcements carry the time profile applied
    them, so the latest row is the profile's current value; profile gives the announcements of one
    batch the same time, and `seq` (the order ingest read them in, a person's in Kafka's order) says
    which of those came last."""
    when = from_timestamp(message.at)
    if not message.workspace_id or not message.person_id or when is None:
        return []
    cause = message.cause_message_id or f"at:{_ms(when)}"
    return [
        {
            "workspace": message.workspace_id,
            "person_id": message.person_id,
            "key": change.path,
            "value": _profile_value(change.path, from_value(change.after)),
            "ts": sql.stamp(when),
            "message_id": f"{cause}|{change.path}",
            "seq": seq,
        }
        for change in message.changes
        if change.path.startswith(PROFILE_PATHS)
    ]
