"""A journey's evaluation from the rows analytics keeps: journey_steps (what journey.steps announced),
message statuses of its sends (campaign_id = journey id) and the recipients' orders.

- runs per version and variant, and per step (the runs that entered it, the node a run waits at
  now, ended at, converted at);
- the response funnel sent -> delivered -> opened -> clicked -> visited -> joined -> ordered per
  step and variant (a message is placed at its recipient's run by time, see `_placed`; visits,
  joins and orders are the recipients' visit events, join event and `conversionEvent` within
  `windowDays` of their first message there, as for a campaign: campaigns.py names the events);
- the experiment at one node: its arms (and the holdout) compared by the statistics module the
  journey service uses (services/kit/experiment_stats.py), so both report the same fixed-horizon
  figures. The always-valid p-value is the running minimum over every look; the journey service
  keeps those looks, here each evaluation is a first look (its tau chosen as the journey's is).
- cost (messages sent per channel at the workspace's price) and ROI: the goal value of the treated
  runs less the holdout's value per run scaled to them, over the cost.

Runs, not persons, are counted, as the journey service counts them: a person who entered twice
is two runs. Orders are per person with merges applied (person overrides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.costs import priced
from services.analytics.models import campaigns, common
from services.analytics.store import overrides_sql
from services.kit import experiment_stats as stats
from services.kit.errors import InvalidInput

HOLDOUT = stats.HOLDOUT
CONTROL = "control"
ENDED = ("done", "exited")
# The announcements that say where a run is (a "step" one only carries the nodes it passed).
POSITIONS = sql.strings(["entered", "waiting", *ENDED])
MAX_ARMS = 20


@dataclass(frozen=True)
class JourneyQuery:
    journey_id: str
    version: int | None
    node: str | None
    weights: tuple[tuple[str, float], ...]
    holdout_pct: float
    conversion_event: str
    window_days: int
    revenue_property: str
    visit_events: tuple[str, ...] = campaigns.VISITS
    join_event: str = "Signed Up"


def _weights(value) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ARMS:
        raise InvalidInput(f"weights must be a list of at most {MAX_ARMS} arms", "weights")
    out = []
    for i, item in enumerate(value):
        where = f"weights[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be {{arm, weight}}", where)
        arm = common.text(item, "arm", f"{where}.arm")
        weight = item.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight < math.inf:
            raise InvalidInput(f"{where}.weight must be a number of at least 0", f"{where}.weight")
        if arm == HOLDOUT or arm in dict(out):
            raise InvalidInput(f"{where}.arm {arm!r} is reserved or repeated", f"{where}.arm")
        out.append((arm, float(weight)))
    if out and sum(w for _, w in out) <= 0:
        raise InvalidInput("weights must add up to more than 0", "weights")
    return tuple(out)


def parse(doc: dict) -> JourneyQuery:
    version = doc.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidInput("version must be a whole number of at least 1", "version")
    holdout = doc.get("holdout_pct", 10.0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 100:
        raise InvalidInput("holdoutPct must be a percentage between 0 and 100", "holdoutPct")
    revenue = common.text(doc, "revenue_property", "revenueProperty", required=False, default="revenue")
    return JourneyQuery(
        journey_id=common.text(doc, "journey_id", "journeyId"),
        version=version,
        node=common.text(doc, "node", "node", required=False) or None,
        weights=_weights(doc.get("weights")),
        holdout_pct=float(holdout),
        conversion_event=common.text(
            doc, "conversion_event", "conversionEvent", required=False, default="Order Completed"
        ),
        window_days=common.integer(doc, "window_days", "windowDays", 7, 1, 365),
        revenue_property=common.path(revenue, "revenueProperty"),
        visit_events=campaigns.event_names(doc.get("visit_events"), "visitEvents") or campaigns.VISITS,
        join_event=common.text(doc, "join_event", "joinEvent", required=False, default="Signed Up"),
    )


def variants_of(label: str) -> dict[str, str]:
    """A run's "node=arm,node=arm" (journey.steps) as {node: arm}."""
    out = {}
    for part in label.split(",") if label else ():
        node, _, arm = part.partition("=")
        out[node] = arm
    return out


