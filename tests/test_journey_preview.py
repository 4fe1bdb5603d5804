"""Preview (one person's path on a simulated clock, through the engine) and version migration (plan, dry run, move)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.journey import definition as d
from services.journey import engine, migration
from services.journey.model import Entered, EventArrived, Facts, RunState, Wait
from services.journey.preview import preview
from services.kit.errors import InvalidInput

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def abandoned_checkout(**top) -> d.Definition:
    return d.parse(
        {
            "entry": {"event": {"name": "Checkout Started"}, "policy": {"mode": "keyed", "key": "order_id"}},
            "exit": [{"event": "Account Deleted"}],
            "goal": {"event": "Order Completed", "within": "7d"},
            "start": "wait_order",
            "nodes": {
                "wait_order": {
                    "type": "wait_event",
                    "event": "Order Completed",
                    "match": ["order_id"],
                    "timeout": "1h",
                    "on_event": "bought",
                    "on_timeout": "vip",
                },  # fmt: skip
                "vip": {"type": "branch", "rule": "traits.vip = true", "yes": "remind", "no": "morning"},
                "morning": {"type": "wait", "until": {"time": "10:00"}, "next": "remind"},
                "remind": {
                    "type": "send",
                    "channel": "best",
                    "channels": ["push", "sms"],
                    "template": "cart",
                    "next": "end",
                },
                "bought": {"type": "exit"},
                "end": {"type": "exit"},
            },
            **top,
        }
    )


def kinds(steps) -> list[tuple[str, str]]:
    return [(s.node, s.kind) for s in steps]


def test_no_order_within_the_hour_reminds_on_the_best_channel_then_converts():
    events = [
        (T0, "Checkout Started", {"order_id": "A-1"}),
        (T0 + 5 * H, "Order Completed", {"order_id": "A-1", "revenue": 99}),
    ]
    facts = Facts(profile={"traits": {"vip": True}}, channel_scores={"sms": 1.0})
    steps = preview(abandoned_checkout(), facts, events, T0, dt.timedelta(days=3))
    assert kinds(steps) == [
        ("wait_order", "entered"), ("wait_order", "wait_event"), ("wait_order", "timeout"),
        ("vip", "branch"), ("remind", "send"), ("end", "exit"), ("end", "converted"),
    ]  # fmt: skip
    assert steps[0].detail["key"] == "A-1"
    assert steps[1].detail == {"event": "Order Completed", "match": {"order_id": "A-1"}, "until": (T0 + H).isoformat()}
    assert steps[2].at == T0 + H
    assert steps[3].detail == {"took": "yes", "next": "remind"}
    assert steps[4].detail == {"template": "cart", "channel": "sms", "fallback": ["push"]}
    assert steps[6].at == T0 + 5 * H


def test_an_order_in_time_takes_the_event_branch_and_nothing_is_sent():
    events = [
        (T0, "Checkout Started", {"order_id": "A-1"}),
        (T0 + 10 * dt.timedelta(minutes=1), "Order Completed", {"order_id": "B-9"}),  # another order: ignored
        (T0 + 20 * dt.timedelta(minutes=1), "Order Completed", {"order_id": "A-1"}),
    ]
    steps = preview(abandoned_checkout(), Facts(profile={}), events, T0, dt.timedelta(days=1))
    assert ("bought", "exit") in kinds(steps) and not any(s.kind == "send" for s in steps)
    event = next(s for s in steps if s.kind == "event")
    assert event.at == T0 + 20 * dt.timedelta(minutes=1) and event.detail == {
        "event": "Order Completed",
        "next": "bought",
    }


def test_a_wait_until_ten_in_the_persons_zone_and_an_exit_criterion():
    events = [(T0, "Checkout Started", {"order_id": "A-1"}), (T0 + 3 * H, "Account Deleted", {})]
    steps = preview(abandoned_checkout(), Facts(profile={}, timezone="Asia/Shanghai"), events, T0, dt.timedelta(days=2))
    # 10:00 in Shanghai is 02:00 UTC: the next one after 10:00 UTC (the timeout) is tomorrow's.
    wait = next(s for s in steps if s.kind == "wait")
    assert wait.node == "morning" and wait.detail == {"until": "2026-03-03T02:00:00+00:00"}
    assert steps[-1].kind == "exited" and steps[-1].detail == {"reason": "exit event Account Deleted"}
    assert steps[-1].at == T0 + 3 * H and not any(s.kind == "send" for s in steps)


def test_the_horizon_ends_a_preview_that_is_still_waiting():
    events = [(T0, "Checkout Started", {"order_id": "A-1"})]
    steps = preview(abandoned_checkout(), Facts(profile={}), events, T0, dt.timedelta(minutes=30))
    assert kinds(steps)[-1] == ("wait_order", "waiting") and steps[-1].at == T0 + dt.timedelta(minutes=30)


def test_without_an_entry_event_the_person_enters_at_the_start_and_holdouts_are_shown():
    steps = preview(
        abandoned_checkout(), Facts(profile={"traits": {"vip": True}}), [], T0, dt.timedelta(days=1), holdout=True
    )
    assert "entered at the start" in steps[0].detail["note"]
    assert ("remind", "send_skipped") in kinds(steps)


def test_preview_takes_the_production_path():
    """The same engine: the steps it shows are the visits and effects engine.advance gives a real run."""
    defn = d.parse(
        {
            "entry": {"segment": "seg_1"},
            "start": "x",
            "nodes": {
                "x": {"type": "experiment", "variants": [{"name": "A", "next": "a"}, {"name": "B", "next": "b"}]},
                "a": {"type": "send", "channel": "push", "template": "ta", "next": "u"},
                "b": {"type": "send", "channel": "push", "template": "tb", "next": "u"},
                "u": {"type": "update_profile", "tags": [{"name": "tried", "value": "yes"}], "next": "h"},
                "h": {"type": "webhook", "channel": "crm", "body": {"a": 1}},
            },
        }
    )
    steps = preview(defn, Facts(profile={}), [], T0, dt.timedelta(days=1), person_id="p-9", journey_id="jny")
    state = RunState("preview:p-9", "preview", "jny", 0, "p-9", "", 0, "active", "x", T0)
    real = engine.advance(defn, state, Entered(), Facts(profile={}), T0)
    assert [s.node for s in steps[1:-1]] == real.visited[:-1] + ["h"]
    assert steps[1].detail["variant"] == real.state.variants["x"]
    assert kinds(steps)[-2:] == [("h", "webhook"), ("h", "done")]


# -- migration ------------------------------------------------------------------------------------


def old_version() -> d.Definition:
    return d.parse(
        {
            "entry": {"event": {"name": "Order Completed"}},
            "start": "wait_day",
            "nodes": {
                "wait_day": {"type": "wait", "duration": "24h", "next": "push"},
                "push": {"type": "send", "channel": "push", "template": "t", "next": "wait_week"},
                "wait_week": {"type": "wait", "duration": "7d", "next": "end"},
                "end": {"type": "exit"},
            },
        }
    )


def new_version() -> d.Definition:
    return d.parse(
        {
            "entry": {"event": {"name": "Order Completed"}},
            "start": "wait_hours",
            "nodes": {
                "wait_hours": {"type": "wait", "duration": "12h", "next": "push"},
                "push": {"type": "send", "channel": "push", "template": "t2", "next": "wait_order"},
                "wait_order": {
                    "type": "wait_event",
                    "event": "Order Completed",
                    "match": ["order_id"],
                    "timeout": "3d",
                    "on_event": "end",
                    "on_timeout": "morning",
                },  # fmt: skip
                "morning": {"type": "wait", "until": {"time": "10:00"}, "next": "end"},
                "end": {"type": "exit"},
            },
        }
    )


def test_dry_run_counts_where_runs_would_go():
    plan = migration.plan("move", {"wait_day": "wait_hours"}, new_version(), old_version())
    assert plan.moves_people
    assert migration.dry_run(plan, {"wait_day": 120, "wait_week": 30}) == {"wait_hours": 120, "stay": 30}
    finish = migration.plan("finish", {}, new_version())
    assert not finish.moves_people and migration.dry_run(finish, {"wait_day": 120, "wait_week": 30}) == {"stay": 150}


@pytest.mark.parametrize(
    ("mode", "node_map", "path", "fragment"),
    [
        ("teleport", {}, "mode", "finish or move"),
        ("finish", {"wait_day": "wait_hours"}, "node_map", "give no node map"),
        ("move", {}, "node_map", "needs a node map"),
        ("move", {"wait_day": "nowhere"}, "node_map.wait_day", "no node 'nowhere'"),
        ("move", {"wait_day": "push"}, "node_map.wait_day", "send step"),
        ("move", {"nowhere": "wait_hours"}, "node_map.nowhere", "old version has no node"),
        ("move", {"push": "wait_hours"}, "node_map.push", "nobody rests at"),
    ],
)
def test_migration_errors_name_the_map_entry(mode, node_map, path, fragment):
    with pytest.raises(InvalidInput) as caught:
        migration.plan(mode, node_map, new_version(), old_version())
    assert caught.value.field == path and fragment in caught.value.message


def waiting_run(node: str, due: dt.datetime, **over) -> RunState:
    state = RunState(
        "run-1", "ws", "jny", 1, "p-1", "", 4, "waiting", node, T0, entry={"order_id": "A-1"},
        wait=Wait(node=node, due_at=due), variants={"x": "A"}, holdout=True,
    )  # fmt: skip
    return dataclasses.replace(state, **over)


def test_a_moved_run_keeps_its_identity_and_gets_a_recomputed_wait():
    now = T0 + 2 * H
    plan = migration.plan("move", {"wait_day": "wait_hours", "wait_week": "wait_order"}, new_version())
    # 22 hours left on the old timer, 12 on the new wait from now: the earlier one.
    moved = migration.move(waiting_run("wait_day", T0 + 24 * H), new_version(), plan, now, version=2)
    assert (moved.run_id, moved.version, moved.seq, moved.node, moved.status) == (
        "run-1",
        2,
        5,
        "wait_hours",
        "waiting",
    )
    assert moved.wait.due_at == now + 12 * H and moved.variants == {"x": "A"} and moved.holdout
    assert moved.entry == {"order_id": "A-1"}
    # 1 hour left on the old timer: it keeps it.
    kept = migration.move(waiting_run("wait_day", now + H), new_version(), plan, now, version=2)
    assert kept.wait.due_at == now + H
    # To a wait_event: the match comes from the entry, the timeout from the new node.
    to_event = migration.move(waiting_run("wait_week", T0 + 7 * 24 * H), new_version(), plan, now, version=2)
    assert to_event.wait.event == "Order Completed" and to_event.wait.match == {"order_id": "A-1"}
    assert to_event.wait.due_at == now + 3 * 24 * H
    # What the engine does with it next is the new version's path.
    after = engine.advance(
        new_version(), to_event, EventArrived("Order Completed", {"order_id": "A-1"}, "m", now), Facts({}), now
    )
    assert after.state.node == "end" and after.state.status == "done"


def test_moves_to_a_time_of_day_or_an_exit_and_runs_that_stay():
    now = T0
    plan = migration.plan("move", {"wait_day": "morning", "wait_week": "end"}, new_version())
    morning = migration.move(
        waiting_run("wait_day", T0 + 20 * H), new_version(), plan, now, version=2, timezone="Asia/Shanghai"
    )
    assert morning.wait.due_at == dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)
    ended = migration.move(waiting_run("wait_week", T0 + 20 * H), new_version(), plan, now, version=2)
    assert (
        ended.status == "done" and ended.wait is None and ended.ended_at == now and "exit node end" in ended.end_reason
    )
    unmapped = migration.plan("move", {"wait_day": "morning"}, new_version())
    assert migration.move(waiting_run("wait_week", T0 + 20 * H), new_version(), unmapped, now, version=2) is None
    finish = migration.plan("finish", None, new_version())
    assert migration.move(waiting_run("wait_day", T0 + 20 * H), new_version(), finish, now, version=2) is None
    done = waiting_run("wait_day", T0, status="done", wait=None)
    assert migration.move(done, new_version(), plan, now, version=2) is None
    assert migration.move(waiting_run("wait_day", T0, version=2), new_version(), plan, now, version=2) is None
