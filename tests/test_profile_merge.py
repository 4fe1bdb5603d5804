"""Profile follows identity: merge, late events, unmerge and forget, against real processes.

Identity's topics are produced here directly (identity is not started), so each
test decides exactly what identity said and in which order.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from cdp.identity.v1 import events_pb2
from cdp.profile.v1 import events_pb2 as profile_events
from services.kit.kafka import Topics
from services.kit.protos import from_value, to_timestamp
from tests.conftest import eventually
from tests.helpers import graphql, mongo_db, new_id, produce, read_topic
from tests.test_profile import get_profile, resolved

T0 = dt.datetime(2026, 6, 18, 10, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def profile(start_service):
    return start_service("profile")


def identify(ws, person, uid, at, **traits):
    return resolved(ws, person, uid, kind="identify", name="", traits=traits, at=at)


def order(ws, person, uid, at, revenue):
    return resolved(ws, person, uid, properties={"order_id": new_id("o"), "revenue": revenue}, at=at)


def send(stack, events: list[events_pb2.ResolvedEvent]) -> None:
    produce(stack, [(Topics.EVENTS_RESOLVED, e.person_id, e) for e in events])


def merged(ws, winner, winner_uid, loser, loser_uid, merge_id=None) -> events_pb2.IdentityMerged:
    return events_pb2.IdentityMerged(
        workspace_id=ws,
        merge_id=merge_id or new_id("merge"),
        winner_id=winner,
        winner_uid=winner_uid,
        loser_id=loser,
        loser_uid=loser_uid,
        rule="test",
        at=to_timestamp(T0),
    )


def unmerged(merge: events_pb2.IdentityMerged) -> events_pb2.IdentityUnmerged:
    return events_pb2.IdentityUnmerged(
        workspace_id=merge.workspace_id,
        merge_id=merge.merge_id,
        winner_id=merge.winner_id,
        winner_uid=merge.winner_uid,
        restored_id=merge.loser_id,
        restored_uid=merge.loser_uid,
        at=to_timestamp(T0),
    )


def with_events(stack, ws, person, count):
    """The profile once it holds `count` events. Exactness is the point, not speed: the session's
    profile service may still be folding earlier modules' streams, so it gets a minute."""
    seen = []

    def check():
        p = get_profile(stack, ws, person)
        seen[:] = [p.computed.event_count if p else None]
        return p if p and p.computed.event_count == count else None

    try:
        return eventually(check, timeout=60)
    except AssertionError:
        raise AssertionError(f"{person}: {seen[0]} events after 60 s, expected {count}") from None


def profiles(stack):
    return mongo_db(stack)["profiles"]


def announced(stack, ws, cause, settle=1.5, seconds=20) -> list[profile_events.ProfileChanged]:
    """Every distinct profile.changed with this cause, read until one is seen and `settle` seconds more.

    The extra seconds give a wrong second announcement (a redelivery applied
    twice) the time to show up.
    """
    seen_at: list[float] = []

    def done(ms):
        if not seen_at and any(m.workspace_id == ws and m.cause_message_id == cause for m in ms):
            seen_at.append(time.monotonic())
        return bool(seen_at) and time.monotonic() - seen_at[0] > settle

    got = read_topic(stack, Topics.PROFILE_CHANGED, profile_events.ProfileChanged, seconds, until=done)
    # The outbox is at-least-once: the same record published twice is one announcement
    # (an operation applied twice would differ, at least in `at`).
    unique = {m.SerializeToString(): m for m in got if m.workspace_id == ws and m.cause_message_id == cause}
    return list(unique.values())


def changes_for(stack, ws, person, cause) -> dict[str, tuple]:
    """The one profile.changed for this person with this cause, as {path: (before, after)}."""
    mine = [m for m in announced(stack, ws, cause) if m.person_id == person]
    assert len(mine) == 1, f"{len(mine)} announcements for {person} caused by {cause}"
    return {c.path: (from_value(c.before), from_value(c.after)) for c in mine[0].changes}


def comparable(p) -> tuple:
    return (dict(p.traits), p.computed)


