"""GraphQL subgraph of analytics: trends, funnels, retention, paths, campaign statistics, and saving
a funnel step's drop-offs or a retention cell as a segment.

Inputs become plain dicts (snake_case) and go through the same parsers as gRPC requests, so both
edges refuse the same input with the same field named.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import strawberry
from strawberry.scalars import JSON

from services.analytics.analysis import Analytics
from services.analytics.costs import CostStore
from services.analytics.dashboards import DashboardStore
from services.kit.audit import audited
from services.kit.clock import Clock
from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of


def plain(value):
    """An input object as the dict the parsers read (unset and null fields left out)."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None or v is strawberry.UNSET:
                continue
            out[f.name] = plain(v)
        return out
    return value


@strawberry.input(description="A condition on an event property (dotted path); op: = != > >= < <= contains.")
class PropertyFilterInput:
    property: str
    value: str
    op: str = "="


@strawberry.input(
    description="Exactly one of property, trait, computed (a computed trait of the catalog), tag (a tag's name: its "
    "value, 'true' for a flag, empty when not tagged) or product (a key of products[] items), top `limit`; or "
    "segments (ids): each person counts in every listed segment they are in now."
)
class BreakdownInput:
    property: str | None = None
    trait: str | None = None
    computed: str | None = None
    tag: str | None = None
    product: str | None = None
    segments: list[str] | None = None
    limit: int = 10


@strawberry.input
class TrendsSeriesInput:
    event: str
    math: str = strawberry.field(default="total", description="total, persons, sum or avg")
    property: str | None = strawberry.field(
        default=None, description="What sum/avg read; product.<key> reads items of products[]."
    )
    filters: list[PropertyFilterInput] | None = None


@strawberry.input(description="Dates are local dates (inclusive) in `timezone` (IANA, default UTC).")
class TrendsInput:
    series: list[TrendsSeriesInput]
    date_from: dt.date
    date_to: dt.date
    interval: str = strawberry.field(default="day", description="hour, day, week (from Monday) or month")
    timezone: str = "UTC"
    breakdown: BreakdownInput | None = None
    formulas: list[str] | None = strawberry.field(
        default=None, description='Over the series by letter (A is the first): "B / A", "(A - B) / A * 100".'
    )


@strawberry.input(description="minSeconds/maxSeconds bound the time since the step before (ordered, strict).")
class FunnelStepInput:
    event: str
    filters: list[PropertyFilterInput] | None = None
    min_seconds: int | None = None
    max_seconds: int | None = None


@strawberry.input(description="Doing `event` between steps fromStep and toStep (0-based) removes the attempt.")
class FunnelExclusionInput:
    event: str
    from_step: int = 0
    to_step: int | None = None
    filters: list[PropertyFilterInput] | None = None


@strawberry.input(description="The date range selects entries; completions are read up to the window after it.")
class FunnelInput:
    steps: list[FunnelStepInput]
    date_from: dt.date
    date_to: dt.date
    order: str = strawberry.field(default="ordered", description="ordered, strict or any")
    window_seconds: int = 14 * 86400
    timezone: str = "UTC"
    exclusions: list[FunnelExclusionInput] | None = None
    hold_constant: str | None = strawberry.field(
        default=None,
        description="A property every step shares: an event's own, else that key of its products[] items "
        "(an order carries each of its products).",
    )
    breakdown: BreakdownInput | None = None
    attribution: str = strawberry.field(
        default="first", description="The breakdown value of: first (the entry), last (furthest step) or step"
    )
    attribution_step: int | None = strawberry.field(default=None, description="0-based, for attribution step")


@strawberry.input
class RetentionInput:
    start_event: str
    return_event: str
    date_from: dt.date
    date_to: dt.date
    kind: str = strawberry.field(default="first_time", description="first_time or recurring")
    period: str = strawberry.field(default="day", description="day, week or month")
    periods: int = 8
    timezone: str = "UTC"
    start_filters: list[PropertyFilterInput] | None = None
    return_filters: list[PropertyFilterInput] | None = None
    breakdown: BreakdownInput | None = None
    brackets: list[int] | None = strawberry.field(
        default=None,
        description="Custom brackets: the first period of each (e.g. [1, 4, 8, 15]); the last runs to periods - 1.",
    )
    value_property: str | None = strawberry.field(
        default=None, description="Also sum this property of the return events per cell (revenue retention)."
    )


@strawberry.input
class PathsInput:
    date_from: dt.date
    date_to: dt.date
    start_event: str | None = None
    end_event: str | None = None
    depth: int = 10
    limit: int = 20
    exclude: list[str] | None = None
    timezone: str = "UTC"
    breakdown: BreakdownInput | None = strawberry.field(
        default=None,
        description="Paths per group of persons (not product): a person's trait, computed trait, tag or segments, "
        "or an event property on their first event of the range. Top `limit` groups plus $other.",
    )


