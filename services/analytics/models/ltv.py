"""Lifetime value by acquisition channel: what the persons acquired in a date range brought in
within 7, 30 and 90 days of their first event, net of refunds.

The channel and the amounts read events as profile's computed traits do (kit/ecommerce.py): a
person's channel is the utm source of their first event ("direct" when it had none), an order's
amount its `revenue`, else its `total`. A horizon counts only the persons acquired at least that
long ago (mature); its value is their average, so a young cohort does not drag it down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import EPOCH, DateRange
from services.kit.ecommerce import DIRECT, ORDER_COMPLETED, ORDER_REFUNDED

HORIZONS = (7, 30, 90)


@dataclass(frozen=True)
class LtvQuery:
    range: DateRange
    order_event: str
    refund_event: str
    limit: int


def parse(doc: dict) -> LtvQuery:
    return LtvQuery(
        common.date_range(doc),
        common.text(doc, "order_event", "orderEvent", required=False, default=ORDER_COMPLETED),
        common.text(doc, "refund_event", "refundEvent", required=False, default=ORDER_REFUNDED),
        common.integer(doc, "limit", "limit", 20, 1, 100),
    )


def render(db: str, workspace: str, query: LtvQuery, now: dt.datetime) -> str:
    """Rows of (channel, persons, then per horizon: mature persons, their net value in total)."""
    rng = query.range
    last = min(now, rng.end + dt.timedelta(days=max(HORIZONS)))
    everything = common.events_source(db, workspace, EPOCH, rng.end, None)
    money = common.events_source(db, workspace, rng.start, last, [query.order_event, query.refund_event])
    refund = sql.string(query.refund_event)
    firsts = (
        "SELECT s.person AS person, min(s.ts) AS first, argMin(s.channel, s.ts) AS channel "
        f"FROM ({everything}) AS s GROUP BY s.person "
        f"HAVING first >= {sql.instant(rng.start)} AND first < {sql.instant(rng.end)}"
    )
    amounts = (
        f"SELECT s.person AS person, s.ts AS ts, if(s.event = {refund}, -1, 1) * {common.order_amount()} AS amount "
        f"FROM ({money}) AS s"
    )
    per_person = ", ".join(
        f"sumIf(m.amount, m.ts >= f.first AND m.ts < f.first + toIntervalDay({d})) AS v{d}" for d in HORIZONS
    )
    mature = {d: f"p.first + toIntervalDay({d}) <= {sql.instant(now)}" for d in HORIZONS}
    per_channel = ", ".join(f"countIf({mature[d]}), sumIf(p.v{d}, {mature[d]})" for d in HORIZONS)
    return (
        f"SELECT if(p.channel = '', {sql.string(DIRECT)}, p.channel) AS ch, count() AS persons, {per_channel} FROM ("
        f"SELECT f.person AS person, f.first AS first, f.channel AS channel, {per_person} "
        f"FROM ({firsts}) AS f LEFT JOIN ({amounts}) AS m ON m.person = f.person "
        "GROUP BY f.person, f.first, f.channel) AS p "
        f"GROUP BY ch ORDER BY persons DESC, ch LIMIT {query.limit}"
    )


def shape(rows: list[list]) -> list[dict]:
    out = []
    for row in rows:
        channel, persons, rest = row[0], int(row[1]), row[2:]
        doc = {"channel": channel, "persons": persons}
        for i, d in enumerate(HORIZONS):
            mature, total = int(rest[2 * i]), round(float(rest[2 * i + 1]), 2)
            doc[f"d{d}"] = {"mature_persons": mature, "net_revenue": total,
                            "per_person": round(total / mature, 2) if mature else None}  # fmt: skip
        out.append(doc)
    return out


async def run(engine, db: str, workspace: str, query: LtvQuery, now: dt.datetime) -> list[dict]:
    return shape(await engine.rows(render(db, workspace, query, now)))
