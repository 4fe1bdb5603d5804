"""Journey entry: event matching and keys, policies, segment debounce, schedules and date traits across DST."""

from __future__ import annotations

import datetime as dt

import pytest

from services.journey import definition as d
from services.journey import entry
from services.journey.model import RunState

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NY = "America/New_York"


def entry_of(raw: dict) -> d.Entry:
    return d.parse({"entry": raw, "start": "e", "nodes": {"e": {"type": "exit"}}}).entry


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- matching events ----------------------------------------------------------------------------


def test_an_event_enters_by_name_and_filter():
    e = entry_of({"event": {"name": "Order Completed", "where": {"revenue": {">=": 100}}}})
    assert entry.on_event(e, "Order Completed", {"revenue": 120}) == ("", {"revenue": 120})
    assert entry.on_event(e, "Order Completed", {"revenue": 20}) is None
    assert entry.on_event(e, "Checkout Started", {"revenue": 120}) is None
    assert "filter" in entry.match_event(e, "Order Completed", {}).reason
    assert entry.on_event(entry_of({"segment": "s"}), "Order Completed", {}) is None


def test_a_keyed_entry_takes_its_key_from_the_event_or_does_not_enter():
    e = entry_of(
        {"event": {"name": "Checkout Started"}, "policy": {"mode": "keyed", "key": "order_id", "max_active": 3}}
    )
    assert entry.on_event(e, "Checkout Started", {"order_id": "A-1"}) == ("A-1", {"order_id": "A-1"})
    assert entry.on_event(e, "Checkout Started", {"order_id": 1001})[0] == "1001"
    for bad in ({}, {"order_id": ""}, {"order_id": None}, {"order_id": {"x": 1}}, {"order_id": True}):
        m = entry.match_event(e, "Checkout Started", bad)
        assert not m.matched and m.reason == "the event has no order_id to key the run by"


# -- policies -------------------------------------------------------------------------------------


def policy(**raw) -> d.Policy:
    return entry_of({"event": {"name": "X"}, "policy": raw}).policy


def test_once():
    p = policy(mode="once")
    assert entry.admit(p, None, "", T0).admitted
    refused = entry.admit(p, {"runs": 1, "active": {}}, "", T0)
    assert not refused.admitted and "once" in refused.reason


def test_again_after_exit():
    p = policy(mode="again_after_exit")
    assert not entry.admit(p, {"runs": 1, "active": {"_": "run-1"}}, "", T0).admitted
    assert entry.admit(p, {"runs": 1, "active": {}, "last_exit_at": T0}, "", T0).admitted


def test_cooldown_counts_from_the_last_entry():
    p = policy(mode="cooldown", cooldown="7d")
    doc = {"runs": 1, "active": {}, "last_entered_at": T0.replace(tzinfo=None)}  # MongoDB gives naive UTC back
    refused = entry.admit(p, doc, "", T0 + dt.timedelta(days=6))
    assert not refused.admitted and refused.reason == "cooling down until 2026-03-09T09:00:00+00:00"
    assert entry.admit(p, doc, "", T0 + dt.timedelta(days=7)).admitted
    assert not entry.admit(p, {**doc, "active": {"_": "r"}}, "", T0 + dt.timedelta(days=30)).admitted


def test_keyed_one_run_per_key_and_at_most_max_active():
    p = policy(mode="keyed", key="order_id", max_active=2)
    assert entry.admit(p, {}, "A", T0).admitted
    one = {"runs": 1, "active": {entry.key_field("A"): "r1"}}
    assert not entry.admit(p, one, "A", T0).admitted  # the same order is in already
    assert entry.admit(p, one, "B", T0).admitted
    two = {"runs": 2, "active": {entry.key_field("A"): "r1", entry.key_field("B"): "r2"}}
    full = entry.admit(p, two, "C", T0)
    assert not full.admitted and full.reason == "already 2 active runs (max_active 2)"
    assert entry.admit(p, {"runs": 5, "active": {entry.key_field("B"): "r2"}}, "A", T0).admitted  # A ended: again
    assert not entry.admit(p, {}, "", T0).admitted


def test_key_fields_are_never_operators_or_paths():
    assert entry.key_field("$gt.x") == "\uff04gt\uff0ex" and entry.key_field("") == "_"


def test_history_from_runs_feeds_the_same_decision():
    def state(key: str, status: str, entered: dt.datetime, ended: dt.datetime | None = None) -> RunState:
        return RunState("r-" + key, "ws", "j", 1, "p", key, 1, status, "n", entered, ended_at=ended)  # type: ignore[arg-type]

    runs = [state("A", "done", T0, T0 + dt.timedelta(hours=1)), state("B", "waiting", T0 + dt.timedelta(hours=2))]
    doc = entry.history(runs)
    assert doc == {"runs": 2, "active": {"B": "r-B"}, "last_entered_at": T0 + dt.timedelta(hours=2),
                   "last_exit_at": T0 + dt.timedelta(hours=1)}  # fmt: skip
    keyed = policy(mode="keyed", key="order_id", max_active=2)
    assert entry.admit(keyed, doc, "A", T0).admitted and not entry.admit(keyed, doc, "B", T0).admitted


# -- segment debounce -----------------------------------------------------------------------------


def test_a_flapping_segment_enters_nobody_until_it_settles():
    e = entry_of({"segment": "seg_1", "on": "enter", "debounce_seconds": 300})
    assert e.debounce == dt.timedelta(seconds=300)
    assert entry.debounced(e, None, T0)
    assert not entry.debounced(e, T0, T0 + dt.timedelta(seconds=299))
    assert entry.debounced(e, T0, T0 + dt.timedelta(seconds=300))
    assert not entry.debounced(e, T0, T0 - dt.timedelta(seconds=1))  # out of order
    assert entry_of({"segment": "s"}).debounce == dt.timedelta(seconds=300)  # the default
    assert entry.debounced(entry_of({"segment": "s", "debounce_seconds": 0}), T0, T0)