@strawberry.input(description="One event's persons per period; dates are local dates in `timezone`.")
class LifecycleInput:
    event: str
    date_from: dt.date
    date_to: dt.date
    interval: str = strawberry.field(default="day", description="hour, day, week (from Monday) or month")
    timezone: str = "UTC"
    filters: list[PropertyFilterInput] | None = None
    breakdown: BreakdownInput | None = strawberry.field(
        default=None,
        description="Groups persons (not product): a person's trait, computed trait, tag or segments, or an event "
        "property on their first matching event read (lifecycle reads from one period before the range). Top "
        "`limit` values by persons, the rest as $other.",
    )


@strawberry.type
class LifecycleGroup:
    breakdown_value: str
    new: list[int]
    returning: list[int]
    resurrecting: list[int]
    dormant: list[int]


@strawberry.type
class Lifecycle:
    buckets: list[str]
    new: list[int]
    returning: list[int]
    resurrecting: list[int]
    dormant: list[int]
    breakdowns: list[LifecycleGroup] | None = strawberry.field(
        default=None, description="With a breakdown: each value's persons, by rank ($other last)."
    )


@strawberry.input(description="The AARRR overview; event names default to the Segment e-commerce spec.")
class AarrrInput:
    date_from: dt.date
    date_to: dt.date
    timezone: str = "UTC"
    activation_event: str = "Product Added"
    activation_days: int = strawberry.field(default=7, description="Activated: within so many days of the first event.")
    order_event: str = "Order Completed"
    revenue_property: str = "revenue"
    refund_event: str = "Order Refunded"
    refund_property: str = "total"
    referral_event: str = "Product Shared"


@strawberry.type
class AarrrPeriod:
    date_from: str
    date_to: str
    new_persons: int = strawberry.field(description="Acquisition: first event ever in the period.")
    activated: int = strawberry.field(description="New persons who did the activation event in time.")
    activation_rate: float
    active_persons: int
    retained: int = strawberry.field(description="Active in the period and in the period before.")
    retention_rate: float = strawberry.field(description="retained / the period before's active persons.")
    orders: int
    gmv: float
    refunds: float
    net_revenue: float
    paying_persons: int
    arppu: float = strawberry.field(description="GMV per paying person.")
    referrers: int
    referrals: int


@strawberry.type
class Aarrr:
    current: AarrrPeriod
    previous: AarrrPeriod = strawberry.field(description="The period of equal length just before.")


@strawberry.input(description="Persons acquired in the range, by the utm source of their first event.")
class LtvInput:
    date_from: dt.date
    date_to: dt.date
    timezone: str = "UTC"
    order_event: str = "Order Completed"
    refund_event: str = "Order Refunded"
    limit: int = 20


@strawberry.type
class LtvHorizon:
    mature_persons: int = strawberry.field(description="Persons acquired at least this long ago.")
    net_revenue: float = strawberry.field(description="Their orders within the horizon, less refunds.")
    per_person: float | None = strawberry.field(description="net_revenue / mature_persons; null when none.")


@strawberry.type
class LtvChannel:
    channel: str = strawberry.field(description='utm source of the first event; "direct" when it had none.')
    persons: int
    d7: LtvHorizon
    d30: LtvHorizon
    d90: LtvHorizon


@strawberry.input(description="A campaign's (or journey's) referral spread and returning buyers.")
class CampaignSpreadInput:
    campaign_id: str
    window_days: int = strawberry.field(default=7, description="Shares and repurchases count within this window.")
    share_event: str = "Product Shared"
    share_property: str = strawberry.field(default="share_id", description="Carried by the share and the link.")
    order_event: str = "Order Completed"
    max_depth: int = 5


@strawberry.type
class SpreadLevel:
    level: int
    sharers: int
    shares: int
    invited: int = strawberry.field(description="New persons whose first event carried a share of this level.")


@strawberry.type
class ReferralSpread:
    recipients: int
    sharers: int
    shares: int
    invited: int
    k_factor: float = strawberry.field(description="Invited persons of the first level per recipient.")
    invited_all_levels: int
    depth: int
    levels: list[SpreadLevel]
    existing: int = strawberry.field(description="Persons who followed a share but were there before: not counted.")
    same_device: int = strawberry.field(description="Arrivals on a device of their sharer: not counted.")


@strawberry.type
class ReturningBuyers:
    buyers_before: int = strawberry.field(description="Recipients who had ordered before their first message.")
    returned: int
    orders: int
    gmv: float
    aov: float
    repurchase_days: float | None


