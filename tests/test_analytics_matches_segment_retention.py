"""The same day-level retention from two engines: segment's bitmaps and analytics' ClickHouse.

Both services consume events.resolved on their own; the events below are produced there once, as
identity would, and the two answers are read through the gateway: segment's `retention`
(first-time cohorts per UTC day, the share of each cohort that returns on each later day) and
analytics' `retentionMatrix` (kind first_time, period day, UTC). Their cohorts, sizes and shares
must be equal (analytics' counts divided by the size, rounded as segment rounds).
"""

from __future__ import annotations

import datetime as dt
import random

from cdp.identity.v1 import events_pb2 as identity_events
from services.kit.kafka import Topics
from services.kit.protos import to_struct, to_timestamp
from tests.conftest import eventually
from tests.helpers import graphql, new_id, produce

PERIODS = 8
SEGMENT = """query($c: String!, $r: String!, $s: Date!, $n: Int!) {
  retention(cohortEvent: $c, returnEvent: $r, start: $s, periods: $n, period: "day") { cohort size shares } }"""
ANALYTICS = """query($i: RetentionInput!) { retentionMatrix(input: $i) { rows { cohort size counts } } }"""


def resolved(ws: str, person: str, uid: int, event: str, at: dt.datetime):
    raw = identity_events.RawEvent(
        workspace_id=ws, message_id=new_id(), type="track", user_id=person, event=event,
        properties=to_struct({}), timestamp=to_timestamp(at), received_at=to_timestamp(at),
    )  # fmt: skip
    return (Topics.EVENTS_RESOLVED, person, identity_events.ResolvedEvent(event=raw, person_id=person, uid=uid))


def shop_days(ws: str, start: dt.date, seed: int = 15) -> list:
    """40 shoppers over PERIODS days: app opens (the cohort event) and orders (the return event)."""
    rng = random.Random(seed)
    records = []
    for n in range(40):
        person, uid = f"r{n}@{ws}", 1000 + n
        for day in range(PERIODS):
            at = dt.datetime.combine(start + dt.timedelta(days=day), dt.time(10, n % 60), tzinfo=dt.UTC)
            if rng.random() < 0.3:
                records.append(resolved(ws, person, uid, "App Opened", at))
            if rng.random() < 0.25:
                records.append(resolved(ws, person, uid, "Order Completed", at + dt.timedelta(hours=2)))
    return records


def test_day_retention_is_the_same_from_segment_bitmaps_and_from_analytics(suite, workspace_id):
    ws = workspace_id
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=PERIODS + 2)
    records = shop_days(ws, start)
    produce(suite, records)

    def from_segment() -> list:
        body = graphql(
            suite.gateway_url,
            ws,
            SEGMENT,
            {"c": "App Opened", "r": "Order Completed", "s": start.isoformat(), "n": PERIODS},
        )
        assert "errors" not in body, body
        return [(r["cohort"], r["size"], r["shares"]) for r in body["data"]["retention"] if r["size"]]

    def from_analytics() -> list:
        doc = {
            "startEvent": "App Opened",
            "returnEvent": "Order Completed",
            "dateFrom": start.isoformat(),
            "dateTo": (start + dt.timedelta(days=PERIODS - 1)).isoformat(),
            "kind": "first_time",
            "period": "day",
            "periods": PERIODS,
            "timezone": "UTC",
        }
        body = graphql(suite.gateway_url, ws, ANALYTICS, {"i": doc})
        assert "errors" not in body, body
        rows = []
        for r in sorted(body["data"]["retentionMatrix"]["rows"], key=lambda r: r["cohort"]):
            cohort = dt.date.fromisoformat(r["cohort"])
            later = PERIODS - 1 - (cohort - start).days  # segment's shares: the later days up to the last
            shares = [round(c / r["size"], 4) for c in r["counts"][1 : 1 + later]]
            rows.append((r["cohort"], r["size"], shares))
        return [r for r in rows if r[1]]

    cohort_events = sum(1 for _, _, e in records if e.event.event == "App Opened")
    assert cohort_events > 40  # the generator made a history worth comparing

    # Each service takes the records at its own pace: compare once both have stopped moving.
    last = {}

    def settled() -> bool:
        now = (from_segment(), from_analytics())
        done = bool(now[0]) and now == last.get("seen")
        last["seen"] = now
        return done and now[0] == now[1]

    try:
        eventually(settled, timeout=60, interval=2)
    except AssertionError:
        seg, ana = last["seen"]
        assert seg == ana  # shows the difference
        raise
    seg, ana = last["seen"]
    assert len(seg) >= 4 and any(any(s) for _, _, s in seg)  # several cohorts, some returning
