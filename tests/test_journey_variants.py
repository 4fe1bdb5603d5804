"""A recorded variant wins over the hash, in a journey whose steps read nothing else about the person.

Such a journey asks for no profile, segments or events (Definition.needs() is empty); its
experiment must still read the person's recorded assignment: a merge survivor who took over the
merged person's variant gets that one, and new weights in a new version move nobody already assigned.
"""

from __future__ import annotations

import uuid

from cdp.identity.v1 import events_pb2 as identity_events
from services.journey import definition as definitions
from services.journey import engine
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import produce
from tests.journey_support import (  # noqa: F401 (module fixtures)
    PUBLISH,
    db_fixture,
    event,
    gql,
    journeys_fixture,
    ok,
    publish,
    send_events,
)


def _experiment(key: str, weights: tuple[float, float] = (1, 1)) -> dict:
    return {
        "entry": {"event": {"name": "Promo Viewed"}, "policy": {"mode": "again_after_exit"}},
        "start": "ab",
        "nodes": {
            "ab": {"type": "experiment", "key": key, "variants": [
                {"name": "A", "weight": weights[0], "next": "x"}, {"name": "B", "weight": weights[1], "next": "x"}]},
            "x": {"type": "exit"},
        },
    }  # fmt: skip


def _hashed(definition: dict, person: str) -> str:
    node = definitions.parse(definition).nodes["ab"]
    return engine.assign(node.key, person, [(a.name, a.weight) for a in node.arms()])


def _variants(db, journey: str, person: str) -> list[str]:
    runs = db["runs"].find({"journey_id": journey, "person_id": person, "status": "done"}).sort("entered_at", 1)
    return [r["variants"]["ab"] for r in runs]


def test_a_merge_survivor_gets_the_merged_persons_recorded_variant_not_its_own_hash(journeys, db, workspace_id):
    assert not definitions.parse(_experiment("k")).needs().anything  # the case the audit found
    definition = _experiment(f"merge-{uuid.uuid4().hex[:8]}")
    journey = publish(journeys, workspace_id, definition)
    loser = "p-merged"
    # A survivor whose own hash lands in the other variant than the merged person's.
    winner = next(
        p for p in (f"p-survivor{i}" for i in range(100)) if _hashed(definition, p) != _hashed(definition, loser)
    )
    send_events(journeys, event(workspace_id, loser, "Promo Viewed"))
    recorded = eventually(lambda: _variants(db, journey, loser), timeout=60)[0]
    assert recorded == _hashed(definition, loser)
    eventually(lambda: db["assignments"].find_one({"workspace": workspace_id, "person_id": loser}), timeout=60)

    produce(journeys, [(Topics.IDENTITY_MERGED, winner, identity_events.IdentityMerged(
        workspace_id=workspace_id, merge_id=uuid.uuid4().hex, winner_id=winner, loser_id=loser, winner_uid=1,
        loser_uid=2))])  # fmt: skip
    taken = eventually(lambda: db["assignments"].find_one({"workspace": workspace_id, "person_id": winner}), timeout=60)
    assert taken["variant"] == recorded

    send_events(journeys, event(workspace_id, winner, "Promo Viewed"))
    # The merged person's run followed the survivor too: the survivor's own entry is the second run.
    variants = eventually(lambda: (v := _variants(db, journey, winner)) and len(v) == 2 and v, timeout=60)
    assert variants == [recorded, recorded]


def test_new_weights_in_a_new_version_move_nobody_already_assigned(journeys, db, workspace_id):
    key = f"weights-{uuid.uuid4().hex[:8]}"
    v1, v2 = _experiment(key), _experiment(key, (1, 1_000_000))  # v2 sends nearly everyone to B
    person = next(p for p in (f"p-w{i}" for i in range(100)) if _hashed(v1, p) == "A" and _hashed(v2, p) == "B")
    journey = publish(journeys, workspace_id, v1)
    send_events(journeys, event(workspace_id, person, "Promo Viewed"))
    assert eventually(lambda: _variants(db, journey, person), timeout=60) == ["A"]
    eventually(lambda: db["assignments"].find_one({"workspace": workspace_id, "person_id": person}), timeout=60)

    save = "mutation($id: ID!, $d: JSON!) { saveJourneyDraft(id: $id, definition: $d) { id } }"
    ok(gql(journeys, workspace_id, save, {"id": journey, "d": v2}))
    ok(gql(journeys, workspace_id, PUBLISH, {"id": journey, "mode": "finish", "nodeMap": None, "dryRun": False}))
    # The service sees the new version once its cache of live journeys refreshes: a newcomer then lands in B.
    newcomer = next(p for p in (f"p-new{i}" for i in range(100)) if _hashed(v2, p) == "B")
    send_events(journeys, event(workspace_id, newcomer, "Promo Viewed"))
    eventually(lambda: db["runs"].find_one({"journey_id": journey, "person_id": newcomer, "version": 2}), timeout=60)

    send_events(journeys, event(workspace_id, person, "Promo Viewed"))
    runs = eventually(
        lambda: (
            (r := list(db["runs"].find({"journey_id": journey, "person_id": person, "status": "done"})))
            and len(r) == 2
            and r
        ),
        timeout=60,
    )
    assert {r["version"]: r["variants"]["ab"] for r in runs} == {1: "A", 2: "A"}