@strawberry.type
class CampaignSpread:
    campaign_id: str
    referral: ReferralSpread
    returning: ReturningBuyers


@strawberry.type
class StickinessGroup:
    breakdown_value: str
    persons: list[int]


@strawberry.type
class Stickiness:
    interval: str
    persons: list[int] = strawberry.field(description="[k]: persons who did the event in k + 1 distinct periods.")
    breakdowns: list[StickinessGroup] | None = strawberry.field(
        default=None, description="With a breakdown: each value's persons, by rank ($other last)."
    )


@strawberry.input
class DistributionInput:
    event: str
    date_from: dt.date
    date_to: dt.date
    timezone: str = "UTC"
    max_times: int = strawberry.field(default=20, description="This many times or more share the last bucket.")
    filters: list[PropertyFilterInput] | None = None
    breakdown: BreakdownInput | None = strawberry.field(
        default=None, description="A person's value is that of their first counted event in the range (no product)."
    )


@strawberry.type(name="AnalyticsDistributionBucket")
class DistributionBucket:
    times: int
    or_more: bool
    persons: int


@strawberry.type(name="AnalyticsDistributionBreakdown")
class DistributionBreakdown:
    breakdown_value: str
    persons: int
    buckets: list[DistributionBucket]


@strawberry.type(name="AnalyticsDistribution")
class Distribution:
    persons: int
    buckets: list[DistributionBucket]
    breakdowns: list[DistributionBreakdown] | None = strawberry.field(
        default=None, description="With a breakdown: per value (most persons first, $other last); null without."
    )


@strawberry.input(description="From a person's first fromEvent in the range to their next toEvent.")
class IntervalInput:
    from_event: str
    to_event: str
    date_from: dt.date
    date_to: dt.date
    timezone: str = "UTC"
    window_seconds: int = 30 * 86400
    breakdown: BreakdownInput | None = strawberry.field(
        default=None, description="A person's value is that on their first fromEvent in the range (no product)."
    )


@strawberry.type(name="AnalyticsIntervalBreakdown")
class IntervalBreakdown:
    breakdown_value: str
    persons: int
    converted: int
    avg_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    min_seconds: float | None
    max_seconds: float | None


@strawberry.type(name="AnalyticsInterval")
class Interval:
    persons: int
    converted: int
    avg_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    min_seconds: float | None
    max_seconds: float | None
    breakdowns: list[IntervalBreakdown] | None = strawberry.field(
        default=None, description="With a breakdown: per value (most persons first, $other last); null without."
    )


@strawberry.type
class TrendsLine:
    event: str
    math: str
    breakdown_value: str | None
    values: list[float]
    total: float | None


@strawberry.type
class TrendsResult:
    buckets: list[str]
    series: list[TrendsLine]


@strawberry.type
class FunnelStepResult:
    event: str
    count: int
    conversion: float
    from_previous: float
    avg_seconds_from_previous: float | None
    median_seconds_from_previous: float | None


@strawberry.type
class FunnelDay:
    day: str
    entered: int
    converted: int


@strawberry.type
class FunnelResult:
    breakdown_value: str | None
    entered: int
    steps: list[FunnelStepResult]
    avg_seconds_to_convert: float | None
    median_seconds_to_convert: float | None
    immature: int
    by_day: list[FunnelDay]


@strawberry.type
class AnalyticsRetentionRow:
    cohort: str
    breakdown_value: str | None
    size: int
    counts: list[int]
    shares: list[float]
    values: list[float] | None = strawberry.field(description="The value property summed per cell, when asked.")


@strawberry.type
class RetentionMatrix:
    period: str
    brackets: list[int] | None
    rows: list[AnalyticsRetentionRow]


@strawberry.type
class AnalyticsPath:
    steps: list[str]
    persons: int
    share: float


@strawberry.type(name="AnalyticsPathsGroup")
class PathsGroup:
    breakdown_value: str
    total_persons: int
    paths: list[AnalyticsPath]
    hidden_paths: int
    hidden_persons: int
    hidden_share: float


@strawberry.type
class PathsResult:
    total_persons: int
    paths: list[AnalyticsPath]
    hidden_paths: int
    hidden_persons: int
    hidden_share: float
    breakdowns: list[PathsGroup] | None = strawberry.field(
        default=None, description="With a breakdown: each group's paths among its persons (null without one)."
    )


@strawberry.type(name="AnalyticsStatusCount")
class StatusCount:
    status: str
    messages: int


@strawberry.type(name="AnalyticsCampaignStats")
class CampaignStats:
    campaign_id: str
    statuses: list[StatusCount]


