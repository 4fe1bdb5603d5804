"""Pure logic of computed traits, RFM, lifecycle, tag rules, settle and retention archives.

The central property: what the service maintains incrementally (apply each
event as it arrives, settle at `now`) equals a recompute from the stored events
settled at the same `now`, also when part of the history was pruned into an
archive by retention.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kit.errors import InvalidInput
from services.profile.changes import apply_event, apply_update, combine, recompute
from services.profile.derived import Rules, settle
from services.profile.standing import Thresholds, lifecycle_stage, next_change, rfm_group, standing
from services.profile.tags import TEMPLATES, TagDefinition, announced, assignment, parse_rule, rule_value, stronger

T0 = dt.datetime(2026, 6, 18, 10, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
RULES = Rules.of(Thresholds(), TEMPLATES)

instants = st.integers(min_value=0, max_value=400).map(lambda n: T0 + n * DAY / 2)
sources = st.sampled_from([None, "baidu", "wechat", "douyin"])
categories = st.lists(st.sampled_from(["fitness", "snacks", "mother_baby", "beauty"]), max_size=3)


@st.composite
def events(draw) -> dict:
    kind = draw(st.sampled_from(["identify", "order", "refund", "view"]))
    at = draw(instants)
    source = draw(sources)
    context = {"campaign": {"source": source}} if source else {}
    if kind == "identify":
        traits = draw(st.dictionaries(st.sampled_from(["tier", "city"]), st.sampled_from(["a", "b", 1]), min_size=1))
        return {"type": "identify", "event": "", "timestamp": at, "traits": traits, "context": context}
    if kind in ("order", "refund"):
        cents = draw(st.integers(min_value=0, max_value=300_000))
        props = {"revenue" if kind == "order" else "total": cents / 100}
        if kind == "order":
            props["products"] = [{"category": c} for c in draw(categories)]
            if draw(st.booleans()):
                props["coupon"] = "SAVE10"
        name = "Order Completed" if kind == "order" else "Order Refunded"
        return {"type": "track", "event": name, "timestamp": at, "properties": props, "context": context}
    return {"type": "track", "event": "Product Viewed", "timestamp": at, "properties": {}, "context": context}


histories = st.lists(events(), max_size=30)


def incremental(history: list[dict], now: dt.datetime) -> tuple[dict, list[dict]]:
    profile: dict = {}
    stored = []
    for n, item in enumerate(history, 1):
        event = {**item, "seq": n, "message_id": f"m{n:03d}"}
        stored.append(event)
        update = apply_event(profile, event)
        settle(apply_update(profile, update), now, RULES, update)
        apply_update(profile, update)
    return profile, stored


def settled(base: dict, now: dt.datetime) -> dict:
    profile = copy.deepcopy(base)
    apply_update(profile, settle(profile, now, RULES))
    return profile


def view(profile: dict) -> dict:
    """What the API shows; computed-tag assigned_at is when the tag started to hold, so it is left out."""
    tags = {n: {k: v for k, v in t.items() if k != "assigned_at"} for n, t in (profile.get("tags") or {}).items()}
    return {"traits": profile.get("traits") or {}, "computed": profile.get("computed") or {}, "tags": tags}


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(min_value=0, max_value=500))
def test_recompute_and_settle_equal_incremental(history, days_later):
    now = T0 + days_later * DAY
    profile, stored = incremental(history, now)
    assert view(settled(recompute(stored), now)) == view(profile)


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(min_value=0, max_value=400))
def test_retention_archive_then_recompute_equals_recompute_of_everything(history, cutoff_days):
    """Retention folds events older than the cutoff into an archive; the recompute starts from it."""
    _, stored = incremental(history, T0)
    cutoff = T0 + cutoff_days * DAY / 2
    old = [e for e in stored if e["timestamp"] < cutoff]
    new = [e for e in stored if e["timestamp"] >= cutoff]
    archive = recompute(old)
    assert recompute(new, archives=[archive]) == recompute(stored)
    # Pruning twice (two sweeps on different days) folds into the same archive.
    first = [e for e in old if e["timestamp"] < cutoff - 30 * DAY]
    second = [e for e in old if e["timestamp"] >= cutoff - 30 * DAY]
    assert recompute(second, archives=[recompute(first)]) == archive


@settings(max_examples=200, deadline=None)
@given(histories, histories)
def test_combine_is_the_merge_rules(a, b):
    _, ea = incremental(a, T0)
    _, eb = incremental(b, T0)
    for e in eb:
        e["message_id"] = "b" + e["message_id"]
    got = combine([recompute(ea), recompute(eb)]).get("computed") or {}
    want = recompute(ea + eb).get("computed") or {}
    # Counters, money, min/max and categories are exact; the channel too unless both start at the same instant.
    for key in ("event_count", "order_count", "refund_count", "revenue", "refunded_amount", "ltv", "categories"):
        assert got.get(key) == want.get(key), key
    for key in ("first_order_at", "last_order_at", "last_active_at", "first_seen_at", "average_order_value"):
        assert got.get(key) == want.get(key), key


def test_order_refund_categories_coupon_and_first_touch():
    profile: dict = {}
    history = [
        {"type": "page", "timestamp": T0, "context": {"campaign": {"source": "douyin"}}},
        {"type": "page", "timestamp": T0 - DAY, "properties": {"utm_source": "baidu"}},
        {
            "type": "track",
            "event": "Order Completed",
            "timestamp": T0 + DAY,
            "properties": {"revenue": 1200, "coupon": "X", "products": [{"category": "fitness"}, {"category": "美妆"}]},
        },
        {"type": "track", "event": "Order Refunded", "timestamp": T0 + 2 * DAY, "properties": {"total": 300}},
    ]
    for n, e in enumerate(history):
        apply_update(profile, apply_event(profile, {**e, "seq": n}))
    c = profile["computed"]
    assert c["acquisition_channel"] == "baidu" and c["first_seen_at"] == T0 - DAY
    assert c["categories"] == ["fitness", "美妆"] and c["coupon_order_count"] == 1
    assert (c["refund_count"], c["refunded_amount"], c["ltv"]) == (1, 300.0, 900.0)
    assert c["revenue"] == 1200.0 and c["order_count"] == 1
    # No utm anywhere: direct.
    fresh: dict = {}
    apply_update(fresh, apply_event(fresh, {"type": "track", "event": "x", "timestamp": T0}))
    assert fresh["computed"]["acquisition_channel"] == "direct"


def test_rfm_scores_groups_and_thresholds():
    t = Thresholds()
    computed = {"order_count": 5, "ltv": 1500.0, "last_order_at": T0, "last_active_at": T0}
    got = standing(computed, T0 + 10 * DAY, t)
    assert (got["rfm_recency"], got["rfm_frequency"], got["rfm_monetary"]) == (5, 4, 4)
    assert got["rfm_group"] == "important_value" and got["lifecycle_stage"] == "loyal"
    assert standing(computed, T0 + 100 * DAY, t)["rfm_group"] == "important_keep"
    assert standing({**computed, "order_count": 1}, T0 + 100 * DAY, t)["rfm_group"] == "important_retain"
    assert standing({**computed, "ltv": 10}, T0, t)["rfm_group"] == "general_value"
    assert {rfm_group(r, f, m, t) for r in (1, 5) for f in (1, 5) for m in (1, 5)} == {
        "important_value",
        "important_develop",
        "important_keep",
        "important_retain",
        "general_value",
        "general_develop",
        "general_keep",
        "general_retain",
    }
    # No order: no RFM at all.
    assert standing({"event_count": 3, "last_active_at": T0}, T0, t)["rfm_group"] is None
    strict = Thresholds(recency_days=[1, 2, 3, 4])
    assert standing(computed, T0 + 10 * DAY, strict)["rfm_recency"] == 1


def test_lifecycle_moves_with_time_alone_and_next_change_says_when():
    t = Thresholds()
    c = {"order_count": 2, "last_active_at": T0, "last_order_at": T0}
    assert lifecycle_stage(c, T0 + 29 * DAY, t) == "growing"
    assert lifecycle_stage(c, T0 + 30 * DAY, t) == "silent"
    assert lifecycle_stage(c, T0 + 180 * DAY, t) == "churned"
    assert lifecycle_stage({**c, "order_count": 0}, T0, t) == "new"
    assert lifecycle_stage({**c, "order_count": 7}, T0, t) == "loyal"
    assert next_change(c, T0, t) == T0 + 30 * DAY
    assert next_change(c, T0 + 30 * DAY, t) == T0 + 60 * DAY  # recency 4 -> 3
    assert next_change(c, T0 + 180 * DAY, t) is None
    with pytest.raises(InvalidInput) as err:
        Thresholds(silent_days=200).check()
    assert err.value.field == "silent_days"
    with pytest.raises(InvalidInput) as err:
        Thresholds(recency_days=[30, 20, 90, 180]).check()
    assert err.value.field == "recency_days"


def test_rules_parse_and_evaluate_without_eval():
    profile = {"computed": {"ltv": 1500.0, "categories": ["fitness"], "rfm_group": "general_keep"}, "traits": {}}
    assert rule_value(parse_rule("computed.ltv >= 1000"), "flag", profile) == "true"
    assert rule_value(parse_rule('computed.ltv < 1000 OR computed.categories contains "fitness"'), "flag", profile)
    assert rule_value(parse_rule('computed.ltv >= 1000 AND traits.gender = "female"'), "flag", profile) is None
    assert rule_value(parse_rule("computed.rfm_group", "enumerated"), "enumerated", profile) == "general_keep"
    assert rule_value(parse_rule("computed.ltv", "score"), "score", profile) == "1500"
    for bad in ("__import__('os')", "computed.ltv >=", "computed.ltv >= 1 XOR computed.x = 1", "profile.x = 1", ""):
        with pytest.raises(InvalidInput) as err:
            parse_rule(bad)
        assert err.value.field == "rule"


def test_definition_checks_name_kinds_and_rule_shape():
    TagDefinition("vip", category="value", value_kind="enumerated").check()
    for bad, field in [
        (TagDefinition("Bad Name"), "name"),
        (TagDefinition("x", category="nope"), "category"),
        (TagDefinition("x", value_kind="flag", rule="computed.rfm_group"), "rule"),
        (TagDefinition("x", value_kind="score", rule="computed.ltv > 3"), "rule"),
    ]:
        with pytest.raises(InvalidInput) as err:
            bad.check()
        assert err.value.field == field
    names = {t.name for t in TEMPLATES}
    assert {"high_spender", "domestic_brand_preference", "fitness", "new_user", "smart_shopper"} <= names
    assert {"mother_and_baby", "household_main_buyer", "coupon_sensitive", "rfm_group"} <= names
    for template in TEMPLATES:
        template.check()


def test_assignment_checks_value_confidence_source_and_expiry():
    flag = TagDefinition("smart_shopper")
    score = TagDefinition("intent", value_kind="score")
    made = assignment(flag, "", 0.7, "partner", T0, T0 + DAY, T0, "tags[0]")
    assert made == {"value": "true", "confidence": 0.7, "source": "partner", "assigned_at": T0, "expires_at": T0 + DAY}
    assert assignment(score, "87.0", None, "", T0, None, T0, "t")["value"] == "87"
    for args, field in [
        ((flag, "yes", 1.0, "own", T0, None, T0), "tags[0].value"),
        ((flag, "", 1.5, "own", T0, None, T0), "tags[0].confidence"),
        ((flag, "", 1.0, "computed", T0, None, T0), "tags[0].source"),
        ((flag, "", 1.0, "own", T0, T0 - DAY, T0), "tags[0].expires_at"),
        ((score, "high", 1.0, "own", T0, None, T0), "tags[0].value"),
        ((TEMPLATES[0], "", 1.0, "own", T0, None, T0), "tags[0].name"),
    ]:
        with pytest.raises(InvalidInput) as err:
            assignment(*args, "tags[0]")
        assert err.value.field == field


def test_settle_expires_tags_applies_rules_and_sets_the_next_sweep():
    expires = T0 + 2 * DAY
    profile = {
        "computed": {"event_count": 1, "order_count": 1, "ltv": 1200.0, "last_order_at": T0, "last_active_at": T0},
        "own_tags": {"smart_shopper": {"value": "true", "confidence": 0.6, "source": "own", "assigned_at": T0}},
        "merged_tags": {
            "smart_shopper": {"value": "true", "confidence": 0.9, "source": "partner", "assigned_at": T0},
            "vip_level": {
                "value": "gold",
                "confidence": 1.0,
                "source": "own",
                "assigned_at": T0,
                "expires_at": expires,
            },
        },
    }
    update = settle(profile, T0, RULES)
    apply_update(profile, update)
    tags = profile["tags"]
    assert tags["smart_shopper"]["confidence"] == 0.9  # the stronger of own and merged
    assert tags["high_spender"]["source"] == "computed" and tags["new_user"]["value"] == "true"
    assert tags["rfm_group"]["value"] == "important_develop"
    assert profile["next_sweep_at"] == expires
    changed = {path: after for path, _, after in update.changes}
    assert changed["tags.vip_level"]["expires_at"] == "2026-06-20T10:00:00Z"
    vip = dict(tags["vip_level"])
    later = settle(profile, expires, RULES)
    apply_update(profile, later)
    assert "vip_level" not in profile["tags"] and "vip_level" not in profile["merged_tags"]
    assert ("tags.vip_level", announced(vip), None) in later.changes
    assert profile["next_sweep_at"] == T0 + 30 * DAY
    # Nothing to do twice at the same moment.
    assert settle(profile, expires, RULES).changes == []


def test_stronger_keeps_higher_confidence_then_newer():
    a = {"confidence": 0.5, "assigned_at": T0}
    b = {"confidence": 0.8, "assigned_at": T0 - DAY}
    assert stronger(a, b) is b and stronger(b, a) is b and stronger(None, a) is a
    c = {"confidence": 0.5, "assigned_at": T0 + DAY}
    assert stronger(a, c) is c