def render_runs(db: str, workspace: str, query: JourneyQuery) -> str:
    """Rows of (version, variant, holdout, state, node, converted node, runs, conversions, value, value^2):
    each run's latest position (entered, waiting, done, exited at a node) grouped."""
    only = f" AND version = {query.version}" if query.version is not None else ""
    # At one seq a run may announce entered and then waiting or its end: the later change wins.
    rank = "(seq, multiIf(kind = 'entered', 0, kind = 'waiting', 1, 2))"
    runs = (
        "SELECT run_id, any(version) AS run_version, argMax(variant, (seq, ts)) AS variant, max(holdout) AS holdout, "
        f"argMaxIf(kind, {rank}, kind IN {POSITIONS}) AS state, argMaxIf(node, {rank}, kind IN {POSITIONS}) AS at, "
        "countIf(kind = 'converted') > 0 AS converted, anyIf(node, kind = 'converted') AS converted_at, "
        "maxIf(value, kind = 'converted') AS value "
        f"FROM {db}.journey_steps FINAL WHERE workspace = {sql.string(workspace)} "
        f"AND journey_id = {sql.string(query.journey_id)}{only} GROUP BY run_id"
    )
    return (
        "SELECT run_version, variant, holdout, state, at, converted_at, count(), countIf(converted), "
        f"sum(value), sum(value * value) FROM ({runs}) "
        "GROUP BY run_version, variant, holdout, state, at, converted_at "
        "ORDER BY run_version, variant, holdout, state, at, converted_at"
    )


def render_visits(db: str, workspace: str, query: JourneyQuery) -> str:
    """Rows of (version, variant, holdout, node, runs entered): the nodes each run passed (every
    announcement's `visited`), under the run's latest variant as `render_runs` labels it."""
    only = f" AND version = {query.version}" if query.version is not None else ""
    runs = (
        "SELECT run_id, any(version) AS run_version, argMax(variant, (seq, ts)) AS variant, max(holdout) AS holdout, "
        "arrayFlatten(groupArray(visited)) AS nodes "
        f"FROM {db}.journey_steps FINAL WHERE workspace = {sql.string(workspace)} "
        f"AND journey_id = {sql.string(query.journey_id)}{only} GROUP BY run_id"
    )
    return (
        f"SELECT run_version, variant, holdout, node, count() FROM ({runs}) ARRAY JOIN nodes AS node "
        "GROUP BY run_version, variant, holdout, node ORDER BY run_version, variant, holdout, node"
    )


def _sent_by(column: str, query: JourneyQuery) -> str:
    """Messages of the journey: messaging records its id, or "<journey>@<launch>" for a campaign launch."""
    journey = sql.string(query.journey_id)
    return f"({column} = {journey} OR startsWith({column}, {sql.string(query.journey_id + '@')}))"


