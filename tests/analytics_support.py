"""Analytics on a chDB engine of its own, loaded with known events: for model tests that need no stack."""

from __future__ import annotations

import datetime as dt

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.messaging.v1 import events_pb2 as messaging_events
from services.analytics.analysis import Analytics
from services.analytics.engine import ChdbDriver, Engine
from services.analytics.store import AnalyticsStore
from services.analytics.workers import IdentityFollower, Ingest
from services.kit.clock import FixedClock
from services.kit.protos import to_struct, to_timestamp


def track(ws: str, person: str, event: str, at: dt.datetime, props: dict | None = None, context: dict | None = None):
    """An events.resolved record of a track call (its message id made from what it says)."""
    raw = identity_events.RawEvent(
        workspace_id=ws, message_id=f"{ws}-{person}-{event}-{at.isoformat()}", type="track", user_id=person,
        event=event, properties=to_struct(props or {}), context=to_struct(context or {}), timestamp=to_timestamp(at),
        received_at=to_timestamp(at),
    )  # fmt: skip
    return ("", identity_events.ResolvedEvent(event=raw, person_id=person, uid=1))


def page(ws: str, person: str, name: str, at: dt.datetime):
    """An events.resolved record of a page call (stored as the event "$page")."""
    raw = identity_events.RawEvent(
        workspace_id=ws, message_id=f"{ws}-{person}-page-{at.isoformat()}", type="page", user_id=person, event=name,
        timestamp=to_timestamp(at), received_at=to_timestamp(at),
    )  # fmt: skip
    return ("", identity_events.ResolvedEvent(event=raw, person_id=person, uid=1))


def sent(ws: str, person: str, campaign: str, at: dt.datetime, status: str = "sent"):
    """A messages.status record of one message of a campaign."""
    message = messaging_events.MessageStatus(
        workspace_id=ws, message_id=f"{campaign}-{person}", person_id=person, status=status, campaign_id=campaign,
        at=to_timestamp(at),
    )  # fmt: skip
    return ("", message)


async def loaded(path, events: list, merges: list[tuple[str, str, str]], now: dt.datetime, statuses=()) -> Analytics:
    """Analytics over a new chDB store holding `events` and `statuses`, then the merges (workspace, winner, loser)."""
    store = AnalyticsStore(Engine(ChdbDriver(path)))
    await store.create_tables()
    await Ingest(store).events(events)
    if statuses:
        await Ingest(store).statuses(list(statuses))
    for ws, winner, loser in merges:
        merge = identity_events.IdentityMerged(workspace_id=ws, winner_id=winner, loser_id=loser)
        await IdentityFollower(store).merged("", merge)
    return Analytics(store, FixedClock(now), None)