def test_merge_combines_counters_first_last_and_newest_trait_wins(profile, workspace_id):
    ws, w, lo = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}"
    send(
        profile,
        [
            identify(ws, w, 1, T0 + HOUR, tier="silver", city="上海", gender="female"),
            order(ws, w, 1, T0, 100),
            order(ws, w, 1, T0 + 48 * HOUR, 60.5),
            identify(ws, lo, 2, T0 + 3 * HOUR, tier="gold", city="北京"),
            identify(ws, w, 1, T0 + 5 * HOUR, city="杭州"),
            order(ws, lo, 2, T0 - 24 * HOUR, 39.5),
        ],
    )
    with_events(profile, ws, w, 4)
    with_events(profile, ws, lo, 2)
    merge = merged(ws, w, 1, lo, 2)
    produce(profile, [(Topics.IDENTITY_MERGED, w, merge)])

    got = with_events(profile, ws, w, 6)
    assert dict(got.traits) == {"tier": "gold", "city": "杭州", "gender": "female"}
    assert got.computed.order_count == 3
    assert got.computed.revenue == pytest.approx(200.0)
    assert got.computed.average_order_value == pytest.approx(66.67)
    assert got.computed.first_order_at.ToDatetime(tzinfo=dt.UTC) == T0 - 24 * HOUR
    assert got.computed.last_order_at.ToDatetime(tzinfo=dt.UTC) == T0 + 48 * HOUR

    tombstone = profiles(profile).find_one({"_id": lo})
    assert tombstone["merged_into"] == w and not {"traits", "computed"} & tombstone.keys()
    assert profiles(profile).find_one({"_id": w})["merged_from"] == [lo]

    # One announcement, for the winner: segment clears the loser's bits itself on identity.merged.
    assert [m.person_id for m in announced(profile, ws, f"merge:{merge.merge_id}")] == [w]
    change = changes_for(profile, ws, w, f"merge:{merge.merge_id}")
    assert change["traits.tier"] == ("silver", "gold")
    assert change["computed.order_count"] == (2, 3)
    assert change["computed.event_count"] == (4, 6)
    assert "traits.city" not in change and "traits.gender" not in change

    # The loser's id reads the winner's profile, over gRPC and GraphQL.
    assert get_profile(profile, ws, lo).person_id == w
    answer = graphql(
        profile.http_url("profile") + "/graphql",
        ws,
        "query($id: ID!) { profile(personId: $id) { id traits computed { orderCount } } }",
        {"id": lo},
    )
    assert answer["data"]["profile"]["traits"]["tier"] == "gold"
    assert answer["data"]["profile"]["computed"]["orderCount"] == 3


def test_redelivered_merge_is_a_noop_and_a_late_loser_event_lands_on_the_winner(profile, workspace_id):
    ws, w, lo, third = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}", f"t_{workspace_id}"
    send(profile, [order(ws, w, 1, T0, 10), order(ws, lo, 2, T0, 20), order(ws, third, 3, T0, 40)])
    for person in (w, lo, third):
        with_events(profile, ws, person, 1)
    merge = merged(ws, w, 1, lo, 2)
    produce(profile, [(Topics.IDENTITY_MERGED, w, merge)])
    with_events(profile, ws, w, 2)

    # The same merge again, then another merge on the same key: once the second
    # is applied, the redelivery before it was handled too.
    produce(profile, [(Topics.IDENTITY_MERGED, w, merge), (Topics.IDENTITY_MERGED, w, merged(ws, w, 1, third, 3))])
    got = with_events(profile, ws, w, 3)
    assert got.computed.order_count == 3 and got.computed.revenue == pytest.approx(70.0)
    assert len(announced(profile, ws, f"merge:{merge.merge_id}")) == 1

    late = order(ws, lo, 2, T0 + HOUR, 5)
    send(profile, [late])
    got = with_events(profile, ws, w, 4)
    assert got.computed.revenue == pytest.approx(75.0)
    stored = mongo_db(profile)["events"].find_one({"_id": f"{ws}:{late.event.message_id}"})
    assert stored["person_id"] == lo
    assert "computed" not in profiles(profile).find_one({"_id": lo})