def _placed(db: str, workspace: str, query: JourneyQuery) -> str:
    """(message_id, person, channel, at, step, variant) of every message of the journey.

    Messages do not name the step that sent them, so a message is placed by its recipient and time:
    at the step their run last announced at or before the message (the wait or end a send leads to,
    as the run commits the step before messaging sends), with the run's variant then. With a
    version asked for, only messages of that version's runs are placed.
    """
    ws = sql.string(workspace)
    overrides = overrides_sql(db, workspace)
    messages = (
        "SELECT m.message_id AS message_id, if(o.person_id = '', m.person_id, o.person_id) AS person, "
        "anyIf(m.channel, m.channel != '') AS channel, min(m.ts) AS at "
        f"FROM {db}.message_statuses AS m FINAL LEFT JOIN ({overrides}) AS o ON o.old_person_id = m.person_id "
        f"WHERE m.workspace = {ws} AND {_sent_by('m.campaign_id', query)} GROUP BY message_id, person"
    )
    only = f" AND j.version = {query.version}" if query.version is not None else ""
    steps = (
        "SELECT if(o.person_id = '', j.person_id, o.person_id) AS person, j.ts AS ts, j.node AS node, "
        f"j.variant AS variant FROM {db}.journey_steps AS j FINAL LEFT JOIN ({overrides}) AS o "
        f"ON o.old_person_id = j.person_id WHERE j.workspace = {ws} "
        f"AND j.journey_id = {sql.string(query.journey_id)} AND j.kind IN {POSITIONS}{only}"
    )
    join = "ASOF INNER JOIN" if query.version is not None else "ASOF LEFT JOIN"
    return (
        "SELECT m.message_id AS message_id, m.person AS person, m.channel AS channel, m.at AS at, "
        f"s.node AS step, s.variant AS variant FROM ({messages}) AS m {join} ({steps}) AS s "
        "ON m.person = s.person AND m.at >= s.ts"
    )


def render_messages(db: str, workspace: str, query: JourneyQuery) -> str:
    """Rows of (variant, step, channel, sent, delivered, opened, clicked) of the journey's messages.

    Counted in the engine (a send of millions stays a few rows): each message's furthest stage, as
    each stage implies the ones before it (a click proves the open, an open the delivery).
    """
    ws = sql.string(workspace)
    engaged = _sent_by("JSONExtractString(properties, 'campaign_id')", query)
    names = sql.strings(sorted(campaigns.ENGAGEMENT))
    stage = (
        "multiIf("
        + ", ".join(f"event = {sql.string(e)}, {sql.string(s)}" for e, s in campaigns.ENGAGEMENT.items())
        + ", '')"
    )
    stages = (
        f"SELECT if(status = 'delivered', 'delivered', 'sent') AS stage, message_id FROM {db}.message_statuses FINAL "
        f"WHERE workspace = {ws} AND {_sent_by('campaign_id', query)} AND status IN {sql.strings(campaigns.SENT)} "
        "UNION ALL "
        f"SELECT {stage} AS stage, JSONExtractString(properties, 'message_id') AS message_id FROM {db}.events FINAL "
        f"WHERE workspace = {ws} AND event IN {names} AND {engaged}"
    )
    return (
        "SELECT p.variant, p.step, p.channel, count(), countIf(r.reach >= 2), countIf(r.reach >= 3), "
        "countIf(r.reach >= 4) FROM ("
        "SELECT message_id, max(multiIf(stage = 'clicked', 4, stage = 'opened', 3, stage = 'delivered', 2, 1)) "
        f"AS reach FROM ({stages}) GROUP BY message_id) AS r "
        f"INNER JOIN ({_placed(db, workspace, query)}) AS p ON p.message_id = r.message_id "
        "GROUP BY p.variant, p.step, p.channel"
    )


def render_orders(db: str, workspace: str, query: JourneyQuery) -> str:
    """Rows of (variant, step, visiting persons, joining persons, ordering persons, orders, revenue):
    what recipients did within the window after their first message at the step (an order after
    messages of two steps counts at both)."""
    names = sorted({*query.visit_events, query.join_event, query.conversion_event})
    source = common.events_source(db, workspace, common.EPOCH, common.FOREVER, names)
    revenue = sql.json_number("s.properties", query.revenue_property)
    conversion = f"s.event = {sql.string(query.conversion_event)}"
    first = (
        "SELECT variant, step, person, min(at) AS first_sent "
        f"FROM ({_placed(db, workspace, query)}) GROUP BY variant, step, person"
    )
    return (
        f"SELECT f.variant, f.step, uniqExactIf(s.person, s.event IN {sql.strings(query.visit_events)}), "
        f"uniqExactIf(s.person, s.event = {sql.string(query.join_event)}), uniqExactIf(s.person, {conversion}), "
        f"countIf({conversion}), sumIf(ifNull({revenue}, 0), {conversion}) FROM ({source}) AS s "
        f"INNER JOIN ({first}) AS f ON f.person = s.person "
        f"WHERE s.ts >= f.first_sent AND s.ts < f.first_sent + toIntervalDay({query.window_days}) "
        "GROUP BY f.variant, f.step"
    )


