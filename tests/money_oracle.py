"""Pure-Python oracles of the AARRR overview (models/aarrr.py) and of lifetime value by acquisition
channel (models/ltv.py), written from their documented meaning, not from their SQL.

Amounts are read as the engine reads a JSON property (sql.json_number): a number, or a string that
parses as one; anything else is no amount. The generated amounts are multiples of 0.25, so sums are
exact in binary floating point and the engine's sum and Python's are the same number.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.store import AnalyticsStore
from tests.oracle_log import current, insert_and_merge

ORDER, REFUND, ADDED, VIEWED, SHARED = (
    "Order Completed", "Order Refunded", "Product Added", "Product Viewed", "Product Shared",
)  # fmt: skip
HORIZONS = (7, 30, 90)


@dataclass
class MoneyEvent:
    person: str
    event: str
    at: dt.datetime  # UTC
    properties: dict
    channel: str = ""  # the row's utm channel as ingest writes it ('' on rows older than the column)


async def load(store: AnalyticsStore, ws: str, log: list[MoneyEvent], duplicates: list[int], merges) -> dict:
    """The log as ingest writes it (with its channel column), redeliveries and merges; loser -> winner."""
    rows = [
        {
            "workspace": ws,
            "message_id": f"m{i}",
            "person_id": e.person,
            "type": "track",
            "event": e.event,
            "name": "",
            "ts": sql.stamp(e.at),
            "properties": json.dumps(e.properties),
            "products": [],
            "version": 1,
            "channel": e.channel,
        }
        for i, e in enumerate(log)
    ]
    return await insert_and_merge(store, ws, rows, duplicates, merges)


def number(properties: dict, key: str) -> float | None:
    """A property as a number: a JSON number, or a string that parses as one; None otherwise."""
    if key not in properties:
        return None
    value = properties[key]
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return float(value)


def order_amount(properties: dict) -> float:
    """revenue, else total, else 0 (kit/ecommerce.order_revenue as the engine reads JSON)."""
    for key in ("revenue", "total"):
        found = number(properties, key)
        if found is not None:
            return found
    return 0.0


def local_period(date_from: dt.date, date_to: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(date_from, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def aarrr(log: list[MoneyEvent], mapping: dict, date_from: dt.date, date_to: dt.date, timezone: str,
          activation_days: int) -> dict:  # fmt: skip
    """The overview of [date_from, date_to] and of the period of equal length before it."""
    length = (date_to - date_from).days + 1
    step = dt.timedelta(days=length)
    dates = [(date_from - 2 * step, date_to - 2 * step), (date_from - step, date_to - step), (date_from, date_to)]
    periods = [local_period(a, b, timezone) for a, b in dates]
    horizon_end = periods[2][1]
    # Everything the overview can see: a person's history up to the end of the range.
    events = [(current(mapping, e.person), e) for e in log if e.at < horizon_end]
    persons: dict[str, list[MoneyEvent]] = {}
    for p, e in events:
        persons.setdefault(p, []).append(e)

    def active(p: str, i: int) -> bool:
        start, end = periods[i]
        return any(start <= e.at < end for e in persons[p])

    out = {}
    for i in (1, 2):
        start, end = periods[i]
        new = [p for p, es in persons.items() if start <= min(e.at for e in es) < end]
        activated = 0
        for p in new:
            first = min(e.at for e in persons[p])
            acts = [e.at for e in persons[p] if e.event == ADDED]
            if acts and (min(acts) - first).total_seconds() <= activation_days * 86400:
                activated += 1
        inside = [(p, e) for p, e in events if start <= e.at < end]
        orders = [(p, e) for p, e in inside if e.event == ORDER]
        gmv = sum(number(e.properties, "revenue") or 0.0 for _, e in orders)
        refunds = sum(number(e.properties, "total") or 0.0 for _, e in inside if e.event == REFUND)
        referrals = [p for p, e in inside if e.event == SHARED]
        paying = len({p for p, _ in orders})
        doc = {
            "date_from": dates[i][0].isoformat(),
            "date_to": dates[i][1].isoformat(),
            "new_persons": len(new),
            "activated": activated,
            "active_persons": sum(active(p, i) for p in persons),
            "retained": sum(active(p, i) and active(p, i - 1) for p in persons),
            "orders": len(orders),
            "gmv": round(gmv, 2),
            "refunds": round(refunds, 2),
            "paying_persons": paying,
            "referrers": len(set(referrals)),
            "referrals": len(referrals),
        }
        doc["net_revenue"] = round(doc["gmv"] - doc["refunds"], 2)
        doc["activation_rate"] = _share(activated, len(new))
        doc["arppu"] = round(doc["gmv"] / paying, 2) if paying else 0.0
        out[i] = doc
    out[2]["retention_rate"] = _share(out[2]["retained"], out[1]["active_persons"])
    out[1]["retention_rate"] = _share(out[1]["retained"], sum(active(p, 0) for p in persons))
    return {"previous": out[1], "current": out[2]}


def ltv(log: list[MoneyEvent], mapping: dict, start: dt.datetime, end: dt.datetime, now: dt.datetime,
        limit: int = 20) -> list[dict]:  # fmt: skip
    """Per channel of the persons acquired in [start, end): persons, and per horizon the persons
    acquired at least that long before now and their orders net of refunds within it."""
    firsts: dict[str, MoneyEvent] = {}
    for e in log:
        p = current(mapping, e.person)
        if e.at < end and (p not in firsts or e.at < firsts[p].at):
            firsts[p] = e
    acquired = {p: e for p, e in firsts.items() if start <= e.at < end}
    last = min(now, end + dt.timedelta(days=max(HORIZONS)))
    money = [(current(mapping, e.person), e) for e in log if e.event in (ORDER, REFUND) and start <= e.at < last]
    channels: dict[str, dict] = {}
    for p, first in acquired.items():
        ch = first.channel or "direct"
        doc = channels.setdefault(ch, {"persons": 0, **{d: [0, 0.0] for d in HORIZONS}})
        doc["persons"] += 1
        for d in HORIZONS:
            until = first.at + dt.timedelta(days=d)
            if until <= now:
                doc[d][0] += 1
                doc[d][1] += sum(
                    (-1 if e.event == REFUND else 1) * order_amount(e.properties)
                    for q, e in money
                    if q == p and first.at <= e.at < until
                )
    out = []
    for ch, doc in sorted(channels.items(), key=lambda kv: (-kv[1]["persons"], kv[0]))[:limit]:
        row = {"channel": ch, "persons": doc["persons"]}
        for d in HORIZONS:
            mature, total = doc[d][0], round(doc[d][1], 2)
            row[f"d{d}"] = {"mature_persons": mature, "net_revenue": total,
                            "per_person": round(total / mature, 2) if mature else None}  # fmt: skip
        out.append(row)
    return out
