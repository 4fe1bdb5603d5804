"""The AARRR overview of a date range, beside the same figures for the period of equal length before it.

- Acquisition: persons whose first event ever falls in the period.
- Activation: of those, who did the activation event within `activation_days` of their first event.
- Retention: persons active in the period who were active in the period before it too.
- Revenue: orders, GMV (the order event's revenue property), refunds (the refund event's
  property), net revenue, paying persons and revenue per paying person.
- Referral: persons who did the referral event, and how often.

The event names default to the Segment e-commerce spec the collection API takes. One pass
over each person's history computes all three periods (the one before the previous period
tells whether the previous period's active persons were retained).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import common
from services.analytics.models.common import EPOCH, DateRange

DEFAULTS = {
    "activation_event": "Product Added",
    "order_event": "Order Completed",
    "revenue_property": "revenue",
    "refund_event": "Order Refunded",
    "refund_property": "total",
    "referral_event": "Product Shared",
}
FIGURES = (
    "new_persons", "activated", "active_persons", "retained", "orders", "gmv", "refunds", "paying_persons",
    "referrers", "referrals",
)  # fmt: skip


@dataclass(frozen=True)
class AarrrQuery:
    range: DateRange
    activation_event: str
    activation_days: int
    order_event: str
    revenue_property: str
    refund_event: str
    refund_property: str
    referral_event: str

    def periods(self) -> list[DateRange]:
        """The period before the previous one, the previous one and the range itself (equal lengths)."""
        days = (self.range.date_to - self.range.date_from).days + 1
        step = dt.timedelta(days=days)
        out = [self.range]
        for _ in range(2):
            last = out[0]
            out.insert(0, DateRange(last.date_from - step, last.date_to - step, last.timezone))
        return out


def parse(doc: dict) -> AarrrQuery:
    names = {k: common.text(doc, k, _field(k), required=False, default=v) for k, v in DEFAULTS.items()}
    for key in ("revenue_property", "refund_property"):
        common.path(names[key], _field(key))
    return AarrrQuery(
        range=common.date_range(doc),
        activation_days=common.integer(doc, "activation_days", "activationDays", 7, 1, 365),
        **names,
    )


def _field(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def render(db: str, workspace: str, query: AarrrQuery) -> str:
    """One row: each figure of FIGURES for the previous period, then for the range, then how many
    were active in the period before the previous one."""
    pp, prev, cur = query.periods()
    source = common.events_source(db, workspace, EPOCH, cur.end, None)
    order, refund = sql.string(query.order_event), sql.string(query.refund_event)
    act, ref = sql.string(query.activation_event), sql.string(query.referral_event)
    revenue = sql.json_number("s.properties", query.revenue_property)
    refunded = sql.json_number("s.properties", query.refund_property)

    def within(p: DateRange) -> str:
        return f"s.ts >= {sql.instant(p.start)} AND s.ts < {sql.instant(p.end)}"

    per_person = [
        "min(s.ts) AS first",
        f"minIf(s.ts, s.event = {act}) AS first_act",
        f"countIf(s.event = {act}) AS acts",
    ]
    for i, p in enumerate((pp, prev, cur)):
        per_person += [
            f"countIf({within(p)}) AS active{i}",
            f"countIf({within(p)} AND s.event = {order}) AS orders{i}",
            f"sumIf(ifNull({revenue}, 0), {within(p)} AND s.event = {order}) AS gmv{i}",
            f"sumIf(ifNull({refunded}, 0), {within(p)} AND s.event = {refund}) AS refunds{i}",
            f"countIf({within(p)} AND s.event = {ref}) AS referrals{i}",
        ]
    window = query.activation_days * 86400
    figures = []
    for i, p in ((1, prev), (2, cur)):
        new = f"first >= {sql.instant(p.start)} AND first < {sql.instant(p.end)}"
        figures += [
            f"countIf({new})",
            f"countIf({new} AND acts > 0 AND dateDiff('second', first, first_act) <= {window})",
            f"countIf(active{i} > 0)",
            f"countIf(active{i} > 0 AND active{i - 1} > 0)",
            f"sum(orders{i})",
            f"sum(gmv{i})",
            f"sum(refunds{i})",
            f"countIf(orders{i} > 0)",
            f"countIf(referrals{i} > 0)",
            f"sum(referrals{i})",
        ]
    figures.append("countIf(active0 > 0)")  # the base of the previous period's retention rate
    return (
        f"SELECT {', '.join(figures)} FROM (SELECT s.person AS person, {', '.join(per_person)} "
        f"FROM ({source}) AS s GROUP BY s.person)"
    )


def _period(p: DateRange, values: list) -> dict:
    doc = dict(zip(FIGURES, values, strict=True))
    for key in FIGURES:
        doc[key] = round(float(doc[key]), 2) if key in ("gmv", "refunds") else int(doc[key])
    doc["net_revenue"] = round(doc["gmv"] - doc["refunds"], 2)
    doc["activation_rate"] = _share(doc["activated"], doc["new_persons"])
    doc["arppu"] = round(doc["gmv"] / doc["paying_persons"], 2) if doc["paying_persons"] else 0.0
    return {"date_from": p.date_from.isoformat(), "date_to": p.date_to.isoformat(), **doc}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def shape(query: AarrrQuery, row: list) -> dict:
    _, prev, cur = query.periods()
    n = len(FIGURES)
    previous, current = _period(prev, row[:n]), _period(cur, row[n : 2 * n])
    # Retention: of the persons active in the period before, the share still active in this one.
    current["retention_rate"] = _share(current["retained"], previous["active_persons"])
    previous["retention_rate"] = _share(previous["retained"], int(row[2 * n]))
    return {"current": current, "previous": previous}


async def run(engine, db: str, workspace: str, query: AarrrQuery) -> dict:
    rows = await engine.rows(render(db, workspace, query))
    return shape(query, rows[0] if rows else [0] * (2 * len(FIGURES) + 1))