def _blank() -> dict:
    return {"entered": 0, "waiting": 0, "done": 0, "exited": 0, "converted": 0, "conversion_value": 0.0}


def _totals(rows: list[list], visits: list[list] = ()) -> tuple[list[dict], list[dict]]:
    """(per version and variant, per version, node and variant)."""
    versions: dict[tuple, dict] = {}
    steps: dict[tuple, dict] = {}
    for version, variant, holdout, node, n in visits:
        s = steps.setdefault((int(version), node, HOLDOUT if holdout else variant), _blank())
        s["entered"] += int(n)
    for version, variant, holdout, state, at, converted_at, n, conversions, value, _ in rows:
        label = HOLDOUT if holdout else variant
        v = versions.setdefault((int(version), label), _blank())
        v["entered"] += int(n)
        v["converted"] += int(conversions)
        v["conversion_value"] += float(value)
        if state == "waiting" or state in ENDED:
            v[state] += int(n)
            s = steps.setdefault((int(version), at, label), _blank())
            s[state] += int(n)
        if conversions:
            s = steps.setdefault((int(version), converted_at, label), _blank())
            s["converted"] += int(conversions)
            s["conversion_value"] += float(value)
    by_version = [{"version": k[0], "variant": k[1], **v} for k, v in sorted(versions.items())]
    by_step = [{"version": k[0], "node": k[1], "variant": k[2], **v} for k, v in sorted(steps.items())]
    return by_version, by_step


def _arms(rows: list[list], node: str | None) -> dict[str, stats.Arm]:
    """Arm -> totals: a run's arm is its variant at `node` (holdout runs form their own arm; without a
    node, everyone not held out is "treated"), as the journey service forms them."""
    totals: dict[str, list[float]] = {}
    for _, variant, holdout, _, _, _, n, conversions, value, squares in rows:
        if holdout:
            name = HOLDOUT
        elif node is not None:
            name = variants_of(variant).get(node)
            if name is None:
                continue
        else:
            name = "treated"
        t = totals.setdefault(name, [0, 0, 0.0, 0.0])
        t[0] += int(n)
        t[1] += int(conversions)
        t[2] += float(value)
        t[3] += float(squares)
    return {k: stats.Arm(int(n), int(c), r, s) for k, (n, c, r, s) in totals.items()}


def _first_look(control: stats.Arm, treatment: stats.Arm, weights: tuple[float, float]) -> stats.Comparison:
    """The journey service's comparison at its first look (the same tau, kit/experiment_stats)."""
    return stats.compare(
        control, treatment, weights=weights, sequential=stats.SequentialTest(tau=stats.campaign_tau(control))
    )


