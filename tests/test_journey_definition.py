"""Journey definitions: every node type parses, the stored form round-trips, and every error names its JSON path."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from services.journey import definition as d
from services.kit import rules
from services.kit.errors import InvalidInput


def full() -> dict:
    """One definition using every node type and every entry option of an event entry."""
    return {
        "entry": {
            "event": {"name": "Checkout Started", "where": {"revenue": {">=": 100}, "channel": ["app", "web"]}},
            "policy": {"mode": "keyed", "key": "order_id", "max_active": 3},
        },
        "exit": [{"event": "Order Completed", "match": ["order_id"]}, {"segment_exit": "seg_vip"}],
        "goal": {"event": "Order Completed", "within": "7d"},
        "holdout_pct": 10,
        "start": "wait_order",
        "nodes": {
            "wait_order": {
                "type": "wait_event",
                "event": "Order Completed",
                "match": ["order_id"],
                "timeout": "1h",
                "on_event": "done",
                "on_timeout": "vip",
            },  # fmt: skip
            "vip": {
                "type": "branch",
                "rule": 'traits.vip = true AND IN SEGMENT "seg_b" OR DID "App Opened" IN LAST 7 DAYS',
                "yes": "ab",
                "no": "remind",
            },  # fmt: skip
            "ab": {
                "type": "experiment",
                "variants": [
                    {"name": "方案 A", "weight": 45, "next": "remind"},
                    {"name": "B", "weight": 45, "next": "coin"},
                ],
                "control": {"weight": 10, "next": "done"},
            },  # fmt: skip
            "coin": {"type": "split", "paths": [{"weight": 1, "next": "remind"}, {"weight": 3, "next": "morning"}]},
            "remind": {
                "type": "send",
                "template": "tpl_1",
                "channel": "best",
                "channels": ["push", "sms", "email"],
                "templates": {"sms": "tpl_sms"},
                "next": "tag",
            },  # fmt: skip
            "tag": {
                "type": "update_profile",
                "traits": {"reminded": True},
                "tags": [{"name": "cart", "value": 1}],
                "next": "day",
            },  # fmt: skip
            "day": {"type": "wait", "duration": "1d", "next": "done"},
            "morning": {"type": "wait", "until": {"time": "10:00", "weekdays": [1, 2, 3, 4, 5]}, "next": "hook"},
            "hook": {
                "type": "webhook",
                "channel": "crm",
                "body": {"kind": "cart", "nested": {"a": [1, 2]}},
                "next": "done",
            },
            "done": {"type": "exit", "label": "Finished"},
        },
    }


def test_every_node_type_parses_into_its_frozen_dataclass():
    defn = d.parse(full())
    types = {nid: type(n).__name__ for nid, n in defn.nodes.items()}
    assert types == {
        "wait_order": "WaitEventNode", "vip": "BranchNode", "ab": "ExperimentNode", "coin": "SplitNode",
        "remind": "SendNode", "tag": "UpdateProfileNode", "day": "WaitNode", "morning": "WaitNode",
        "hook": "WebhookNode", "done": "ExitNode",
    }  # fmt: skip
    assert defn.node("day").duration == dt.timedelta(days=1)
    assert defn.node("morning").until == d.TimeOfDay(dt.time(10, 0), (1, 2, 3, 4, 5))
    assert defn.node("remind").channels == ("push", "sms", "email")
    assert defn.node("tag").tags == (("cart", "1"),)
    assert defn.node("ab").control == d.Arm("control", 10.0, "done")
    assert defn.entry.policy == d.Policy("keyed", key="order_id", max_active=3)
    assert defn.holdout_pct == 10.0 and defn.marketing and defn.entry_kind == "event"
    with pytest.raises(AttributeError):
        defn.start = "x"  # type: ignore[misc]


def test_helpers_the_infrastructure_reads():
    defn = d.parse(full())
    assert defn.event_names() == {"Checkout Started", "Order Completed"}
    assert defn.segments() == {"seg_vip", "seg_b"}
    assert defn.needs() == d.Needs(profile=True, segments=("seg_b",), behaviour=True, channel_history=True)
    assert defn.has_branches_needing_profile
    assert defn.experiments() == {"ab": {"方案 A": 45.0, "B": 45.0, "control": 10.0}}
    assert defn.experiment_keys("jny_1") == ["jny_1:ab"]
    assert defn.wait_nodes() == ["wait_order", "day", "morning"]


def test_a_plain_campaign_needs_nothing_of_the_person():
    campaign = {
        "entry": {
            "schedule": {"at": "2026-06-18T10:00:00+08:00", "every": None, "timezone": "workspace"},
            "segment": "seg_vip",
        },  # fmt: skip
        "start": "send",
        "nodes": {"send": {"type": "send", "channel": "push", "template": "t", "next": "end"}, "end": {"type": "exit"}},
    }
    defn = d.parse(campaign)
    assert not defn.needs().anything
    assert defn.entry.policy.mode == "again_after_exit"  # the default of non-event entries
    assert defn.segments() == {"seg_vip"} and defn.event_names() == frozenset()


def test_canonical_form_round_trips_and_hashes_by_meaning():
    defn = d.parse(full())
    stored = d.canonical(defn)
    assert d.parse(stored) == defn
    assert d.parse(json.loads(json.dumps(stored))) == defn  # survives JSON (and BSON) storage
    assert stored["nodes"]["vip"]["rule"] == rules.to_text(defn.node("vip").rule)
    assert stored["entry"]["event"]["where"] == {"revenue": {">=": 100}, "channel": {"in": ["app", "web"]}}
    # The same meaning written differently (key order, "24h" vs "1d", defaults given) hashes the same.
    other = full()
    other["nodes"]["day"]["duration"] = "24h"
    other["nodes"] = dict(reversed(list(other["nodes"].items())))
    other["category"] = "marketing"
    assert d.digest(d.parse(other)) == d.digest(defn)
    other["nodes"]["day"]["duration"] = "25h"
    assert d.digest(d.parse(other)) != d.digest(defn)
    assert d.parse(json.dumps(full())) == defn  # JSON text is accepted too


def test_branch_rules_resolve_segment_names_through_the_schema():
    raw = full()
    raw["nodes"]["vip"]["rule"] = 'IN SEGMENT "VIP women"'
    schema = rules.Schema(segment=lambda ref: ("seg_42", "rule") if ref in ("VIP women", "seg_42") else None)
    defn = d.parse(raw, schema)
    assert defn.node("vip").rule == rules.InSegment("seg_42")
    assert d.parse(d.canonical(defn), schema) == defn


def test_property_filters_match_event_properties():
    f = d.parse(full()).entry.where
    assert f.matches({"revenue": 120, "channel": "app"})
    assert f.matches({"revenue": 100.0, "channel": "web"})
    assert not f.matches({"revenue": 99, "channel": "app"})
    assert not f.matches({"revenue": 120, "channel": "store"})
    assert not f.matches({"channel": "app"})  # missing property fails a comparison
    g = d._filter({"coupon": {"exists": False}, "tags": "gift", "region": {"not_in": ["x"]}, "vip": True}, "w")
    assert g.matches({"tags": ["gift", "red"], "vip": True})  # "=" on a list: holds the value
    assert not g.matches({"tags": ["red"], "vip": True})
    assert not g.matches({"tags": "gift", "vip": 1})  # true is not 1
    assert not g.matches({"tags": "gift", "vip": True, "coupon": "C1"})
    assert not g.matches({"tags": "gift", "vip": True, "region": "x"})


def test_a_cycle_through_a_wait_is_a_loop_not_a_spin():
    raw = {
        "entry": {"segment": "seg_1"},
        "start": "nudge",
        "nodes": {
            "nudge": {"type": "send", "channel": "push", "template": "t", "next": "week"},
            "week": {"type": "wait", "duration": "7d", "next": "still"},
            "still": {"type": "branch", "rule": "computed.order_count = 0", "yes": "nudge", "no": "end"},
            "end": {"type": "exit"},
        },
    }
    assert d.parse(raw).start == "nudge"


def test_optional_next_means_the_run_is_done_there():
    raw = {
        "entry": {"event": {"name": "X"}},
        "start": "s",
        "nodes": {"s": {"type": "send", "channel": "sms", "template": "t"}},
    }
    assert d.parse(raw).node("s").next is None


def _set(path: str, value):
    """A mutation of full(): set the value at a dotted path (list indexes as [i]); DELETE removes it."""

    def apply(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        parts = path.replace("[", ".[").split(".")
        target = doc
        for part in parts[:-1]:
            target = target[int(part[1:-1])] if part.startswith("[") else target[part]
        last = parts[-1]
        key = int(last[1:-1]) if last.startswith("[") else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
        return doc

    return apply


DELETE = object()


def _replace_nodes(**nodes):
    def apply(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        doc["nodes"].update(nodes)
        return doc

    return apply


def _many_nodes(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for i in range(200):
        doc["nodes"][f"extra{i}"] = {"type": "exit"}
    return doc


def _entry(entry: dict):
    return _set("entry", entry)


ERRORS = [
    # nodes
    (_set("nodes.day.duration", "24 hours"), "nodes.day.duration", 'expected a duration such as "24h"'),
    (_set("nodes.day.duration", "400d"), "nodes.day.duration", "between 1s and 365d"),
    (_set("nodes.day.duration", "0s"), "nodes.day.duration", "between"),
    (_set("nodes.day.until", {"time": "10:00"}), "nodes.day", "either duration or until"),
    (_set("nodes.morning.until.time", "25:00"), "nodes.morning.until.time", "time of day"),
    (_set("nodes.morning.until.weekdays", [0, 1]), "nodes.morning.until.weekdays[0]", "from 1 to 7"),
    (_set("nodes.day.next", "nowhere"), "nodes.day.next", "no node 'nowhere'"),
    (_set("nodes.vip.yes", "nowhere"), "nodes.vip.yes", "no node"),
    (_set("nodes.wait_order.on_timeout", "nowhere"), "nodes.wait_order.on_timeout", "no node"),
    (_set("nodes.wait_order.on_timeout", DELETE), "nodes.wait_order.on_timeout", "is required"),
    (_set("nodes.wait_order.timeout", "1 hour"), "nodes.wait_order.timeout", "duration"),
    (_set("nodes.wait_order.match", ["order.id"]), "nodes.wait_order.match[0]", "not a property name"),
    (_set("nodes.coin.paths[0].weight", 0), "nodes.coin.paths[0].weight", "positive number"),
    (_set("nodes.coin.paths[1].next", "nowhere"), "nodes.coin.paths[1].next", "no node"),
    (_set("nodes.coin.paths", []), "nodes.coin.paths", "1 to 20 paths"),
    (_set("nodes.ab.variants[1].weight", -5), "nodes.ab.variants[1].weight", "positive number"),
    (_set("nodes.ab.variants[1].name", "方案 A"), "nodes.ab.variants[1].name", "named twice"),
    (_set("nodes.ab.variants[0].name", "control"), "nodes.ab.variants[0].name", "reserved"),
    (_set("nodes.ab.control.next", "nowhere"), "nodes.ab.control.next", "no node"),
    (_set("nodes.ab.key", "bad key!"), "nodes.ab.key", "letters"),
    (_set("nodes.ab.variants[0].name", "a.b"), "nodes.ab.variants[0].name", "no '.'"),
    (_set("nodes.vip.rule", "traits.age >>= 3"), "nodes.vip.rule", "column"),
    (_set("nodes.vip.rule", "computed.no_such_trait > 1"), "nodes.vip.rule", "unknown computed trait"),
    (_set("nodes.remind.channels", DELETE), "nodes.remind.channels", '"best" chooses among'),
    (_set("nodes.remind.channels", ["push", "push"]), "nodes.remind.channels", "distinct"),
    (_set("nodes.remind.templates", {"fax": "tpl_fax"}), "nodes.remind.templates.fax", "not one of this send's"),
    (_set("nodes.remind.templates", []), "nodes.remind.templates", "channel name -> template id"),
    (_set("nodes.remind.templates", {"sms": ""}), "nodes.remind.templates.sms", "non-empty string"),
    (_set("nodes.remind.template", ""), "nodes.remind.template", "non-empty string"),
    (_set("nodes.remind.colour", "red"), "nodes.remind.colour", "unknown field"),
    (_set("nodes.remind.type", "teleport"), "nodes.remind.type", "expected one of send"),
    (_set("nodes.tag.traits", {"$set": 1}), "nodes.tag.traits.$set", "may not start with '$'"),
    (_set("nodes.tag.traits", {"a": {"b.c": 1}}), "nodes.tag.traits.a.b.c", "contain '.'"),
    (_set("nodes.tag.tags", [{"name": "$x"}]), "nodes.tag.tags[0].name", "not a property name"),
    (_set("nodes.hook.body", {"$where": "1"}), "nodes.hook.body.$where", "may not start with '$'"),
    (_set("nodes.hook.body", "text"), "nodes.hook.body", "expected an object"),
    (_set("nodes.hook.body", {"n": [1, 10**30]}), "nodes.hook.body.n[1]", "too large"),
    (_set("nodes.tag.traits", {"score": float("nan")}), "nodes.tag.traits", "not JSON"),
    (_set("nodes.remind.type", ["send"]), "nodes.remind.type", "expected one of send"),
    (_set("entry.event.where", {"revenue": {">": float("inf")}}), "entry.event.where.revenue.>", "number or an ISO"),
    (_replace_nodes(**{"a.b": {"type": "exit"}}), "nodes.a.b", "not a node id"),
    (_replace_nodes(**{"$x": {"type": "exit"}}), "nodes.$x", "not a node id"),
    (_replace_nodes(stay={"type": "exit"}), "nodes.stay", "reserved"),
    (_replace_nodes(orphan={"type": "exit"}), "nodes.orphan", "not reachable from start"),
    (
        _replace_nodes(tag={"type": "branch", "rule": "traits.x = 1", "yes": "remind", "no": "day"}),
        "nodes.remind",
        "the cycle remind -> tag -> remind has no wait",
    ),
    (
        _replace_nodes(
            coin={"type": "split", "paths": [{"weight": 1, "next": "coin"}, {"weight": 1, "next": "morning"}]}
        ),
        "nodes.coin",
        "cycle coin -> coin",
    ),
    (
        _replace_nodes(
            coin={
                "type": "experiment",
                "key": "k",
                "variants": [{"name": "a", "next": "remind"}, {"name": "b", "next": "morning"}],
            },
            ab={
                "type": "experiment",
                "key": "k",
                "variants": [{"name": "a", "next": "remind"}, {"name": "b", "next": "coin"}],
            },
        ),
        "nodes.coin.key",
        "also used by 'ab'",
    ),
    (
        _replace_nodes(ab={"type": "experiment", "variants": [{"name": "a", "next": "done"}]}),
        "nodes.ab.variants",
        "two arms",
    ),
    (_many_nodes, "nodes", "at most 200 nodes"),
    (_set("start", "nowhere"), "start", "no node 'nowhere'"),
    (_set("nodes", {}), "nodes", "expected an object of nodes"),
    # top level
    (_set("holdout_pct", 60), "holdout_pct", "from 0 to 50"),
    (_set("category", "spam"), "category", "marketing or transactional"),
    (_set("colour", "red"), "colour", "unknown field"),
    (_set("entry", DELETE), "entry", "is required"),
    (_set("exit[1]", {"event": "X", "segment_exit": "s"}), "exit[1]", "either event or segment_exit"),
    (_set("exit[0].match", "order_id"), "exit[0].match", "list of up to 10 property names"),
    (_set("goal.within", "forever"), "goal.within", "duration"),
    (_set("goal.within", "400d"), "goal.within", "365d"),
    # entry
    (_set("entry.event.name", ""), "entry.event.name", "non-empty string"),
    (_set("entry.event.where", {"$gt": 1}), "entry.event.where", "not a property name"),
    (_set("entry.event.where", {"revenue": {"~": 1}}), "entry.event.where.revenue.~", "unknown operator"),
    (_set("entry.event.where", {"revenue": {"in": []}}), "entry.event.where.revenue.in", "list of 1 to 100"),
    (_set("entry.event.where", {"revenue": {"<": [1]}}), "entry.event.where.revenue.<", "number or an ISO time"),
    (_set("entry.segment", "seg"), "entry.segment", "does not apply to this entry (event)"),
    (_set("entry.schedule", {"at": "2026-06-18T10:00:00"}), "entry", "exactly one of"),
    (_set("entry.policy.mode", "twice"), "entry.policy.mode", "expected one of once"),
    (_set("entry.policy.key", DELETE), "entry.policy.key", "not a property name"),
    (_set("entry.policy.max_active", 0), "entry.policy.max_active", "from 1 to 100"),
    (_set("entry.policy", {"mode": "cooldown"}), "entry.policy.cooldown", "duration"),
    (_set("entry.policy", {"mode": "once", "cooldown": "7d"}), "entry.policy.cooldown", "does not apply"),
    (_entry({"segment": "s", "policy": {"mode": "keyed", "key": "k"}}), "entry.policy.mode", "need an event entry"),
    (_entry({"segment": "s", "on": "wobble"}), "entry.on", "enter or exit"),
    (_entry({"segment": "s", "debounce_seconds": -1}), "entry.debounce_seconds", "whole number"),
    (_entry({"segment": "s", "offset": "1d"}), "entry.offset", "does not apply to this entry (segment)"),
    (_entry({"date_trait": "computed.nope_at"}), "entry.date_trait", "unknown computed trait 'nope_at'"),
    (_entry({"date_trait": "computed.revenue"}), "entry.date_trait", "is not a time"),
    (_entry({"date_trait": "profile.birthday"}), "entry.date_trait", "computed.<time trait> or traits.<name>"),
    (_entry({"date_trait": "traits.birthday", "offset": "soon"}), "entry.offset", '"-3d"'),
    (_entry({"date_trait": "traits.birthday", "at": "7pm"}), "entry.at", "time of day"),
    (_entry({"schedule": {"at": "tomorrow"}}), "entry.schedule.at", "ISO time"),
    (
        _entry({"schedule": {"at": "2026-06-18T10:00:00", "every": "30m"}}),
        "entry.schedule.every",
        "between 1h and 365d",
    ),
    (
        _entry({"schedule": {"at": "2026-06-18T10:00:00", "timezone": "mars"}}),
        "entry.schedule.timezone",
        "workspace or person",
    ),
    (
        _entry({"schedule": {"at": "2026-06-18T10:00:00+08:00", "timezone": "person"}}),
        "entry.schedule.at",
        "without an offset",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), ERRORS, ids=[e[1] + ":" + e[2][:24] for e in ERRORS])
def test_each_error_names_its_json_path(mutate, path, fragment):
    with pytest.raises(InvalidInput) as caught:
        d.parse(mutate(full()))
    assert caught.value.field == path
    assert caught.value.message.startswith(f"{path}: "), caught.value.message
    assert fragment in caught.value.message, caught.value.message


def test_not_an_object_at_all():
    for raw in (None, [], "[1]", "{not json"):
        with pytest.raises(InvalidInput) as caught:
            d.parse(raw)
        assert caught.value.field == "definition"


def test_durations_and_their_canonical_text():
    from services.journey.localtime import format_duration, parse_duration

    assert parse_duration("1d12h") == dt.timedelta(hours=36)
    assert parse_duration("-3d", signed=True) == dt.timedelta(days=-3)
    assert parse_duration("-3d") is None and parse_duration("3 d") is None and parse_duration("") is None
    assert [format_duration(parse_duration(t)) for t in ("24h", "90m", "3600s", "2w", "61s")] == [
        "1d",
        "90m",
        "1h",
        "14d",
        "61s",
    ]


def test_junk_anywhere_is_refused_with_a_path_or_round_trips():
    """Random damage to a valid definition: either an InvalidInput naming a path, or a definition that stores."""
    import random

    junk = [None, 0, -1, 1.5, float("nan"), True, "", "x", "24h", [], [1], {}, {"a": 1}, "$x", "a.b", 10**30, ["push"]]

    def paths(o, pre=()):
        if pre:
            yield pre
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, v in items:
            yield from paths(v, (*pre, k))

    rng = random.Random(7)
    base = full()
    every = list(paths(base))
    refused = 0
    for _ in range(1500):
        doc = copy.deepcopy(base)
        where = rng.choice(every)
        target = doc
        for k in where[:-1]:
            target = target[k]
        target[where[-1]] = rng.choice(junk)
        try:
            defn = d.parse(doc)
        except InvalidInput as exc:
            refused += 1
            assert exc.field and exc.message.startswith(f"{exc.field}: ")
            continue
        stored = d.canonical(defn)
        json.dumps(stored, allow_nan=False)
        assert d.parse(stored) == defn
    assert 0 < refused < 1500