@strawberry.input(
    name="AnalyticsCampaignFunnelInput",
    description="Conversion: `conversionEvent` within `windowDays` of a recipient's first message.",
)
class CampaignFunnelInput:
    campaign_id: str
    conversion_event: str = "Order Completed"
    window_days: int = 7
    revenue_property: str = "revenue"
    visit_events: list[str] | None = strawberry.field(
        default=None, description='What counts as a visit (default "$page", "$screen", "Application Opened").'
    )
    join_event: str = "Signed Up"


@strawberry.type(name="AnalyticsChannelCost")
class ChannelCost:
    channel: str
    messages: int
    cost: float
    priced: bool = strawberry.field(description="false: no price is set for the channel (counted at 0)")


@strawberry.type(name="AnalyticsCampaignFunnel")
class CampaignFunnel:
    campaign_id: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    visited: int = strawberry.field(description="Recipients who visited within the window after their first message.")
    joined: int = strawberry.field(description="Recipients who did the join event (signed up) within the window.")
    converted_persons: int
    conversions: int
    revenue: float
    statuses: list[StatusCount]
    messages: list[ChannelCost] = strawberry.field(description="Messages sent per channel at the workspace's prices.")
    cost: float
    cost_per_converted: float | None
    return_on_spend: float | None = strawberry.field(
        description="(revenue - cost) / cost: attributed to the campaign (a plain send has no holdout)."
    )


@strawberry.input(name="AnalyticsArmWeightInput")
class ArmWeightInput:
    arm: str
    weight: float


@strawberry.input(
    name="AnalyticsJourneyEvaluationInput",
    description="A journey's runs, response funnel, experiment and ROI. `node`: the experiment step; "
    "`weights`: its arms' split (for the sample-ratio check; default equal); orders are `conversionEvent` "
    "within `windowDays` of a recipient's first message.",
)
class JourneyEvaluationInput:
    journey_id: str
    version: int | None = None
    node: str | None = None
    weights: list[ArmWeightInput] | None = None
    holdout_pct: float = 10.0
    conversion_event: str = "Order Completed"
    window_days: int = 7
    revenue_property: str = "revenue"
    visit_events: list[str] | None = strawberry.field(
        default=None, description='What counts as a visit (default "$page", "$screen", "Application Opened").'
    )
    join_event: str = "Signed Up"


@strawberry.type(name="AnalyticsJourneyVersionStats", description="Runs of one version and variant (or holdout).")
class JourneyVersionStats:
    version: int
    variant: str
    entered: int
    waiting: int
    done: int
    exited: int
    converted: int
    conversion_value: float


@strawberry.type(
    name="AnalyticsJourneyStepStats", description="Runs that entered, wait at, ended at or converted at a step."
)
class JourneyStepStats:
    version: int
    node: str
    variant: str
    entered: int
    waiting: int
    done: int
    exited: int
    converted: int
    conversion_value: float


@strawberry.type(
    name="AnalyticsJourneyResponse",
    description="sent -> delivered -> opened -> clicked -> visited -> joined -> ordered of the messages a step "
    "and variant sent. "
    "`step`: where the run was when the message went out (the wait or end the send leads to).",
)
class JourneyResponse:
    variant: str
    step: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    visited: int = strawberry.field(description="Recipients who visited within the window after their first message.")
    joined: int = strawberry.field(description="Recipients who did the join event within the window.")
    ordered_persons: int
    orders: int
    revenue: float


@strawberry.type(name="AnalyticsBounds", description="A confidence interval (1 - alpha).")
class Bounds:
    low: float
    high: float


@strawberry.type(name="AnalyticsExperimentArm")
class ExperimentArm:
    name: str
    n: int
    conversions: int
    rate: float
    rate_interval: Bounds
    revenue_per_person: float


@strawberry.type(name="AnalyticsExperimentComparison")
class ExperimentComparison:
    arm: str
    against: str
    lift: float | None
    lift_interval: Bounds | None
    difference: float
    difference_interval: Bounds
    p_value: float
    sequential_p_value: float
    significant: bool
    significant_fixed_horizon: bool
    chance_to_beat: float
    revenue_difference: float | None
    revenue_p_value: float | None
    revenue_lift: float | None
    sample_ratio_mismatch: bool
    sample_ratio_p_value: float


@strawberry.type(name="AnalyticsExperimentResult")
class ExperimentResult:
    node: str | None
    arms: list[ExperimentArm]
    comparisons: list[ExperimentComparison]
    holdout: ExperimentComparison | None
    winner: str | None


@strawberry.type(
    name="AnalyticsJourneyRoi", description="roi = (treated value - holdout value per run x treated runs) / cost"
)
class JourneyRoi:
    messages: list[ChannelCost]
    cost: float
    treated_value: float
    holdout_value_scaled: float | None
    incremental_value: float | None
    roi: float | None


