"""The pure journey engine: every node type, waits across DST, exactly one wait_event branch, replay determinism."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import pytest

from services.journey import definition as d
from services.journey import engine
from services.journey.model import (
    Assign,
    CallWebhook,
    Entered,
    EventArrived,
    Facts,
    RunState,
    Send,
    TimerDue,
    UpdateProfile,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def journey(nodes: dict, start: str, **top) -> d.Definition:
    return d.parse({"entry": {"event": {"name": "Checkout Started"}}, "start": start, "nodes": nodes, **top})


def run(defn: d.Definition, run_id: str = "run-1", person: str = "p-1", entry: dict | None = None, **over) -> RunState:
    state = RunState(
        run_id=run_id, workspace_id="ws", journey_id="jny", version=3, person_id=person, key="",
        seq=0, status="active", node=defn.start, entered_at=T0, entry=entry or {},
    )  # fmt: skip
    return dataclasses.replace(state, **over)


def enter(defn: d.Definition, state: RunState | None = None, facts: Facts | None = None, now: dt.datetime = T0):
    return engine.advance(defn, state or run(defn), Entered(), facts or Facts(profile={}), now)


def arrived(name: str, **props) -> EventArrived:
    return EventArrived(name=name, properties=props, message_id="m-1", at=T0)


# -- instant steps -------------------------------------------------------------------------------


def test_send_then_exit_in_one_advance_with_a_deterministic_idempotency_key():
    defn = journey(
        {"push": {"type": "send", "channel": "push", "template": "tpl", "next": "end"}, "end": {"type": "exit"}}, "push"
    )
    step = enter(defn)
    assert step.changed and step.visited == ["push", "end"]
    assert step.effects == [Send("push", "push", "tpl", "j:jny:3:run-1:push:1", (), "marketing")]
    assert step.state.seq == 1 and step.state.status == "done" and step.state.node == "end"
    assert step.state.ended_at == T0 and step.state.end_reason == "exit node end"
    assert enter(defn).effects == step.effects  # a replay produces the same key


def test_a_path_without_next_is_done_where_it_stops_and_categories_follow_the_journey():
    defn = journey({"s": {"type": "send", "channel": "sms", "template": "t"}}, "s", category="transactional")
    step = enter(defn)
    assert step.state.status == "done" and step.state.node == "s" and step.state.end_reason == "end of path at s"
    assert step.effects[0].category == "transactional"


@pytest.mark.parametrize(
    ("scores", "channel", "fallback"),
    [
        ({}, "push", ("sms", "email")),  # no history: the listed order
        ({"sms": 1.0, "email": 3.0}, "email", ("sms", "push")),
        ({"push": -1.0, "sms": 0.5}, "sms", ("email", "push")),  # a failing channel falls behind an untried one
        ({"push": 1.0, "sms": 1.0, "email": 1.0}, "push", ("sms", "email")),  # ties: the listed order
    ],
)
def test_best_channel_by_history_with_the_rest_as_fallback(scores, channel, fallback):
    defn = journey(
        {"s": {"type": "send", "channel": "best", "channels": ["push", "sms", "email"], "template": "t"}}, "s"
    )
    send = enter(defn, facts=Facts(profile={}, channel_scores=scores)).effects[0]
    assert (send.channel, send.fallback) == (channel, fallback)


def test_holdout_runs_take_the_path_but_reach_nobody():
    nodes = {
        "s": {"type": "send", "channel": "push", "template": "t", "next": "u"},
        "u": {"type": "update_profile", "traits": {"seen": True}, "tags": [{"name": "cart"}], "next": "h"},
        "h": {"type": "webhook", "channel": "crm", "body": {"k": 1}, "next": "x"},
        "x": {"type": "experiment", "variants": [{"name": "A", "next": "end"}, {"name": "B", "next": "end"}]},
        "end": {"type": "exit"},
    }
    defn = journey(nodes, "s")
    treated = enter(defn)
    held = enter(defn, run(defn, holdout=True))
    assert held.visited == treated.visited == ["s", "u", "h", "x", "end"]
    assert [type(e) for e in treated.effects] == [Send, UpdateProfile, CallWebhook, Assign]
    assert [type(e) for e in held.effects] == [UpdateProfile]
    assert held.effects[0] == UpdateProfile("u", {"seen": True}, (("cart", "true"),), "j:jny:3:run-1:u:1")
    assert held.state.variants == treated.state.variants  # same path, not recorded as an exposure
    assert treated.effects[2] == CallWebhook("h", "crm", {"k": 1}, "j:jny:3:run-1:h:1")


def test_branch_reads_traits_tags_segments_and_recent_events():
    defn = journey(
        {
            "b": {
                "type": "branch",
                "rule": 'traits.vip = true AND tags.fitness AND IN SEGMENT "seg_1" AND DID "App Opened" IN LAST 7 DAYS',
                "yes": "y",
                "no": "n",
            },
            "y": {"type": "exit"},
            "n": {"type": "exit"},
        },
        "b",
    )
    profile = {"traits": {"vip": True}, "tags": {"fitness": {"value": "true", "confidence": 1.0}}}

    def facts(member: bool, did: bool, vip: bool = True) -> Facts:
        p = {**profile, "traits": {"vip": vip}}
        return Facts(profile=p, in_segment=lambda s: member and s == "seg_1", did=lambda leaf: did)

    assert enter(defn, facts=facts(True, True)).state.node == "y"
    assert enter(defn, facts=facts(False, True)).state.node == "n"
    assert enter(defn, facts=facts(True, False)).state.node == "n"
    assert enter(defn, facts=facts(True, True, vip=False)).state.node == "n"
    assert enter(defn, facts=facts(True, True)).visited == ["b", "y"]


def test_random_split_is_deterministic_per_run_and_follows_the_weights():
    defn = journey(
        {
            "sp": {"type": "split", "paths": [{"weight": 1, "next": "a"}, {"weight": 3, "next": "b"}]},
            "a": {"type": "exit"},
            "b": {"type": "exit"},
        },
        "sp",
    )
    ends = [enter(defn, run(defn, run_id=f"r{i}")).state.node for i in range(2000)]
    again = [enter(defn, run(defn, run_id=f"r{i}")).state.node for i in range(2000)]
    assert ends == again  # a replay takes the same path
    share = Counter(ends)["a"] / len(ends)
    assert 0.21 < share < 0.29


def experiment_journey(**node) -> d.Definition:
    spec = {
        "type": "experiment",
        "variants": [{"name": "A", "weight": 45, "next": "sa"}, {"name": "B", "weight": 45, "next": "sb"}],
        "control": {"weight": 10, "next": "end"},
        **node,
    }
    nodes = {
        "x": spec,
        "sa": {"type": "send", "channel": "push", "template": "creative-a", "next": "end"},
        "sb": {"type": "send", "channel": "push", "template": "creative-b", "next": "end"},
        "end": {"type": "exit"},
    }
    return journey(nodes, "x")


def test_experiment_assigns_by_a_salted_hash_records_it_and_replays_the_same():
    defn = experiment_journey()
    arms = Counter()
    for i in range(3000):
        state = run(defn, run_id=f"r{i}", person=f"person-{i}")
        step = enter(defn, state)
        variant = step.state.variants["x"]
        assert step.effects[0] == Assign("jny:x", variant)
        assert enter(defn, dataclasses.replace(state, run_id="another-run")).state.variants == {"x": variant}
        arms[variant] += 1
    assert 0.42 < arms["A"] / 3000 < 0.48 and 0.42 < arms["B"] / 3000 < 0.48 and 0.07 < arms["control"] / 3000 < 0.13
    assert (
        engine.assign("jny:x", "person-7", [("A", 45), ("B", 45), ("control", 10)])
        == enter(defn, run(defn, person="person-7")).state.variants["x"]
    )


def test_a_recorded_assignment_wins_and_is_not_recorded_again():
    defn = experiment_journey(key="spring-creatives")
    for variant, node in (("A", "sa"), ("B", "sb"), ("control", "end")):
        step = enter(defn, facts=Facts(profile={}, assignments={"spring-creatives": variant}))
        assert step.state.variants == {"x": variant} and step.visited[1] == node
        assert not any(isinstance(e, Assign) for e in step.effects)
    # A variant the version no longer has: assigned afresh.
    step = enter(defn, facts=Facts(profile={}, assignments={"spring-creatives": "Z"}))
    assert step.state.variants["x"] in ("A", "B", "control")
    assert Assign("spring-creatives", step.state.variants["x"]) in step.effects


def test_assignment_is_the_shared_sha256_bucket_arithmetic():
    """SHA-256 of "salt:unit", 15 hex digits mod 10,000, contiguous ranges by weight (services.kit.experiment_stats)."""
    import hashlib

    for i in range(300):
        b = int(hashlib.sha256(f"k:u{i}".encode()).hexdigest()[:15], 16) % 10_000
        expected = "A" if b < 4500 else "B" if b < 9000 else "control"
        assert engine.assign("k", f"u{i}", [("A", 45), ("B", 45), ("control", 10)]) == expected
    assert {engine.assign("s", f"u{i}", [("only", 1.0)]) for i in range(50)} == {"only"}


# -- waits ----------------------------------------------------------------------------------------


def test_duration_wait_then_the_timer_moves_on():
    defn = journey(
        {
            "w": {"type": "wait", "duration": "24h", "next": "s"},
            "s": {"type": "send", "channel": "push", "template": "t"},
        },
        "w",
    )
    first = enter(defn)
    assert first.state.status == "waiting" and first.state.seq == 1 and first.effects == []
    assert first.state.wait.due_at == T0 + dt.timedelta(hours=24) and first.state.wait.event is None
    due = engine.advance(defn, first.state, TimerDue(), Facts(profile={}), T0 + dt.timedelta(hours=24))
    assert due.visited == ["s"] and due.state.seq == 2 and due.state.status == "done"
    assert due.effects[0].idempotency_key == "j:jny:3:run-1:s:2"
    # An event does not move a plain wait; a timer of an ended run does nothing.
    assert not engine.advance(defn, first.state, arrived("Checkout Started"), Facts(profile={}), T0).changed
    late = engine.advance(defn, due.state, TimerDue(), Facts(profile={}), T0 + dt.timedelta(days=2))
    assert not late.changed and late.state is due.state and late.effects == []
    assert not engine.advance(defn, first.state, Entered(), Facts(profile={}), T0).changed


def until(time: str, weekdays=None) -> d.Definition:
    spec = {"time": time, **({"weekdays": weekdays} if weekdays else {})}
    return journey({"w": {"type": "wait", "until": spec, "next": "end"}, "end": {"type": "exit"}}, "w")


def due_at(defn: d.Definition, now: dt.datetime, tz: str) -> dt.datetime:
    return enter(defn, facts=Facts(profile={}, timezone=tz), now=now).state.wait.due_at


NY = "America/New_York"


@pytest.mark.parametrize(
    ("time", "now", "tz", "expected"),
    [
        # Later today / tomorrow in the person's zone (Shanghai, UTC+8, no DST).
        ("10:00", "2026-03-02T01:00:00+00:00", "Asia/Shanghai", "2026-03-02T02:00:00+00:00"),
        ("10:00", "2026-03-02T03:00:00+00:00", "Asia/Shanghai", "2026-03-03T02:00:00+00:00"),
        # Spring forward in New York (2026-03-08, 02:00 -> 03:00): 02:30 does not exist, so 03:00 EDT.
        ("02:30", "2026-03-08T05:00:00+00:00", NY, "2026-03-08T07:00:00+00:00"),
        # ... and the day after it is 02:30 EDT again.
        ("02:30", "2026-03-08T08:00:00+00:00", NY, "2026-03-09T06:30:00+00:00"),
        # Across the jump, 10:00 stays 10:00 local: EST before, EDT after.
        ("10:00", "2026-03-07T16:00:00+00:00", NY, "2026-03-08T14:00:00+00:00"),
        # Fall back (2026-11-01, 02:00 -> 01:00): 01:30 happens twice; the first one (EDT) counts.
        ("01:30", "2026-11-01T04:00:00+00:00", NY, "2026-11-01T05:30:00+00:00"),
        # After the first 01:30 has passed, the second one does not fire again: the next day's.
        ("01:30", "2026-11-01T05:45:00+00:00", NY, "2026-11-02T06:30:00+00:00"),
        # An unknown zone is UTC, not an error that stops the run.
        ("10:00", "2026-03-02T09:00:00+00:00", "Mars/Olympus", "2026-03-02T10:00:00+00:00"),
    ],
)
def test_wait_until_a_local_time_is_dst_safe(time, now, tz, expected):
    assert due_at(until(time), dt.datetime.fromisoformat(now), tz) == dt.datetime.fromisoformat(expected)


def test_wait_until_a_weekday():
    friday_evening = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)  # 20:00 in Shanghai
    monday_ten = dt.datetime(2026, 3, 9, 2, 0, tzinfo=dt.UTC)
    assert due_at(until("10:00", [1, 2, 3, 4, 5]), friday_evening, "Asia/Shanghai") == monday_ten
    assert due_at(until("21:00", [5]), friday_evening, "Asia/Shanghai") == friday_evening + dt.timedelta(hours=1)


def abandoned_checkout() -> d.Definition:
    return journey(
        {
            "wait_order": {
                "type": "wait_event",
                "event": "Order Completed",
                "match": ["order_id"],
                "timeout": "1h",
                "on_event": "bought",
                "on_timeout": "remind",
            },  # fmt: skip
            "remind": {"type": "send", "channel": "push", "template": "t", "next": "end"},
            "bought": {"type": "exit"},
            "end": {"type": "exit"},
        },
        "wait_order",
    )


def test_wait_event_records_the_entry_values_to_match_and_its_timeout():
    defn = abandoned_checkout()
    step = enter(defn, run(defn, entry={"order_id": "A-1", "revenue": 99}))
    wait = step.state.wait
    assert (wait.node, wait.event, wait.match, wait.due_at) == (
        "wait_order",
        "Order Completed",
        {"order_id": "A-1"},
        T0 + dt.timedelta(hours=1),
    )


@pytest.mark.parametrize(
    ("event", "moves"),
    [
        (arrived("Order Completed", order_id="A-1"), True),
        (arrived("Order Completed", order_id="A-2"), False),  # another order
        (arrived("Order Completed"), False),  # no order id
        (arrived("Checkout Started", order_id="A-1"), False),  # another event
    ],
)
def test_only_the_matching_event_takes_on_event(event, moves):
    defn = abandoned_checkout()
    waiting = enter(defn, run(defn, entry={"order_id": "A-1"})).state
    step = engine.advance(defn, waiting, event, Facts(profile={}), T0 + dt.timedelta(minutes=5))
    assert step.changed is moves
    if moves:
        assert step.visited == ["bought"] and step.state.seq == waiting.seq + 1 and step.effects == []
    else:
        assert step.state is waiting and step.state.seq == waiting.seq and step.visited == [] and step.effects == []


def test_numeric_and_text_keys_match_each_other():
    defn = abandoned_checkout()
    waiting = enter(defn, run(defn, entry={"order_id": 1001})).state
    assert engine.advance(defn, waiting, arrived("Order Completed", order_id="1001"), Facts(profile={}), T0).changed
    missing = enter(defn, run(defn, entry={})).state  # the entry had no order id: nothing can match
    assert not engine.advance(defn, missing, arrived("Order Completed", order_id=None), Facts(profile={}), T0).changed


def test_event_and_timeout_from_the_same_state_each_decide_one_branch_at_the_same_seq():
    """Both read seq n and write n + 1, so the caller's compare-and-set lets exactly one of them commit."""
    defn = abandoned_checkout()
    waiting = enter(defn, run(defn, entry={"order_id": "A-1"})).state
    on_event = engine.advance(defn, waiting, arrived("Order Completed", order_id="A-1"), Facts(profile={}), T0)
    on_timeout = engine.advance(defn, waiting, TimerDue(), Facts(profile={}), T0 + dt.timedelta(hours=1))
    assert on_event.visited == ["bought"] and on_event.effects == []
    assert on_timeout.visited == ["remind", "end"] and isinstance(on_timeout.effects[0], Send)
    assert on_event.state.seq == on_timeout.state.seq == waiting.seq + 1
    # Whichever committed, the other trigger then finds an ended run and does nothing.
    assert not engine.advance(defn, on_event.state, TimerDue(), Facts(profile={}), T0).changed
    assert not engine.advance(
        defn, on_timeout.state, arrived("Order Completed", order_id="A-1"), Facts(profile={}), T0
    ).changed