# -- schedules ------------------------------------------------------------------------------------


def schedule(at: str, every: str | None = None, tz: str = "workspace") -> d.ScheduleEntry:
    return entry_of({"schedule": {"at": at, "every": every, "timezone": tz}, "segment": "seg_vip"})


def test_a_one_shot_schedule_fires_once():
    e = schedule("2026-06-18T10:00:00+08:00")
    fire = utc("2026-06-18T02:00:00+00:00")
    assert entry.next_fire(e, None, fire - dt.timedelta(days=1)) == fire  # not yet: when
    assert entry.next_fire(e, None, fire + dt.timedelta(minutes=1)) == fire  # due: launch it
    assert entry.next_fire(e, fire, fire + dt.timedelta(days=1)) is None  # launched: never again
    # A naive time is local to the zone given (the workspace's).
    assert entry.next_fire(schedule("2026-06-18T10:00:00"), None, T0, "Asia/Shanghai") == fire


def test_a_weekly_schedule_keeps_its_local_time_across_dst():
    e = schedule("2026-03-02T10:00:00", "7d")
    times = entry.fire_times(e, NY, None, 3)
    assert times == [
        utc("2026-03-02T15:00:00+00:00"),
        utc("2026-03-09T14:00:00+00:00"),
        utc("2026-03-16T14:00:00+00:00"),
    ]
    assert entry.next_fire(e, times[0], times[0] + dt.timedelta(hours=1), NY) == times[1]
    assert entry.next_fire(e, times[1], times[1], NY) == times[2]


def test_missed_recurring_fires_launch_only_the_latest():
    e = schedule("2026-03-02T10:00:00", "1d")
    first = entry.next_fire(e, None, T0, "UTC")
    assert first == utc("2026-03-02T10:00:00+00:00")
    # Down for three days after the first launch: the next launch is today's, not three in a row.
    now = utc("2026-03-05T11:00:00+00:00")
    assert entry.next_fire(e, first, now, "UTC") == utc("2026-03-05T10:00:00+00:00")


def test_an_hourly_schedule_is_absolute_across_the_jump():
    e = schedule("2026-03-08T00:30:00", "1h")
    times = entry.fire_times(e, NY, None, 4)
    assert [t - times[0] for t in times] == [dt.timedelta(hours=h) for h in range(4)]


def test_a_schedule_in_each_persons_time():
    e = schedule("2026-06-18T10:00:00", None, "person")
    shanghai = entry.next_fire(e, None, T0, "Asia/Shanghai")
    new_york = entry.next_fire(e, None, T0, NY)
    earliest = entry.next_fire(e, None, T0, entry.EARLIEST_ZONE)
    assert shanghai == utc("2026-06-18T02:00:00+00:00") and new_york == utc("2026-06-18T14:00:00+00:00")
    assert earliest < shanghai < new_york


def test_a_daily_schedule_at_a_time_that_does_not_exist_that_day():
    e = schedule("2026-03-07T02:30:00", "1d")
    times = entry.fire_times(e, NY, None, 3)
    assert times == [
        utc("2026-03-07T07:30:00+00:00"),
        utc("2026-03-08T07:00:00+00:00"),
        utc("2026-03-09T06:30:00+00:00"),
    ]


# -- date traits ----------------------------------------------------------------------------------


def test_three_days_before_the_trait_at_ten_local():
    e = entry_of({"date_trait": "computed.first_order_at", "offset": "-3d", "at": "10:00"})
    # 2026-06-20 23:00 in Shanghai; three days before is the 17th; at 10:00 there.
    value = "2026-06-20T15:00:00Z"
    fire = utc("2026-06-17T02:00:00+00:00")
    assert entry.date_trait_fire(e, value, "Asia/Shanghai") == fire
    assert entry.date_trait_fire(e, utc("2026-06-20T15:00:00+00:00"), "Asia/Shanghai") == fire
    assert entry.date_trait_fire(e, utc("2026-06-20T15:00:00+00:00").timestamp(), "Asia/Shanghai") == fire
    assert entry.date_trait_fire(e, utc("2026-06-20T15:00:00+00:00").timestamp() * 1000, "Asia/Shanghai") == fire
    assert entry.date_trait_fire(e, "2026-06-20", "Asia/Shanghai") == fire  # a local date
    assert entry.date_trait_fire(e, "soon", "Asia/Shanghai") is None
    assert entry.date_trait_fire(e, None, "Asia/Shanghai") is None
    assert entry.date_trait_fire(e, value, "Asia/Shanghai", now=fire + dt.timedelta(seconds=1)) is None


def test_a_date_trait_without_a_time_of_day_is_the_exact_offset():
    e = entry_of({"date_trait": "traits.renewal_at", "offset": "-36h"})
    assert entry.date_trait_fire(e, "2026-06-20T12:00:00Z", NY) == utc("2026-06-19T00:00:00+00:00")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-11T12:00:00Z", "2026-03-08T07:00:00+00:00"),  # 02:30 on the spring-forward day: 03:00 EDT
        ("2026-11-04T12:00:00Z", "2026-11-01T05:30:00+00:00"),  # 01:30 on the fall-back day: the first one
    ],
)
def test_date_trait_fire_times_across_dst(value, expected):
    e = entry_of({"date_trait": "traits.due_at", "offset": "-3d", "at": "02:30" if "03-11" in value else "01:30"})
    assert entry.date_trait_fire(e, value, NY) == utc(expected)