def test_unmerge_restores_both_as_a_recompute_from_scratch(profile, workspace_id):
    """Compare with the same events sent to separate persons of a workspace that never merged."""
    fresh_ws = f"{workspace_id}_fresh"

    def history(ws, w, lo):
        before = [
            identify(ws, w, 1, T0 + HOUR, tier="silver", city="上海"),
            order(ws, w, 1, T0, 100),
            identify(ws, lo, 2, T0 + 2 * HOUR, tier="gold", age=31),
            order(ws, lo, 2, T0 - HOUR, 30),
            order(ws, lo, 2, T0 + 3 * HOUR, 12.5),
        ]
        after = [
            identify(ws, lo, 2, T0 + 4 * HOUR, city="北京"),  # late, for the loser
            order(ws, w, 1, T0 + 5 * HOUR, 7),
            identify(ws, w, 1, T0 + 30 * dt.timedelta(minutes=1), tier="bronze"),  # older than both tiers
        ]
        return before, after

    w, lo = f"w_{workspace_id}", f"l_{workspace_id}"
    before, after = history(workspace_id, w, lo)
    send(profile, before)
    with_events(profile, workspace_id, w, 2)
    with_events(profile, workspace_id, lo, 3)
    merge = merged(workspace_id, w, 1, lo, 2)
    produce(profile, [(Topics.IDENTITY_MERGED, w, merge)])
    with_events(profile, workspace_id, w, 5)
    send(profile, after)
    combined = with_events(profile, workspace_id, w, 8)
    assert dict(combined.traits) == {"tier": "gold", "city": "北京", "age": 31}

    produce(profile, [(Topics.IDENTITY_UNMERGED, w, unmerged(merge))])
    restored = eventually(lambda: (p := get_profile(profile, workspace_id, lo)) and p.person_id == lo and p)
    winner = with_events(profile, workspace_id, w, 4)

    fw, fl = f"w_{fresh_ws}", f"l_{fresh_ws}"
    fresh_before, fresh_after = history(fresh_ws, fw, fl)
    send(profile, fresh_before + fresh_after)
    expected_w = with_events(profile, fresh_ws, fw, 4)
    expected_l = with_events(profile, fresh_ws, fl, 4)
    assert comparable(winner) == comparable(expected_w)
    assert comparable(restored) == comparable(expected_l)
    assert restored.uid == 2
    for person, fresh in ((w, fw), (lo, fl)):
        doc, expected = profiles(profile).find_one({"_id": person}), profiles(profile).find_one({"_id": fresh})
        assert doc["trait_stamps"] == expected["trait_stamps"], person
        assert not doc.get("merged_into") and not doc.get("merged_from")

    cause = f"unmerge:{merge.merge_id}"
    change = changes_for(profile, workspace_id, lo, cause)
    assert change["traits.tier"] == (None, "gold") and change["computed.event_count"] == (None, 4)
    assert all(before_ is None for before_, _ in change.values())
    change = changes_for(profile, workspace_id, w, cause)
    assert change["traits.tier"] == ("gold", "silver") and change["computed.event_count"] == (8, 4)

    # A redelivered unmerge, then a redelivered merge: both no-ops. Sentinels on the
    # same keys (a merge of others, an unmerge of nothing) show when they were handled.
    merge_sentinel = merged(workspace_id, f"s_{workspace_id}", 9, f"x_{workspace_id}", 10)
    unmerge_sentinel = unmerged(merged(workspace_id, w, 1, f"y_{workspace_id}", 11))
    produce(
        profile,
        [
            (Topics.IDENTITY_UNMERGED, w, unmerged(merge)),
            (Topics.IDENTITY_MERGED, w, merge),
            (Topics.IDENTITY_MERGED, w, merge_sentinel),
            (Topics.IDENTITY_UNMERGED, w, unmerge_sentinel),
        ],
    )
    eventually(lambda: profiles(profile).find_one({"_id": f"x_{workspace_id}", "merged_into": f"s_{workspace_id}"}))
    merges = mongo_db(profile)["profile_merges"]
    eventually(lambda: merges.find_one({"_id": f"{workspace_id}:{unmerge_sentinel.merge_id}"}))
    assert get_profile(profile, workspace_id, lo).person_id == lo
    assert comparable(get_profile(profile, workspace_id, w)) == comparable(expected_w)
    assert sorted(m.person_id for m in announced(profile, workspace_id, cause)) == sorted([w, lo])