def experiment(rows: list[list], query: JourneyQuery) -> dict:
    """The arms at the experiment node and each compared with the control (or the first arm), and the
    treated runs with the holdout."""
    arms = _arms(rows, query.node)
    weights = dict(query.weights)
    names = list(weights) or sorted(n for n in arms if n != HOLDOUT)
    empty = stats.Arm(0, 0)
    out: dict = {"node": query.node, "arms": [], "comparisons": [], "holdout": None, "winner": None}
    for name in [*names, HOLDOUT]:
        a = arms.get(name, empty)
        if a.n:
            out["arms"].append(
                {
                    "name": name,
                    "n": a.n,
                    "conversions": a.conversions,
                    "rate": a.conversions / a.n,
                    "rate_interval": stats.interval_doc(stats.wilson_interval(a.conversions, a.n)),
                    "revenue_per_person": a.revenue / a.n,
                }
            )
    if query.node is not None and names:
        reference = CONTROL if CONTROL in names else names[0]
        ref = arms.get(reference, empty)
        for name in names:
            arm = arms.get(name, empty)
            if name == reference or not ref.n or not arm.n:
                continue
            pair = (weights.get(reference, 1.0), weights.get(name, 1.0))
            out["comparisons"].append(stats.comparison_doc(name, reference, _first_look(ref, arm, pair)))
        significant = [c for c in out["comparisons"] if c["significant"] and (c["lift"] or 0) > 0]
        out["winner"] = max(significant, key=lambda c: c["lift"])["arm"] if significant else None
    held = arms.get(HOLDOUT, empty)
    treated = [a for n, a in arms.items() if n != HOLDOUT]
    if held.n and treated:
        total = stats.Arm(
            sum(a.n for a in treated),
            sum(a.conversions for a in treated),
            sum(a.revenue for a in treated),
            sum(a.revenue_of_squares for a in treated),
        )
        share = query.holdout_pct
        out["holdout"] = stats.comparison_doc("treated", HOLDOUT, _first_look(held, total, (share, 100.0 - share)))
    return out


def funnel(messages: list[list], orders: list[list]) -> tuple[list[dict], dict[str, int]]:
    """(funnel per variant and step, messages sent per channel)."""
    stages = ("sent", "delivered", "opened", "clicked")
    blank = dict.fromkeys((*stages, "visited", "joined", "ordered_persons", "orders"), 0)
    rows: dict[tuple[str, str], dict] = {}
    by_channel: dict[str, int] = {}
    for variant, step, channel, *counts in messages:
        key = (variant or "", step or "")
        row = rows.setdefault(key, {"variant": key[0], "step": key[1], **blank, "revenue": 0.0})
        for stage, n in zip(stages, counts, strict=True):
            row[stage] += int(n)
        by_channel[channel or ""] = by_channel.get(channel or "", 0) + int(counts[0])
    for variant, step, visited, joined, persons, n, revenue in orders:
        key = (variant or "", step or "")
        row = rows.setdefault(key, {"variant": key[0], "step": key[1], **blank, "revenue": 0.0})
        row["visited"] += int(visited)
        row["joined"] += int(joined)
        row["ordered_persons"] += int(persons)
        row["orders"] += int(n)
        row["revenue"] += float(revenue or 0.0)
    return [rows[k] for k in sorted(rows)], by_channel


def roi(by_version: list[dict], by_channel: dict[str, int], prices: dict[str, float]) -> dict:
    """Cost of the messages sent and ROI: (treated goal value - holdout value per run x treated runs) / cost."""
    messages, cost = priced(by_channel, prices)
    treated = [r for r in by_version if r["variant"] != HOLDOUT]
    held = [r for r in by_version if r["variant"] == HOLDOUT]
    treated_n = sum(r["entered"] for r in treated)
    treated_value = sum(r["conversion_value"] for r in treated)
    held_n = sum(r["entered"] for r in held)
    scaled = sum(r["conversion_value"] for r in held) / held_n * treated_n if held_n else None
    incremental = treated_value - scaled if scaled is not None else None
    return {
        "messages": messages,
        "cost": cost,
        "treated_value": treated_value,
        "holdout_value_scaled": scaled,
        "incremental_value": incremental,
        "roi": incremental / cost if incremental is not None and cost > 0 else None,
    }


async def run(engine, db: str, workspace: str, query: JourneyQuery, prices: dict[str, float]) -> dict:
    rows = await engine.rows(render_runs(db, workspace, query))
    by_version, by_step = _totals(rows, await engine.rows(render_visits(db, workspace, query)))
    responses, sent = funnel(
        await engine.rows(render_messages(db, workspace, query)), await engine.rows(render_orders(db, workspace, query))
    )
    return {
        "journey_id": query.journey_id,
        "versions": by_version,
        "steps": by_step,
        "funnel": responses,
        "experiment": experiment(rows, query),
        "cost": roi(by_version, sent, prices),
    }