def test_a_wait_event_filter_narrows_the_awaited_event():
    defn = journey(
        {
            "w": {
                "type": "wait_event",
                "event": "Order Completed",
                "where": {"revenue": {">=": 100}},
                "timeout": "1d",
                "on_event": "a",
                "on_timeout": "b",
            },  # fmt: skip
            "a": {"type": "exit"},
            "b": {"type": "exit"},
        },
        "w",
    )
    waiting = enter(defn).state
    assert not engine.advance(defn, waiting, arrived("Order Completed", revenue=50), Facts(profile={}), T0).changed
    assert (
        engine.advance(defn, waiting, arrived("Order Completed", revenue=150), Facts(profile={}), T0).state.node == "a"
    )


def test_a_loop_through_a_wait_gets_a_new_key_each_round():
    defn = journey(
        {
            "s": {"type": "send", "channel": "push", "template": "t", "next": "w"},
            "w": {"type": "wait", "duration": "7d", "next": "s"},
        },
        "s",
    )
    first = enter(defn)
    second = engine.advance(defn, first.state, TimerDue(), Facts(profile={}), T0 + dt.timedelta(days=7))
    assert first.effects[0].idempotency_key != second.effects[0].idempotency_key
    assert second.state.status == "waiting" and second.state.wait.due_at == T0 + dt.timedelta(days=14)