def test_unmerge_that_overtakes_its_merge_leaves_both_apart(profile, workspace_id):
    ws, w, lo = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}"
    send(profile, [order(ws, w, 1, T0, 10), order(ws, lo, 2, T0, 20)])
    with_events(profile, ws, w, 1)
    with_events(profile, ws, lo, 1)
    merge = merged(ws, w, 1, lo, 2)
    # Different topics keep no order between them: wait until the unmerge is recorded.
    produce(profile, [(Topics.IDENTITY_UNMERGED, w, unmerged(merge))])
    merges = mongo_db(profile)["profile_merges"]
    eventually(lambda: merges.find_one({"_id": f"{ws}:{merge.merge_id}", "state": "unmerged"}))
    sentinel = merged(ws, w, 1, f"x_{ws}", 3)
    produce(profile, [(Topics.IDENTITY_MERGED, w, merge), (Topics.IDENTITY_MERGED, w, sentinel)])
    eventually(lambda: profiles(profile).find_one({"_id": f"x_{ws}", "merged_into": w}))
    assert get_profile(profile, ws, lo).person_id == lo
    assert get_profile(profile, ws, w).computed.order_count == 1


def test_forget_leaves_nothing_of_the_person(profile, workspace_id):
    ws, w, lo, other = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}", f"o_{workspace_id}"
    send(
        profile,
        [
            identify(ws, w, 1, T0, tier="gold", email_domain="example.com"),
            order(ws, w, 1, T0, 10),
            identify(ws, lo, 2, T0, city="上海"),
            order(ws, other, 3, T0, 99),
        ],
    )
    with_events(profile, ws, w, 2)
    with_events(profile, ws, lo, 1)
    with_events(profile, ws, other, 1)
    produce(profile, [(Topics.IDENTITY_MERGED, w, merged(ws, w, 1, lo, 2))])
    with_events(profile, ws, w, 3)

    db = mongo_db(profile)
    # A bulk tagging job's pending chunk names both ids of the person and someone else.
    chunk = {"_id": f"job_{ws}:0", "job": f"job_{ws}", "n": 0, "persons": [w, other, lo]}
    db["tag_job_items"].insert_one(chunk)
    forget = events_pb2.PersonForgotten(workspace_id=ws, person_id=w, uid=1, at=to_timestamp(T0))
    produce(profile, [(Topics.PERSON_FORGOTTEN, w, forget)])
    eventually(lambda: db["profiles"].count_documents({"_id": {"$in": [w, lo]}}) == 0)
    assert db["events"].count_documents({"workspace": ws, "person_id": {"$in": [w, lo]}}) == 0
    assert db["tag_job_items"].find_one({"_id": chunk["_id"]})["persons"] == [other]

    change = changes_for(profile, ws, w, f"forget:{w}")
    # The erasure names what went (paths), never the erased values.
    assert {"traits.tier", "traits.city", "traits.email_domain", "computed.order_count"} <= change.keys()
    assert all(before is None and after is None for before, after in change.values())

    # An event of the loser still in flight does not bring the person back; an
    # event of someone else on the same key shows when it has been handled.
    late = order(ws, lo, 2, T0 + HOUR, 5)
    marker = order(ws, other, 3, T0 + HOUR, 1)
    produce(profile, [(Topics.EVENTS_RESOLVED, lo, late), (Topics.EVENTS_RESOLVED, lo, marker)])
    with_events(profile, ws, other, 2)
    assert db["profiles"].count_documents({"_id": {"$in": [w, lo]}}) == 0
    assert db["events"].count_documents({"workspace": ws, "person_id": {"$in": [w, lo]}}) == 0
    assert db["profiles"].count_documents({"workspace": ws, "$or": [{"merged_into": w}, {"merged_from": w}]}) == 0


def test_events_racing_a_merge_are_all_counted_once(profile, workspace_id):
    """Events of both persons keep arriving while the merge runs: none is lost or counted twice."""
    ws, w, lo = workspace_id, f"w_{workspace_id}", f"l_{workspace_id}"
    send(profile, [order(ws, w, 1, T0, 1), order(ws, lo, 2, T0, 1)])
    with_events(profile, ws, w, 1)
    with_events(profile, ws, lo, 1)
    stream = [order(ws, p, uid, T0 + n * HOUR, 1) for n in range(40) for p, uid in ((w, 1), (lo, 2))]
    produce(
        profile,
        [(Topics.EVENTS_RESOLVED, e.person_id, e) for e in stream[:20]]
        + [(Topics.IDENTITY_MERGED, w, merged(ws, w, 1, lo, 2))]
        + [(Topics.EVENTS_RESOLVED, e.person_id, e) for e in stream[20:]],
    )
    got = with_events(profile, ws, w, 82)
    assert got.computed.order_count == 82 and got.computed.revenue == pytest.approx(82.0)
    assert "computed" not in profiles(profile).find_one({"_id": lo})