@strawberry.type(name="AnalyticsJourneyEvaluation")
class JourneyEvaluation:
    journey_id: str
    versions: list[JourneyVersionStats]
    steps: list[JourneyStepStats]
    funnel: list[JourneyResponse]
    experiment: ExperimentResult
    cost: JourneyRoi


@strawberry.input(name="AnalyticsMessageCostInput")
class MessageCostInput:
    channel: str
    cost: float


@strawberry.type(name="AnalyticsMessageCost", description="What one message on a channel costs the workspace.")
class MessageCost:
    channel: str
    cost: float


def _interval(doc: dict | None) -> Bounds | None:
    return None if doc is None else Bounds(**doc)


def _comparison(doc: dict | None) -> ExperimentComparison | None:
    if doc is None:
        return None
    return ExperimentComparison(
        **{
            **doc,
            "lift_interval": _interval(doc["lift_interval"]),
            "difference_interval": _interval(doc["difference_interval"]),
        }
    )


def _journey_evaluation(doc: dict) -> JourneyEvaluation:
    found = doc["experiment"]
    return JourneyEvaluation(
        journey_id=doc["journey_id"],
        versions=[JourneyVersionStats(**v) for v in doc["versions"]],
        steps=[JourneyStepStats(**s) for s in doc["steps"]],
        funnel=[JourneyResponse(**f) for f in doc["funnel"]],
        experiment=ExperimentResult(
            node=found["node"],
            arms=[ExperimentArm(**{**a, "rate_interval": _interval(a["rate_interval"])}) for a in found["arms"]],
            comparisons=[_comparison(c) for c in found["comparisons"]],
            holdout=_comparison(found["holdout"]),
            winner=found["winner"],
        ),
        cost=JourneyRoi(**{**doc["cost"], "messages": [ChannelCost(**m) for m in doc["cost"]["messages"]]}),
    )


@strawberry.type(name="AnalyticsSavedSegment")
class SavedSegment:
    segment_id: str
    tag: str
    persons: int


@strawberry.type(name="AnalyticsEventCount")
class EventCount:
    event: str
    count: int
    last_at: dt.datetime


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Person:
        return cls(id=id)

    @strawberry.field(description="The person's events of the last `days` days by name (merged ids included).")
    async def event_counts(self, info: strawberry.Info, days: int = 30) -> list[EventCount]:
        workspace = workspace_of(info)
        rows = await info.context["analytics"].person_events(workspace, str(self.id), days)
        return [EventCount(**r) for r in rows]


_SNAKE = re.compile(r"_([a-z0-9])")


