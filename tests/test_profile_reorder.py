"""The reorder forecast: next_order_at, next_order_category and reorder_interval_days.

Pure logic first (the history and its forecast), then against the running
profile service: in order, out of order, replayed, with one order, merged.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.kit import rules
from services.kit.catalog import COMPUTED, TIME
from services.kit.errors import InvalidInput
from services.kit.kafka import Topics
from services.profile import reorder
from services.profile.changes import apply_event, apply_update, combine, recompute
from services.profile.tags import canonical_rule, parse_rule, rule_value
from tests.helpers import graphql, mongo_db, new_id, produce
from tests.profile_support import profile_fixture, send, stub_fixture, with_events  # noqa: F401
from tests.test_profile import resolved
from tests.test_profile_merge import merged

T0 = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def order_event(at: dt.datetime, *categories: str, top: str | None = None, n: int = 0) -> dict:
    props: dict = {"revenue": 30, "products": [{"category": c} for c in categories]}
    if top:
        props["category"] = top
    return {"type": "track", "event": "Order Completed", "timestamp": at, "properties": props, "message_id": f"m{n}"}


def incremental(events: list[dict]) -> dict:
    profile: dict = {}
    for n, event in enumerate(events, 1):
        apply_update(profile, apply_event(profile, {**event, "seq": n}))
    return profile


def forecast_of(profile: dict) -> tuple:
    c = profile.get("computed") or {}
    return c.get("next_order_category"), c.get("reorder_interval_days"), c.get("next_order_at")


# -- pure ------------------------------------------------------------------------------------
def test_three_snack_orders_ten_days_apart_forecast_day_thirty():
    profile = incremental([order_event(T0 + d * DAY, "snacks", n=d) for d in (0, 10, 20)])
    assert forecast_of(profile) == ("snacks", 10.0, T0 + 30 * DAY)
    assert profile["order_history"] == [{"category": "snacks", "at": [T0, T0 + 10 * DAY, T0 + 20 * DAY]}]


def test_any_arrival_order_and_replays_give_the_same_history_and_forecast():
    events = [order_event(T0 + d * DAY, "snacks", n=d) for d in (0, 10, 20)]
    events += [order_event(T0 + d * DAY, "drinks", top="snacks", n=100 + d) for d in (3, 33)]
    want = incremental(events)
    for seed in range(20):
        shuffled = random.Random(seed).sample(events, len(events))
        again = incremental(shuffled + shuffled[:2])  # the first two again: same instants, nothing new
        assert again["order_history"] == want["order_history"]
        assert forecast_of(again) == forecast_of(want)
    assert recompute(events)["order_history"] == want["order_history"]


def test_median_interval_resists_one_odd_gap_and_history_is_bounded():
    days = [0, 7, 14, 15, 22, 29]  # gaps 7, 7, 1, 7, 7
    profile = incremental([order_event(T0 + d * DAY, "diapers", n=d) for d in days])
    assert forecast_of(profile) == ("diapers", 7.0, T0 + 36 * DAY)
    many = incremental([order_event(T0 + d * DAY, "tea", n=d) for d in range(30)])
    assert many["order_history"][0]["at"] == [T0 + d * DAY for d in range(20, 30)]
    wide = incremental([order_event(T0 + d * DAY, f"c{d:02d}", n=d) for d in range(25)])
    assert [e["category"] for e in wide["order_history"]] == [f"c{d:02d}" for d in range(5, 25)]


def test_one_order_or_no_category_has_no_forecast():
    assert forecast_of(incremental([order_event(T0, "snacks")])) == (None, None, None)
    split_basket = [order_event(T0, "snacks", n=1), order_event(T0 + dt.timedelta(hours=2), "snacks", n=2)]
    assert forecast_of(incremental(split_basket)) == (None, None, None)
    # A split basket on day 10 is one occasion: the gaps are 10 and 10, counted from the occasion's first order.
    split_basket += [order_event(T0 + d * DAY, "snacks", n=d) for d in (10, 10.5, 20)]
    assert forecast_of(incremental(split_basket)) == ("snacks", 10.0, T0 + 30 * DAY)
    assert forecast_of(incremental([order_event(T0, n=1), order_event(T0 + DAY, n=2)])) == (None, None, None)
    assert "order_history" not in incremental([order_event(T0, n=1)])


def test_earliest_category_wins_and_a_lapsed_category_is_skipped():
    events = [order_event(T0 + d * DAY, "snacks", n=d) for d in (0, 10, 20)]
    events += [order_event(T0 + d * DAY, "drinks", n=100 + d) for d in (8, 15)]
    assert forecast_of(incremental(events)) == ("drinks", 7.0, T0 + 22 * DAY)
    # Diapers every 30 days until day 0, then only snacks for months: diapers (due day 30) has lapsed.
    lapsed = [order_event(T0 + d * DAY, "diapers", n=200 + d) for d in (-60, -30, 0)]
    lapsed += [order_event(T0 + d * DAY, "snacks", n=d) for d in (100, 110, 120)]
    assert forecast_of(incremental(lapsed)) == ("snacks", 10.0, T0 + 130 * DAY)


def test_merge_and_archives_unite_order_histories():
    a = [order_event(T0 + d * DAY, "snacks", n=d) for d in (0, 20)]
    b = [order_event(T0 + d * DAY, "snacks", n=100 + d) for d in (10, 20)]  # day 20 on both: one order time
    both = combine([recompute(a), recompute(b)])
    assert both["order_history"] == [{"category": "snacks", "at": [T0, T0 + 10 * DAY, T0 + 20 * DAY]}]
    assert forecast_of(both) == ("snacks", 10.0, T0 + 30 * DAY)
    assert forecast_of(recompute(a)) == ("snacks", 20.0, T0 + 40 * DAY)
    assert reorder.union([None, []]) == []


def test_next_order_at_is_a_time_trait_rules_compare():
    assert COMPUTED["next_order_at"].kind == TIME
    text = 'computed.next_order_at < "2026-07-01" AND computed.next_order_category = "snacks"'
    assert canonical_rule(text) == text
    terms = parse_rule(text, "flag")
    due = incremental([order_event(T0 + d * DAY, "snacks", n=d) for d in (0, 10, 20)])  # due 2026-07-01 09:00
    assert rule_value(terms, "flag", due) is None
    assert rule_value(parse_rule('computed.next_order_at < "2026-07-02"', "flag"), "flag", due) == "true"
    assert rule_value(parse_rule("computed.reorder_interval_days <= 10", "flag"), "flag", due) == "true"
    with pytest.raises(InvalidInput):
        rules.parse('computed.next_order_at < "soon"')


# -- against the running profile service -------------------------------------------------------
def snack_order(ws, person, uid, day, message_id=None):
    props = {"order_id": new_id("o"), "revenue": 25, "products": [{"category": "snacks", "name": "辣条"}]}
    return resolved(ws, person, uid, properties=props, at=T0 + day * DAY, message_id=message_id)


def at_of(ts: Timestamp) -> dt.datetime:
    return ts.ToDatetime(tzinfo=dt.UTC)


def test_service_forecasts_in_any_order_and_ignores_replays(profile, workspace_id):
    ws, ordered, shuffled, single = workspace_id, f"a_{workspace_id}", f"b_{workspace_id}", f"c_{workspace_id}"
    send(profile, [snack_order(ws, ordered, 1, d) for d in (0, 10, 20)])
    late = [snack_order(ws, shuffled, 2, d, message_id=f"{ws}-b{d}") for d in (20, 0, 10)]
    send(profile, late + [snack_order(ws, single, 3, 5)])
    a = with_events(profile, ws, ordered, 3)
    b = with_events(profile, ws, shuffled, 3)
    assert (a.computed.next_order_category, a.computed.reorder_interval_days) == ("snacks", 10.0)
    assert at_of(a.computed.next_order_at) == T0 + 30 * DAY
    assert b.computed == a.computed

    # gRPC shows an absent time as the zero Timestamp (kit.protos), GraphQL as null.
    c = with_events(profile, ws, single, 1)
    assert c.computed.next_order_at.seconds == 0 and c.computed.next_order_category == ""
    query = (
        "query($id: ID!) { profile(personId: $id) { computed { nextOrderAt nextOrderCategory reorderIntervalDays } } }"
    )
    for person, want in ((single, [None, None, None]), (ordered, ["2026-07-01T09:00:00+00:00", "snacks", 10.0])):
        answer = graphql(profile.http_url("profile") + "/graphql", ws, query, {"id": person})
        assert list(answer["data"]["profile"]["computed"].values()) == want

    # The same messageId again is skipped; a fourth order then moves the forecast (so the replay was seen first).
    send(profile, [late[0], snack_order(ws, shuffled, 2, 30)])
    again = with_events(profile, ws, shuffled, 4)
    assert at_of(again.computed.next_order_at) == T0 + 40 * DAY
    stored = mongo_db(profile)["profiles"].find_one({"_id": shuffled})["order_history"]
    assert stored == [{"category": "snacks", "at": [T0 + d * DAY for d in (0, 10, 20, 30)]}]


def test_service_merge_unites_order_histories(profile, workspace_id):
    ws, w, lo = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}"
    send(profile, [snack_order(ws, w, 1, 0), snack_order(ws, w, 1, 20), snack_order(ws, lo, 2, 10)])
    assert with_events(profile, ws, w, 2).computed.reorder_interval_days == 20.0
    assert with_events(profile, ws, lo, 1).computed.next_order_at.seconds == 0
    produce(profile, [(Topics.IDENTITY_MERGED, w, merged(ws, w, 1, lo, 2))])
    got = with_events(profile, ws, w, 3)
    assert (got.computed.next_order_category, got.computed.reorder_interval_days) == ("snacks", 10.0)
    assert at_of(got.computed.next_order_at) == T0 + 30 * DAY
    tombstone = mongo_db(profile)["profiles"].find_one({"_id": lo})
    assert "order_history" not in tombstone