# -- exits and goal -------------------------------------------------------------------------------


def exits_journey() -> d.Definition:
    return journey(
        {"w": {"type": "wait", "duration": "3d", "next": "end"}, "end": {"type": "exit"}},
        "w",
        exit=[
            {"event": "Order Completed", "match": ["order_id"]},
            {"event": "Account Deleted"},
            {"segment_exit": "seg_1"},
        ],
        goal={"event": "Order Completed", "within": "7d", "where": {"revenue": {">": 0}}},
    )


def test_exit_criteria_match_the_entry_properties():
    defn = exits_journey()
    waiting = enter(defn, run(defn, entry={"order_id": "A-1"})).state
    assert engine.exits_on(defn, waiting, arrived("Order Completed", order_id="A-1"))
    assert not engine.exits_on(defn, waiting, arrived("Order Completed", order_id="B-2"))
    assert engine.exits_on(defn, waiting, arrived("Account Deleted"))
    assert not engine.exits_on(defn, waiting, arrived("Product Viewed"))
    ended = dataclasses.replace(waiting, status="exited")
    assert not engine.exits_on(defn, ended, arrived("Account Deleted"))
    assert engine.segment_exit(defn, "seg_1") and not engine.segment_exit(defn, "seg_2")


def test_the_goal_counts_within_its_window_from_entry():
    defn = exits_journey()
    state = enter(defn).state
    event = arrived("Order Completed", revenue=30)
    assert engine.converts(defn, state, event, T0 + dt.timedelta(days=6))
    assert not engine.converts(defn, state, event, T0 + dt.timedelta(days=8))
    assert not engine.converts(defn, state, event, T0 - dt.timedelta(minutes=1))
    assert not engine.converts(defn, state, arrived("Order Completed", revenue=0), T0)
    assert engine.converts(defn, dataclasses.replace(state, status="done"), event, T0)  # after the run ended, too
    assert not engine.converts(journey({"e": {"type": "exit"}}, "e"), state, event, T0)