def camel_keys(value):
    """A model's result as JSON for GraphQL clients (camelCase keys, like the typed fields)."""
    if isinstance(value, dict):
        return {_SNAKE.sub(lambda m: m.group(1).upper(), k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


@strawberry.input
class DashboardTileInput:
    kind: str | None = strawberry.field(
        default=None,
        description="trends, funnel, retention, paths, lifecycle, stickiness, distribution, interval or aarrr",
    )
    query: JSON | None = strawberry.field(
        default=None, description="The model's input as for its own field (e.g. TrendsInput)."
    )
    insight_id: strawberry.ID | None = strawberry.field(
        default=None, description="Show a saved insight instead of a query of the tile's own (kept in step with it)."
    )
    title: str = ""


@strawberry.type
class DashboardTile:
    title: str
    kind: str
    query: JSON
    insight_id: strawberry.ID | None = None

    @strawberry.field(description="The tile computed now (tiles of one dashboard are computed side by side).")
    async def result(self, info: strawberry.Info) -> JSON:
        workspace = workspace_of(info)
        found = await info.context["analytics"].tile(
            workspace, self.kind, json.dumps(self.query), info.context["marks"]
        )
        return camel_keys(found)


@strawberry.type
class Dashboard:
    id: strawberry.ID
    name: str
    tiles: list[DashboardTile]
    created_at: dt.datetime
    updated_at: dt.datetime


@strawberry.type(description="A model and its query, saved on its own; dashboards may show it as a tile.")
class SavedInsight:
    id: strawberry.ID
    name: str
    description: str
    kind: str
    query: JSON
    created_at: dt.datetime
    updated_at: dt.datetime

    @strawberry.field(description="The insight computed now (cached until the workspace's data changes).")
    async def result(self, info: strawberry.Info) -> JSON:
        workspace = workspace_of(info)
        found = await info.context["analytics"].tile(
            workspace, self.kind, json.dumps(self.query), info.context["marks"]
        )
        return camel_keys(found)


def _insight(doc: dict) -> SavedInsight:
    return SavedInsight(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        description=doc.get("description", ""),
        kind=doc["kind"],
        query=json.loads(doc["query"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _dashboard(doc: dict) -> Dashboard:
    tiles = [
        DashboardTile(
            title=t["title"],
            kind=t["kind"],
            query=json.loads(t["query"]),
            insight_id=strawberry.ID(t["insight_id"]) if t.get("insight_id") else None,
        )
        for t in doc["tiles"]
    ]
    return Dashboard(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        tiles=tiles,
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _trends(doc: dict) -> TrendsResult:
    return TrendsResult(buckets=doc["buckets"], series=[TrendsLine(**s) for s in doc["series"]])


def _funnel(doc: dict) -> list[FunnelResult]:
    return [
        FunnelResult(
            **{
                **r,
                "steps": [FunnelStepResult(**s) for s in r["steps"]],
                "by_day": [FunnelDay(**d) for d in r["by_day"]],
            }
        )
        for r in doc["results"]
    ]


def _retention(doc: dict) -> RetentionMatrix:
    return RetentionMatrix(
        period=doc["period"], brackets=doc["brackets"], rows=[AnalyticsRetentionRow(**r) for r in doc["rows"]]
    )


def _paths(doc: dict) -> PathsResult:
    groups = doc.get("breakdowns")
    return PathsResult(
        **{
            **doc,
            "paths": [AnalyticsPath(**p) for p in doc["paths"]],
            "breakdowns": None
            if groups is None
            else [PathsGroup(**{**g, "paths": [AnalyticsPath(**p) for p in g["paths"]]}) for g in groups],
        }
    )


def _buckets(items: list[dict]) -> list[DistributionBucket]:
    return [DistributionBucket(**b) for b in items]


def _distribution(doc: dict) -> Distribution:
    by = doc.get("breakdowns")
    return Distribution(
        persons=doc["persons"],
        buckets=_buckets(doc["buckets"]),
        breakdowns=None
        if by is None
        else [DistributionBreakdown(**{**b, "buckets": _buckets(b["buckets"])}) for b in by],
    )


def _event_interval(doc: dict) -> Interval:
    by = doc.get("breakdowns")
    figures = {k: v for k, v in doc.items() if k != "breakdowns"}
    return Interval(**figures, breakdowns=None if by is None else [IntervalBreakdown(**b) for b in by])


@strawberry.type
class Query:
    @strawberry.field(description="Events, unique persons, or the sum/avg of a property per hour/day/week/month.")
    async def trends(self, info: strawberry.Info, input: TrendsInput) -> TrendsResult:
        workspace = workspace_of(info)
        return _trends(await info.context["analytics"].trends(workspace, plain(input)))

    @strawberry.field(description="A funnel: one result per breakdown value (one without a breakdown).")
    async def funnel(self, info: strawberry.Info, input: FunnelInput) -> list[FunnelResult]:
        workspace = workspace_of(info)
        return _funnel(await info.context["analytics"].funnel(workspace, plain(input)))

    @strawberry.field(description="Retention by cohort period (first-time or recurring).")
    async def retention_matrix(self, info: strawberry.Info, input: RetentionInput) -> RetentionMatrix:
        workspace = workspace_of(info)
        return _retention(await info.context["analytics"].retention(workspace, plain(input)))

    @strawberry.field(description="Paths after a start and/or before an end event, repeats collapsed.")
    async def paths(self, info: strawberry.Info, input: PathsInput) -> PathsResult:
        workspace = workspace_of(info)
        return _paths(await info.context["analytics"].paths(workspace, plain(input)))

    @strawberry.field(description="New, returning, resurrecting and dormant persons of one event per period.")
    async def lifecycle(self, info: strawberry.Info, input: LifecycleInput) -> Lifecycle:
        workspace = workspace_of(info)
        found = await info.context["analytics"].lifecycle(workspace, plain(input))
        groups = found.pop("breakdowns", None)
        return Lifecycle(**found, breakdowns=None if groups is None else [LifecycleGroup(**g) for g in groups])

    @strawberry.field(description="How many persons did one event in 1, 2, ... distinct periods of the range.")
    async def stickiness(self, info: strawberry.Info, input: LifecycleInput) -> Stickiness:
        workspace = workspace_of(info)
        found = await info.context["analytics"].stickiness(workspace, plain(input))
        groups = found.pop("breakdowns", None)
        return Stickiness(**found, breakdowns=None if groups is None else [StickinessGroup(**g) for g in groups])

    @strawberry.field(description="How many times each person did an event in the range.")
    async def distribution(self, info: strawberry.Info, input: DistributionInput) -> Distribution:
        workspace = workspace_of(info)
        return _distribution(await info.context["analytics"].distribution(workspace, plain(input)))

    @strawberry.field(description="Time from a person's first fromEvent in the range to their next toEvent.")
    async def event_interval(self, info: strawberry.Info, input: IntervalInput) -> Interval:
        workspace = workspace_of(info)
        return _event_interval(await info.context["analytics"].interval(workspace, plain(input)))

    @strawberry.field(description="A campaign's response funnel: sent, delivered, opened, clicked, converted.")
    async def campaign_funnel(self, info: strawberry.Info, input: CampaignFunnelInput) -> CampaignFunnel:
        workspace = workspace_of(info)
        found = await info.context["analytics"].campaign_funnel(workspace, plain(input))
        return CampaignFunnel(
            **{
                **found,
                "statuses": [StatusCount(**s) for s in found["statuses"]],
                "messages": [ChannelCost(**m) for m in found["messages"]],
            }
        )

    @strawberry.field(
        description="A journey's runs per version, step and variant, its response funnel, experiment and ROI."
    )
    async def journey_evaluation(self, info: strawberry.Info, input: JourneyEvaluationInput) -> JourneyEvaluation:
        workspace = workspace_of(info)
        return _journey_evaluation(await info.context["analytics"].journey_evaluation(workspace, plain(input)))

    @strawberry.field(description="What a message costs per channel (set by an admin; journey ROI reads it).")
    async def message_costs(self, info: strawberry.Info) -> list[MessageCost]:
        workspace = workspace_of(info)
        return [MessageCost(**c) for c in await info.context["costs"].get(workspace)]

    @strawberry.field(description="Messages per status (sent, delivered, opened, ...) per campaign.")
    async def campaign_statuses(self, info: strawberry.Info, campaign_id: str | None = None) -> list[CampaignStats]:
        workspace = workspace_of(info)
        rows = await info.context["analytics"].campaign_stats(workspace, campaign_id or "")
        return [
            CampaignStats(campaign_id=r["campaign_id"], statuses=[StatusCount(**s) for s in r["statuses"]])
            for r in rows
        ]

    @strawberry.field(description="The workspace's saved dashboards.")
    async def dashboards(self, info: strawberry.Info) -> list[Dashboard]:
        workspace = workspace_of(info)
        return [_dashboard(d) for d in await info.context["dashboards"].list(workspace)]

    @strawberry.field
    async def dashboard(self, info: strawberry.Info, id: strawberry.ID) -> Dashboard:
        workspace = workspace_of(info)
        return _dashboard(await info.context["dashboards"].get(workspace, str(id)))

    @strawberry.field(description="The workspace's saved insights.")
    async def saved_insights(self, info: strawberry.Info) -> list[SavedInsight]:
        workspace = workspace_of(info)
        return [_insight(d) for d in await info.context["dashboards"].insights.list(workspace)]

    @strawberry.field
    async def saved_insight(self, info: strawberry.Info, id: strawberry.ID) -> SavedInsight:
        workspace = workspace_of(info)
        return _insight(await info.context["dashboards"].insights.get(workspace, str(id)))

    @strawberry.field(description="Acquisition, activation, retention, revenue and referral, beside the period before.")
    async def aarrr(self, info: strawberry.Info, input: AarrrInput) -> Aarrr:
        workspace = workspace_of(info)
        doc = await info.context["analytics"].aarrr(workspace, plain(input))
        return Aarrr(current=AarrrPeriod(**doc["current"]), previous=AarrrPeriod(**doc["previous"]))

    @strawberry.field(
        description="The persons acquired in a date range by channel, and their value 7, 30 and 90 days after "
        "their first event, net of refunds (profile's ltvByChannel: lifetime to date over everyone)."
    )
    async def acquisition_ltv(self, info: strawberry.Info, input: LtvInput) -> list[LtvChannel]:
        workspace = workspace_of(info)
        rows = await info.context["analytics"].ltv(workspace, plain(input))
        return [
            LtvChannel(
                channel=r["channel"], persons=r["persons"], **{h: LtvHorizon(**r[h]) for h in ("d7", "d30", "d90")}
            )  # fmt: skip
            for r in rows
        ]

    @strawberry.field(description="The referrals a campaign spread (levels, K-factor) and its returning buyers.")
    async def campaign_spread(self, info: strawberry.Info, input: CampaignSpreadInput) -> CampaignSpread:
        workspace = workspace_of(info)
        doc = await info.context["analytics"].campaign_spread(workspace, plain(input))
        ref = doc["referral"]
        return CampaignSpread(
            campaign_id=doc["campaign_id"],
            referral=ReferralSpread(**{**ref, "levels": [SpreadLevel(**lv) for lv in ref["levels"]]}),
            returning=ReturningBuyers(**doc["returning"]),
        )

    @strawberry.field(
        description="A read-only SELECT over the workspace's virtual tables events, person_traits and "
        "message_statuses (at most 10,000 rows and 30 s; no other tables, table functions or SETTINGS)."
    )
    async def sql_query(self, info: strawberry.Info, sql: str) -> SqlResult:
        workspace = workspace_of(info)
        doc = await info.context["analytics"].sql_query(workspace, sql)
        return SqlResult(columns=[SqlColumn(**c) for c in doc["columns"]], rows=doc["rows"], truncated=doc["truncated"])


@strawberry.type
class SqlColumn:
    name: str
    type: str


@strawberry.type
class SqlResult:
    columns: list[SqlColumn]
    rows: JSON = strawberry.field(description="One array of values per row, in the order of columns.")
    truncated: bool = strawberry.field(description="More rows matched than were returned.")


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Save a dashboard: tiles of models with their queries (checked when saved).")
    async def create_dashboard(self, info: strawberry.Info, name: str, tiles: list[DashboardTileInput]) -> Dashboard:
        workspace = workspace_of(info)
        doc = await info.context["dashboards"].create(
            workspace, name, [plain(t) for t in tiles], info.context["clock"].now()
        )
        return _dashboard(doc)

    @strawberry.mutation(description="Rename a dashboard and/or replace its tiles.")
    async def update_dashboard(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        name: str | None = None,
        tiles: list[DashboardTileInput] | None = None,
    ) -> Dashboard:
        workspace = workspace_of(info)
        doc = await info.context["dashboards"].update(
            workspace, str(id), name, None if tiles is None else [plain(t) for t in tiles], info.context["clock"].now()
        )
        return _dashboard(doc)

    @strawberry.mutation
    async def delete_dashboard(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        workspace = workspace_of(info)
        return await info.context["dashboards"].delete(workspace, str(id))

    @strawberry.mutation(description="Save a model and its query as an insight (the query is checked when saved).")
    async def save_insight(
        self, info: strawberry.Info, name: str, kind: str, query: JSON, description: str | None = None
    ) -> SavedInsight:
        workspace = workspace_of(info)
        doc = await info.context["dashboards"].insights.create(
            workspace, name, kind, query, description, info.context["clock"].now()
        )
        return _insight(doc)

    @strawberry.mutation(description="Rename, describe or change the query of a saved insight (its kind stays).")
    async def update_insight(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        name: str | None = None,
        description: str | None = None,
        query: JSON | None = None,
    ) -> SavedInsight:
        workspace = workspace_of(info)
        doc = await info.context["dashboards"].insights.update(
            workspace, str(id), name, description, query, info.context["clock"].now()
        )
        return _insight(doc)

    @strawberry.mutation(description="Delete a saved insight; the dashboards that showed it leave its tile out.")
    async def delete_insight(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        workspace = workspace_of(info)
        return await info.context["dashboards"].insights.delete(workspace, str(id))

    @strawberry.mutation(description="Set what a message costs per channel (replaces the list; admin).")
    async def set_message_costs(self, info: strawberry.Info, costs: list[MessageCostInput]) -> list[MessageCost]:
        async with audited(info, "analytics.message_costs", "message_costs") as entry:
            saved = await info.context["costs"].set(entry.workspace, plain(costs), info.context["clock"].now())
            entry.detail["channels"] = len(saved)
        return [MessageCost(**c) for c in saved]

    @strawberry.mutation(description="Save who reached the step before `step` (0-based) but not `step` as a segment.")
    async def save_funnel_drop_offs(
        self, info: strawberry.Info, funnel: FunnelInput, step: int, name: str
    ) -> SavedSegment:
        workspace = workspace_of(info)
        saved = await info.context["analytics"].save_funnel_drop_offs(workspace, plain(funnel), step, name)
        return SavedSegment(**saved)

    @strawberry.mutation(description="Save a retention cell's persons (period -1: the whole cohort) as a segment.")
    async def save_retention_cell(
        self, info: strawberry.Info, retention: RetentionInput, cohort: dt.date, period: int, name: str
    ) -> SavedSegment:
        workspace = workspace_of(info)
        saved = await info.context["analytics"].save_retention_cell(
            workspace, plain(retention), cohort.isoformat(), period, name
        )
        return SavedSegment(**saved)


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(analytics: Analytics, dashboards: DashboardStore, clock: Clock, costs: CostStore, audit):
    async def make(request) -> dict:
        # marks: the data mark of each workspace, read once for all the tiles of this request.
        return {
            "analytics": analytics, "dashboards": dashboards, "clock": clock, "costs": costs, "audit": audit,
            "marks": {},
        }  # fmt: skip

    return make
