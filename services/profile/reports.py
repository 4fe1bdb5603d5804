"""Read models over stored profiles and events: the timeline and LTV by acquisition channel."""

from __future__ import annotations

import base64
import datetime as dt

from services.kit.errors import InvalidInput
from services.profile.store import ProfileStore

MAX_PAGE = 500
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def encode_cursor(event: dict) -> str:
    millis = int(event["timestamp"].timestamp() * 1000)
    return base64.urlsafe_b64encode(f"{millis}|{event['_id']}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        millis, _, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return dt.datetime.fromtimestamp(int(millis) / 1000, dt.UTC), event_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("after is not a cursor this API gave out", "after") from None


async def timeline(
    store: ProfileStore,
    workspace: str,
    person_ids: list[str],
    limit: int,
    after: str = "",
    event_type: str = "",
    before: dt.datetime | None = None,
) -> tuple[list[dict], str]:
    """A person's stored events, newest first, a page at a time; returns (events, next cursor or "")."""
    if not 0 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}", "limit")
    limit = limit or 50
    query: dict = {"workspace": workspace}
    query["person_id"] = person_ids[0] if len(person_ids) == 1 else {"$in": person_ids}
    if event_type:
        query["type" if event_type in EVENT_TYPES else "event"] = event_type
    skip = 0
    if after:
        before_at, last_id = decode_cursor(after)
        query["timestamp"] = {"$lte": before_at}
        # Events of the cursor's millisecond that the previous page already gave come first
        # (newest first, then ids descending): skip exactly those.
        skip = await store.events.count_documents({**query, "timestamp": before_at, "_id": {"$gte": last_id}})
    elif before is not None:
        query["timestamp"] = {"$lt": before}
    page = (
        await store.events.find(query, {"context": 0})
        .sort([("timestamp", -1), ("_id", -1)])
        .skip(skip)
        .limit(limit + 1)
        .to_list(None)
    )
    more = len(page) > limit
    page = page[:limit]
    return page, encode_cursor(page[-1]) if more and page else ""


async def ltv_by_channel(store: ProfileStore, workspace: str) -> list[dict]:
    """Per first-touch channel: persons, revenue to date net of refunds, mean LTV (largest revenue first)."""
    pipeline = [
        {"$match": {"workspace": workspace, "computed.event_count": {"$gt": 0}}},
        {
            "$group": {
                "_id": {"$ifNull": ["$computed.acquisition_channel", "direct"]},
                "persons": {"$sum": 1},
                "revenue": {"$sum": {"$ifNull": ["$computed.ltv", 0]}},
            }
        },
    ]
    rows = await (await store.profiles.aggregate(pipeline)).to_list(None)
    out = [
        {
            "channel": r["_id"],
            "persons": r["persons"],
            "revenue": round(r["revenue"], 2),
            "mean_ltv": round(r["revenue"] / r["persons"], 2) if r["persons"] else 0.0,
        }
        for r in rows
    ]
    return sorted(out, key=lambda r: (-r["revenue"], r["channel"]))
