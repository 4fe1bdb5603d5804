"""What a campaign spread and what it brought back: referrals and the value of returning buyers.

Referral spread. A share is a share event (`Product Shared` by default) with a share id
property (`share_id`); the shared link carries the id, so the first events of the person who
opens it carry it too. Starting from the campaign's recipients (a sent message; merges
applied), each level's sharers are the persons of that level who shared within the window
after they entered it (recipients: their first message; invitees: their first event), and the
next level is the persons brought in by those shares:
- new only: the person's very first event carries the share id, after the share (a person
  who was there before and follows a link is not counted: `existing`);
- not the sharer again: an invitee seen on a device of their sharer is left out (`sameDevice`),
  the usual way one shopper "invites" themselves;
- once: a person counts at the first level that reaches them.
K-factor: invited persons of the first level per recipient.

Returning buyers: recipients who had ordered before their first message; of them, who ordered
again within the window, their orders, GMV, AOV and the days from their last order before the
message to their first one after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.analytics import sql
from services.analytics.models import campaigns, common
from services.analytics.models.common import EPOCH, FOREVER
from services.kit.ecommerce import ORDER_COMPLETED


@dataclass(frozen=True)
class SpreadQuery:
    campaign_id: str
    window_days: int
    share_event: str
    share_property: str
    order_event: str
    max_depth: int


def parse(doc: dict) -> SpreadQuery:
    return SpreadQuery(
        common.text(doc, "campaign_id", "campaignId"),
        common.integer(doc, "window_days", "windowDays", 7, 1, 365),
        common.text(doc, "share_event", "shareEvent", required=False, default="Product Shared"),
        common.path(common.text(doc, "share_property", "shareProperty", required=False, default="share_id"),
                    "shareProperty"),
        common.text(doc, "order_event", "orderEvent", required=False, default=ORDER_COMPLETED),
        common.integer(doc, "max_depth", "maxDepth", 5, 1, 10),
    )  # fmt: skip


def recipients_sql(db: str, workspace: str, campaign_id: str) -> str:
    """person -> first message of the campaign or of any of its launches."""
    return campaigns.recipients_sql(db, workspace, campaign_id, launches=True)


def render_shares(db: str, workspace: str, query: SpreadQuery) -> str:
    """Rows of (person, share id, time) of every share carrying an id."""
    source = common.events_source(db, workspace, EPOCH, FOREVER, [query.share_event])
    share = sql.json_text("s.properties", query.share_property)
    return f"SELECT s.person, {share} AS sid, toUnixTimestamp64Milli(s.ts) FROM ({source}) AS s WHERE sid != ''"


def render_arrivals(db: str, workspace: str, query: SpreadQuery) -> str:
    """Rows of (person, first share id they carried, its time, their first event's time, their devices)
    of every person who ever carried a share id."""
    source = common.events_source(db, workspace, EPOCH, FOREVER, None)
    share = sql.json_text("s.properties", query.share_property)
    return (
        "SELECT person, argMinIf(sid, ts, sid != ''), toUnixTimestamp64Milli(minIf(ts, sid != '')), "
        "toUnixTimestamp64Milli(min(ts)), groupUniqArrayIf(device, device != '') FROM ("
        f"SELECT s.person AS person, s.ts AS ts, {share} AS sid, s.device AS device FROM ({source}) AS s) "
        "GROUP BY person HAVING countIf(sid != '') > 0"
    )


def render_devices(db: str, workspace: str, persons: list[str]) -> str:
    """Rows of (person, devices) of the given persons (the sharers)."""
    source = common.events_source(db, workspace, EPOCH, FOREVER, None)
    return (
        f"SELECT s.person, groupUniqArrayIf(s.device, s.device != '') FROM ({source}) AS s "
        f"WHERE s.person IN {sql.strings(persons)} GROUP BY s.person"
    )


def render_returning(db: str, workspace: str, query: SpreadQuery) -> str:
    """One row: recipients who had ordered before, those who ordered again in the window, their orders,
    GMV and the mean days from the last order before the message to the first after it."""
    source = common.events_source(db, workspace, EPOCH, FOREVER, [query.order_event])
    window = f"s.ts >= r.first_sent AND s.ts < r.first_sent + toIntervalDay({query.window_days})"
    per_person = (
        "SELECT r.person AS person, countIf(s.ts < r.first_sent) AS before_n, maxIf(s.ts, s.ts < r.first_sent) AS "
        f"last_before, countIf({window}) AS after_n, minIf(s.ts, {window}) AS first_after, "
        f"sumIf({common.order_amount()}, {window}) AS gmv "
        f"FROM ({recipients_sql(db, workspace, query.campaign_id)}) AS r "
        f"INNER JOIN ({source}) AS s ON s.person = r.person GROUP BY r.person"
    )
    return (
        "SELECT count(), countIf(after_n > 0), sumIf(after_n, after_n > 0), sumIf(gmv, after_n > 0), "
        "avgIf(dateDiff('second', last_before, first_after), after_n > 0) "
        f"FROM ({per_person}) WHERE before_n > 0"
    )


def walk(query: SpreadQuery, recipients: dict[str, int], shares: list[list], arrivals: list[list],
         devices: dict[str, set[str]]) -> dict:  # fmt: skip
    """The levels of the spread, from the recipients (person -> entry ms) outwards (the module says the rules)."""
    window = query.window_days * 86_400_000
    by_person: dict[str, list[tuple[str, int]]] = {}
    for person, sid, at in shares:
        by_person.setdefault(person, []).append((sid, int(at)))
    share_of: dict[str, tuple[str, int]] = {}
    for person, found in by_person.items():
        for sid, at in found:
            share_of.setdefault(sid, (person, at))
    counted = set(recipients)
    level, levels = dict(recipients), []
    existing = same_device = 0
    arrivals_by_sid: dict[str, list[list]] = {}
    for row in arrivals:
        arrivals_by_sid.setdefault(row[1], []).append(row)
    for depth in range(1, query.max_depth + 1):
        sharers: dict[str, list[str]] = {}
        for person, entered in level.items():
            ids = [sid for sid, at in by_person.get(person, []) if entered <= at < entered + window]
            if ids:
                sharers[person] = ids
        if not sharers:
            break
        invited: dict[str, int] = {}
        for sharer, ids in sharers.items():
            for sid in ids:
                shared_at = share_of[sid][1]
                for person, _, carried_at, first_at, their_devices in arrivals_by_sid.get(sid, []):
                    if person in counted or person in invited or int(carried_at) < shared_at:
                        continue
                    if int(first_at) < int(carried_at):
                        existing += 1
                        continue
                    if set(their_devices) & devices.get(sharer, set()):
                        same_device += 1
                        continue
                    invited[person] = int(first_at)
        levels.append({"level": depth, "sharers": len(sharers),
                       "shares": sum(len(v) for v in sharers.values()), "invited": len(invited)})  # fmt: skip
        if not invited:
            break
        counted |= set(invited)
        level = invited
    first = levels[0] if levels else {"sharers": 0, "shares": 0, "invited": 0}
    return {
        "recipients": len(recipients),
        "sharers": first["sharers"],
        "shares": first["shares"],
        "invited": first["invited"],
        "k_factor": round(first["invited"] / len(recipients), 4) if recipients else 0.0,
        "invited_all_levels": sum(lv["invited"] for lv in levels),
        "depth": max((lv["level"] for lv in levels if lv["invited"]), default=0),
        "levels": levels,
        "existing": existing,
        "same_device": same_device,
    }


def shape_returning(row: list) -> dict:
    buyers, returned, orders, gmv, seconds = row if row else (0, 0, 0, 0.0, None)
    orders, gmv = int(orders or 0), round(float(gmv or 0.0), 2)
    return {
        "buyers_before": int(buyers or 0),
        "returned": int(returned or 0),
        "orders": orders,
        "gmv": gmv,
        "aov": round(gmv / orders, 2) if orders else 0.0,
        "repurchase_days": round(float(seconds) / 86400, 2) if returned and seconds is not None else None,
    }


async def run(engine, db: str, workspace: str, query: SpreadQuery) -> dict:
    found = await engine.rows(
        f"SELECT person, toUnixTimestamp64Milli(first_sent) FROM ({recipients_sql(db, workspace, query.campaign_id)})"
    )
    recipients = {person: int(at) for person, at in found}
    shares = await engine.rows(render_shares(db, workspace, query)) if recipients else []
    arrivals = await engine.rows(render_arrivals(db, workspace, query)) if shares else []
    sharers = sorted({row[0] for row in shares})
    devices = {p: set(d) for p, d in await engine.rows(render_devices(db, workspace, sharers))} if sharers else {}
    returning = await engine.rows(render_returning(db, workspace, query))
    return {
        "campaign_id": query.campaign_id,
        "referral": walk(query, recipients, shares, arrivals, devices),
        "returning": shape_returning(returning[0] if returning else []),
    }
