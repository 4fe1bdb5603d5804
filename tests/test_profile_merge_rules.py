"""Pure merge rules: a recompute over stored events equals applying them one by one.

Merge and unmerge rebuild profiles with `recompute`, so every property here is
what makes a merged or restored profile equal to the profile the same events
would have built incrementally.
"""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.changes import (
    API,
    EVENT,
    apply_api_traits,
    apply_event,
    apply_update,
    combine_api_traits,
    diff,
    recompute,
)

T0 = dt.datetime(2026, 6, 18, 10, tzinfo=dt.UTC)
SECTIONS = ("traits", "trait_stamps", "computed")

# Few distinct instants and values, so that ties and overwrites are common.
instants = st.integers(min_value=0, max_value=6).map(lambda n: T0 + dt.timedelta(minutes=n))
trait_names = st.sampled_from(["tier", "city", "gender"])
trait_values = st.one_of(st.sampled_from(["gold", "silver", "上海"]), st.integers(0, 3), st.none())


@st.composite
def events(draw) -> dict:
    kind = draw(st.sampled_from(["identify", "order", "view"]))
    at = draw(instants)
    if kind == "identify":
        traits = draw(st.dictionaries(trait_names, trait_values, min_size=1, max_size=3))
        return {"type": "identify", "event": "", "timestamp": at, "traits": traits}
    if kind == "order":
        cents = draw(st.integers(min_value=0, max_value=10_000_000))
        return {"type": "track", "event": "Order Completed", "timestamp": at, "properties": {"revenue": cents / 100}}
    return {"type": "track", "event": "Product Viewed", "timestamp": at, "properties": {}}


@st.composite
def api_writes(draw) -> dict:
    return {
        "kind": "api",
        "at": draw(instants),
        "set": draw(st.dictionaries(trait_names, trait_values, max_size=2)),
        "set_once": draw(st.dictionaries(trait_names, trait_values, max_size=1)),
        "unset": draw(st.lists(trait_names, max_size=1)),
    }


histories = st.lists(st.one_of(events(), api_writes()), max_size=25)


def incremental(history: list[dict], profile: dict | None = None, first_seq: int = 1) -> tuple[dict, list[dict]]:
    """What the service does: apply each write as it arrives, numbering events in arrival order."""
    profile = profile if profile is not None else {}
    stored: list[dict] = []
    seq = first_seq
    for n, item in enumerate(history):
        if item.get("kind") == "api":
            update = apply_api_traits(profile, item["at"], item["set"], item["set_once"], item["unset"])
        else:
            event = {**item, "seq": seq, "message_id": f"m{first_seq}-{n}"}
            seq += 1
            stored.append(event)
            update = apply_event(profile, event)
        apply_update(profile, update)
    return profile, stored


def sections(profile: dict) -> dict:
    return {k: profile[k] for k in SECTIONS if profile.get(k)}


@settings(max_examples=300, deadline=None)
@given(histories)
def test_recompute_equals_incremental(history):
    profile, stored = incremental(history)
    assert recompute(stored, profile.get("api_traits")) == sections(profile)


@settings(max_examples=200, deadline=None)
@given(histories, st.randoms(use_true_random=False))
def test_recompute_does_not_depend_on_the_order_events_are_read_in(history, rnd: random.Random):
    profile, stored = incremental(history)
    shuffled = list(stored)
    rnd.shuffle(shuffled)
    assert recompute(shuffled, profile.get("api_traits")) == recompute(stored, profile.get("api_traits"))


@settings(max_examples=200, deadline=None)
@given(histories, histories, histories)
def test_merge_then_more_events_equals_recompute_of_everything(winner, loser, later):
    """After a merge (a recompute of both), applying more events one by one stays a recompute."""
    w_profile, w_events = incremental(winner)
    l_profile, l_events = incremental(loser)
    api = combine_api_traits([w_profile.get("api_traits"), l_profile.get("api_traits")])
    merged = recompute(w_events + l_events, api)
    merged["api_traits"] = api
    seq = max([0, *(e["seq"] for e in w_events + l_events)]) + 1
    combined, l_later = incremental(later, merged, first_seq=seq)
    assert recompute(w_events + l_events + l_later, combined.get("api_traits")) == sections(combined)


