"""A campaign's response funnel: messages sent, delivered, opened, clicked, and the recipients who
then visited (a page or screen view, an app open), joined (signed up) and did the conversion event
(an order, by default) within a window after their first message.

Its cost: the messages sent per channel at the workspace's prices (costs.py), per converted
recipient, and the return on spend, (revenue - cost) / cost. Plain sends have no holdout, so this
return is attributed, not incremental: a journey's evaluation measures the incremental one.

Sent and delivered come from message statuses (messages.status); delivered, opened and clicked
also from the engagement events messaging puts on the event stream (Message Delivered/Opened/
Clicked, with message_id and campaign_id properties); conversions from the recipients' events.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.analytics import sql
from services.analytics.costs import priced
from services.analytics.models import common
from services.analytics.models.common import EPOCH, FOREVER
from services.analytics.store import overrides_sql

SENT = ("sent", "delivered")
ENGAGEMENT = {"Message Delivered": "delivered", "Message Opened": "opened", "Message Clicked": "clicked"}
# A visit: a page or screen call (rows.py names them) or the mobile spec's app open.
VISITS = ("$page", "$screen", "Application Opened")


@dataclass(frozen=True)
class CampaignQuery:
    campaign_id: str
    conversion_event: str
    window_days: int
    revenue_property: str
    visit_events: tuple[str, ...] = VISITS
    join_event: str = "Signed Up"


def parse(doc: dict) -> CampaignQuery:
    revenue = common.text(doc, "revenue_property", "revenueProperty", required=False, default="revenue")
    return CampaignQuery(
        common.text(doc, "campaign_id", "campaignId"),
        common.text(doc, "conversion_event", "conversionEvent", required=False, default="Order Completed"),
        common.integer(doc, "window_days", "windowDays", 7, 1, 365),
        common.path(revenue, "revenueProperty"),
        event_names(doc.get("visit_events"), "visitEvents") or VISITS,
        common.text(doc, "join_event", "joinEvent", required=False, default="Signed Up"),
    )


def event_names(value, where: str) -> tuple[str, ...]:
    if value in (None, []):
        return ()
    if not isinstance(value, list) or len(value) > 20:
        raise common.InvalidInput(f"{where} lists at most 20 event names", where)
    return tuple(common.text({"v": v}, "v", f"{where}[{i}]") for i, v in enumerate(value))


def render_statuses(db: str, workspace: str, query: CampaignQuery) -> str:
    """Rows of (status, messages)."""
    return (
        f"SELECT status, uniqExact(message_id) FROM {db}.message_statuses FINAL "
        f"WHERE workspace = {sql.string(workspace)} AND campaign_id = {sql.string(query.campaign_id)} "
        "GROUP BY status ORDER BY status"
    )


def render_channels(db: str, workspace: str, query: CampaignQuery) -> str:
    """Rows of (channel, messages sent)."""
    return (
        f"SELECT channel, uniqExact(message_id) FROM {db}.message_statuses FINAL "
        f"WHERE workspace = {sql.string(workspace)} AND campaign_id = {sql.string(query.campaign_id)} "
        f"AND status IN {sql.strings(SENT)} GROUP BY channel ORDER BY channel"
    )


def render_messages(db: str, workspace: str, query: CampaignQuery) -> str:
    """Rows of (stage, message ids): from statuses and from engagement events."""
    ws, campaign = sql.string(workspace), sql.string(query.campaign_id)
    names = sql.strings(sorted(ENGAGEMENT))
    stage = "multiIf(" + ", ".join(f"event = {sql.string(e)}, {sql.string(s)}" for e, s in ENGAGEMENT.items()) + ", '')"
    return (
        "SELECT stage, groupUniqArray(message_id) FROM ("
        f"SELECT if(status = 'delivered', 'delivered', 'sent') AS stage, message_id FROM {db}.message_statuses FINAL "
        f"WHERE workspace = {ws} AND campaign_id = {campaign} AND status IN {sql.strings(SENT)} "
        "UNION ALL "
        f"SELECT {stage} AS stage, JSONExtractString(properties, 'message_id') AS message_id FROM {db}.events FINAL "
        f"WHERE workspace = {ws} AND event IN {names} AND JSONExtractString(properties, 'campaign_id') = {campaign}"
        ") GROUP BY stage"
    )


def recipients_sql(db: str, workspace: str, campaign_id: str, launches: bool = False) -> str:
    """person -> their first message of the campaign (merges applied); with `launches`, also the
    messages of its launches, which carry "<campaign>@<launch>"."""
    ws, campaign = sql.string(workspace), sql.string(campaign_id)
    which = f"m.campaign_id = {campaign}"
    if launches:
        which = f"({which} OR startsWith(m.campaign_id, {sql.string(campaign_id + '@')}))"
    return (
        "SELECT if(o.person_id = '', m.person_id, o.person_id) AS person, min(m.ts) AS first_sent "
        f"FROM {db}.message_statuses AS m FINAL LEFT JOIN ({overrides_sql(db, workspace)}) AS o "
        f"ON o.old_person_id = m.person_id WHERE m.workspace = {ws} AND m.status IN {sql.strings(SENT)} "
        f"AND {which} GROUP BY person"
    )


def render_conversions(db: str, workspace: str, query: CampaignQuery) -> str:
    """One row: recipients who visited, joined and converted within the window, conversions, revenue."""
    names = sorted({*query.visit_events, query.join_event, query.conversion_event})
    source = common.events_source(db, workspace, EPOCH, FOREVER, names)
    revenue = sql.json_number("s.properties", query.revenue_property)
    conversion = f"s.event = {sql.string(query.conversion_event)}"
    recipients = recipients_sql(db, workspace, query.campaign_id)
    return (
        f"SELECT uniqExactIf(s.person, s.event IN {sql.strings(query.visit_events)}), "
        f"uniqExactIf(s.person, s.event = {sql.string(query.join_event)}), "
        f"uniqExactIf(s.person, {conversion}), countIf({conversion}), sumIf(ifNull({revenue}, 0), {conversion}) "
        f"FROM ({source}) AS s INNER JOIN ({recipients}) AS r ON r.person = s.person "
        f"WHERE s.ts >= r.first_sent AND s.ts < r.first_sent + toIntervalDay({query.window_days})"
    )


def shape(
    query: CampaignQuery,
    statuses: list[list],
    messages: list[list],
    conversions: list[list],
    channels: list[list] = (),
    prices: dict[str, float] | None = None,
) -> dict:
    ids = {stage: set(found) for stage, found in messages}
    delivered = ids.get("delivered", set())
    opened = ids.get("opened", set())
    clicked = ids.get("clicked", set())
    # Each stage implies the ones before it (a click proves the open, an open the delivery).
    sent = ids.get("sent", set()) | delivered | opened | clicked
    visited, joined, converted, conversions_n, revenue = conversions[0] if conversions else (0, 0, 0, 0, 0.0)
    revenue = float(revenue or 0.0)
    by_channel, cost = priced({c: int(n) for c, n in channels}, prices or {})
    return {
        "campaign_id": query.campaign_id,
        "sent": len(sent),
        "delivered": len(delivered | opened | clicked),
        "opened": len(opened | clicked),
        "clicked": len(clicked),
        "visited": int(visited),
        "joined": int(joined),
        "converted_persons": int(converted),
        "conversions": int(conversions_n),
        "revenue": revenue,
        "statuses": [{"status": s, "messages": int(n)} for s, n in statuses],
        "messages": by_channel,
        "cost": cost,
        "cost_per_converted": cost / int(converted) if int(converted) else None,
        "return_on_spend": (revenue - cost) / cost if cost > 0 else None,
    }


async def run(engine, db: str, workspace: str, query: CampaignQuery, prices: dict[str, float] | None = None) -> dict:
    return shape(
        query,
        await engine.rows(render_statuses(db, workspace, query)),
        await engine.rows(render_messages(db, workspace, query)),
        await engine.rows(render_conversions(db, workspace, query)),
        await engine.rows(render_channels(db, workspace, query)),
        prices,
    )
