"""Breakdowns by a computed trait and by a tag, on a chDB engine of its own: profile.changed
announcements become person_traits rows under their path, a trend and a funnel group by each
person's latest value (top N, the rest "$other"), and a name outside the vocabulary is refused
before any SQL is sent."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2 as profile_events
from services.kit.errors import InvalidInput
from services.kit.protos import to_struct, to_timestamp, to_value
from tests.analytics_support import loaded, track

pytestmark = pytest.mark.asyncio(loop_scope="module")
UTC = dt.UTC
DAY = dt.datetime(2025, 3, 8, 10, tzinfo=UTC)
RANGE = {"date_from": "2025-03-08", "date_to": "2025-03-08"}


def changed(person: str, cause: str, minutes: int, **after) -> tuple[str, profile_events.ProfileChanged]:
    """A profile.changed record; keyword `x__y` is the path x.y (computed__order_count=2)."""
    changes = [profile_events.FieldChange(path=k.replace("__", "."), after=to_value(v)) for k, v in after.items()]
    at = to_timestamp(DAY + dt.timedelta(minutes=minutes))
    message = profile_events.ProfileChanged(
        workspace_id="w", person_id=person, uid=1, cause_message_id=cause, at=at, changes=changes
    )
    return ("", message)


def flag(value: str = "true") -> dict:
    return {"value": value, "confidence": 1.0, "source": "own", "assigned_at": DAY.isoformat(), "expires_at": None}


def identify(person: str, traits: dict):
    raw = identity_events.RawEvent(
        workspace_id="w", message_id=f"id-{person}", type="identify", user_id=person, traits=to_struct(traits),
        timestamp=to_timestamp(DAY), received_at=to_timestamp(DAY),
    )  # fmt: skip
    return ("", identity_events.ResolvedEvent(event=raw, person_id=person, uid=1))


# Views: p1 2, p2 1, p3 4, p4 1, p5 1. Views -> Orders funnel: p1, p3 and p4 order after viewing.
EVENTS = [
    *(track("w", "p1", "View", DAY + dt.timedelta(minutes=m)) for m in (1, 2)),
    track("w", "p2", "View", DAY + dt.timedelta(minutes=1)),
    *(track("w", "p3", "View", DAY + dt.timedelta(minutes=m)) for m in (1, 2, 3, 4)),
    track("w", "p4", "View", DAY + dt.timedelta(minutes=1)),
    track("w", "p5", "View", DAY + dt.timedelta(minutes=1)),
    *(track("w", p, "Order", DAY + dt.timedelta(minutes=30)) for p in ("p1", "p3", "p4")),
    # An identify trait named like profile's paths is not taken for one (p5 stays without a count).
    identify("p5", {"computed.order_count": 99, "tags.vip": "true", "tier": "gold"}),
]
# order_count: p1 1 then 2 at the same time (the latest read counts), p2 2, p3 1, p4 5, p5 never announced ('').
# Tag vip: p1 and p2 ("true"), p3 tagged then removed (''), p4 "gold" (an enumerated tag's value).
PROFILES = [
    changed("p1", "m-p1-a", 0, computed__order_count=1, tags__vip=flag()),
    # The same time, as profile gives every announcement of a batch: the one read later is the latest.
    changed("p1", "m-p1-b", 0, computed__order_count=2, traits__ignored="x"),
    changed("p2", "m-p2", 0, computed__order_count=2, tags__vip=flag()),
    changed("p3", "m-p3-a", 0, computed__order_count=1, tags__vip=flag()),
    changed("p3", "sweep:tags:p3:2025-03-08", 6, tags__vip=None),
    changed("p4", "m-p4", 0, computed__order_count=5.0, tags__vip=flag("gold")),
    changed("q1", "m-q1", 0, computed__order_count=9),  # another person, no events: in no group
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    from services.analytics.workers import Ingest

    analytics = await loaded(tmp_path_factory.mktemp("chdb-bd-profile"), EVENTS, [], DAY + dt.timedelta(days=3))
    await Ingest(analytics.store).profiles(PROFILES)
    await Ingest(analytics.store).profiles(PROFILES[:3])  # redelivered: the same rows again
    yield analytics
    analytics.engine.close()


def lines(result: dict) -> list[tuple[str, list[float]]]:
    return [(s["breakdown_value"], s["values"]) for s in result["series"]]


async def test_announcements_are_stored_once_per_cause_and_path_with_the_value_as_text(analytics):
    rows = await analytics.engine.rows(
        f"SELECT person_id, key, value FROM {analytics.db}.person_traits FINAL ORDER BY person_id, key, ts, seq"
    )
    assert [tuple(r) for r in rows] == [
        ("p1", "computed.order_count", "1"),
        ("p1", "computed.order_count", "2"),
        ("p1", "tags.vip", "true"),
        ("p2", "computed.order_count", "2"),
        ("p2", "tags.vip", "true"),
        ("p3", "computed.order_count", "1"),
        ("p3", "tags.vip", "true"),
        ("p3", "tags.vip", ""),  # removed: the latest value is empty
        ("p4", "computed.order_count", "5"),  # numbers arrive as doubles; 5, not 5.0
        ("p4", "tags.vip", "gold"),
        ("p5", "tier", "gold"),
        ("q1", "computed.order_count", "9"),
    ]  # traits.* is not taken from profile.changed (identify events carry it)


async def test_a_trend_breaks_down_by_a_computed_trait_top_n_then_other(analytics):
    doc = {"series": [{"event": "View"}], "breakdown": {"computed": "order_count", "limit": 2}, **RANGE}
    # "1": p3 4 views; "2": p1 2 + p2 1; "5" (p4) and "" (p5) fold into "$other".
    assert lines(await analytics.trends("w", doc)) == [("1", [4.0]), ("2", [3.0]), ("$other", [2.0])]
    doc["breakdown"]["limit"] = 10
    assert lines(await analytics.trends("w", doc)) == [("1", [4.0]), ("2", [3.0]), ("", [1.0]), ("5", [1.0])]
    persons = {**doc, "series": [{"event": "View", "math": "persons"}]}
    assert lines(await analytics.trends("w", persons)) == [("2", [2.0]), ("", [1.0]), ("1", [1.0]), ("5", [1.0])]


async def test_a_trend_breaks_down_by_a_tag_a_removed_tag_is_empty(analytics):
    doc = {"series": [{"event": "View"}], "breakdown": {"tag": "vip", "limit": 1}, **RANGE}
    # "" is p3 (removed, 4 views) and p5 (never tagged): 5; "true" p1 and p2: 3; "gold" p4: 1.
    assert lines(await analytics.trends("w", doc)) == [("", [5.0]), ("$other", [4.0])]
    doc["breakdown"]["limit"] = 5
    assert lines(await analytics.trends("w", doc)) == [("", [5.0]), ("true", [3.0]), ("gold", [1.0])]


async def test_a_funnel_breaks_down_by_a_computed_trait_and_by_a_tag(analytics):
    steps = [{"event": "View"}, {"event": "Order"}]

    def counts(result: dict) -> list[tuple[str, int, list[int]]]:
        return [(r["breakdown_value"], r["entered"], [s["count"] for s in r["steps"]]) for r in result["results"]]

    by_count = {"steps": steps, "breakdown": {"computed": "order_count", "limit": 1}, **RANGE}
    # "2": p1 (ordered) and p2 (did not) enter; the rest (p3 "1", p4 "5", p5 "") is "$other", all but p5 order.
    assert counts(await analytics.funnel("w", by_count)) == [("2", 2, [2, 1]), ("$other", 3, [3, 2])]
    by_tag = {"steps": steps, "breakdown": {"tag": "vip", "limit": 3}, **RANGE}
    assert counts(await analytics.funnel("w", by_tag)) == [
        ("", 2, [2, 1]),  # p3 (ordered), p5
        ("true", 2, [2, 1]),  # p1 (ordered), p2
        ("gold", 1, [1, 1]),  # p4
    ]


async def test_retention_breaks_down_by_a_tag(analytics):
    doc = {"start_event": "View", "return_event": "Order", "periods": 2, "breakdown": {"tag": "vip"}, **RANGE}
    rows = (await analytics.retention("w", doc))["rows"]
    assert [(r["breakdown_value"], r["size"], r["counts"]) for r in rows] == [
        ("", 2, [1, 0]),  # p3 (ordered), p5
        ("gold", 1, [1, 0]),  # p4
        ("true", 2, [1, 0]),  # p1 (ordered), p2
    ]


class Recording:
    """The engine's query and execute, recorded: to see that a refused query sent nothing."""

    def __init__(self, engine) -> None:
        self.engine, self.sent = engine, []

    def __enter__(self):
        self.rows, self.execute = self.engine.rows, self.engine.execute

        async def rows(text, *a, **k):
            self.sent.append(text)
            return await self.rows(text, *a, **k)

        async def execute(text, *a, **k):
            self.sent.append(text)
            return await self.execute(text, *a, **k)

        self.engine.rows, self.engine.execute = rows, execute
        return self

    def __exit__(self, *exc) -> None:
        del self.engine.rows, self.engine.execute


@pytest.mark.parametrize(
    "model, doc",
    [
        ("trends", {"series": [{"event": "View"}]}),
        ("funnel", {"steps": [{"event": "View"}, {"event": "Order"}]}),
        ("retention", {"start_event": "View", "return_event": "Order"}),
    ],
)
async def test_an_unknown_computed_trait_is_refused_naming_the_field_and_nothing_runs(analytics, model, doc):
    with Recording(analytics.engine) as recording, pytest.raises(InvalidInput) as refused:
        await getattr(analytics, model)("w", {**doc, "breakdown": {"computed": "order_cnt"}, **RANGE})
    assert refused.value.field == "breakdown.computed"
    assert "'order_cnt' is not a computed trait" in str(refused.value) and "order_count" in str(refused.value)
    assert recording.sent == []
    with pytest.raises(InvalidInput) as bad_tag:
        await getattr(analytics, model)("w", {**doc, "breakdown": {"tag": "VIP tier"}, **RANGE})
    assert bad_tag.value.field == "breakdown.tag"