@settings(max_examples=200, deadline=None)
@given(histories, histories)
def test_merge_counters_add_first_takes_min_last_takes_max(winner, loser):
    w, w_events = incremental(winner)
    lo, l_events = incremental(loser)
    merged = recompute(w_events + l_events)["computed"] if w_events or l_events else {}
    wc, lc = w.get("computed") or {}, lo.get("computed") or {}
    for key in ("order_count", "event_count"):
        assert merged.get(key, 0) == wc.get(key, 0) + lc.get(key, 0)
    assert merged.get("revenue", 0) == round(wc.get("revenue", 0) + lc.get("revenue", 0), 2)
    if merged.get("order_count"):
        assert merged["average_order_value"] == round(merged.get("revenue", 0) / merged["order_count"], 2)
    for key, pick in (("first_order_at", min), ("last_order_at", max), ("last_active_at", max)):
        values = [c[key] for c in (wc, lc) if c.get(key) is not None]
        assert merged.get(key) == (pick(values) if values else None)


def test_newest_trait_wins_whatever_arrives_first():
    old = {"type": "identify", "timestamp": T0, "traits": {"tier": "silver"}, "seq": 1}
    new = {"type": "identify", "timestamp": T0 + dt.timedelta(hours=1), "traits": {"tier": "gold"}, "seq": 2}
    profile: dict = {}
    apply_update(profile, apply_event(profile, new))
    late = apply_event(profile, {**old, "seq": 3})
    assert "traits.tier" not in late.set and not [c for c in late.changes if c[0].startswith("traits.")]
    assert recompute([old, new])["traits"] == {"tier": "gold"}
    assert recompute([old, new])["trait_stamps"]["tier"] == {"at": T0 + dt.timedelta(hours=1), "by": EVENT}


def test_api_write_beats_an_event_of_the_same_instant_and_unset_keeps_its_stamp():
    profile: dict = {}
    apply_update(profile, apply_api_traits(profile, T0, set_={"tier": "vip"}, unset=["city"]))
    same_time = {"type": "identify", "timestamp": T0, "traits": {"tier": "gold", "city": "北京"}, "seq": 1}
    update = apply_event(profile, same_time)
    assert not [c for c in update.changes if c[0].startswith("traits.")]
    assert profile["trait_stamps"]["city"] == {"at": T0, "by": API}
    newer = {**same_time, "timestamp": T0 + dt.timedelta(seconds=1), "seq": 2}
    apply_update(profile, apply_event(profile, newer))
    assert profile["traits"] == {"tier": "gold", "city": "北京"}


def test_set_once_is_recorded_as_the_set_it_became():
    profile: dict = {"traits": {"tier": "gold"}}
    update = apply_api_traits(profile, T0, set_once={"tier": "x", "city": "上海"})
    assert update.set["api_traits.city"] == {"at": T0, "value": "上海"}
    assert "api_traits.tier" not in update.set and "traits.tier" not in update.set


def test_diff_announces_traits_and_computed_only():
    before = {"traits": {"a": 1, "b": 2}, "trait_stamps": {"a": {}}, "computed": {"event_count": 1}}
    after = {"traits": {"a": 1, "c": 3}, "computed": {"event_count": 2}}
    changes = sorted(diff(before, after).changes, key=lambda c: c[0])
    assert changes == [("computed.event_count", 1, 2), ("traits.b", 2, None), ("traits.c", None, 3)]
    assert sorted(p for p, _, after_ in diff(before, None).changes if after_ is None) == [
        "computed.event_count",
        "traits.a",
        "traits.b",
    ]
