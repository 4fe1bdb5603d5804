"""The holdout's sample-ratio check expects the share the journey's and the workspace's holdouts hold out together."""

from __future__ import annotations

import uuid

import pytest
from pymongo import AsyncMongoClient

from services.journey import definition as definitions
from services.journey.experiments import Experiments, holdout_share
from services.journey.holdouts import Holdouts
from services.journey.live import LiveVersion
from services.journey.store import INDEXES, JourneyStore
from services.kit.mongo import ensure_indexes


def test_the_holdout_share_is_the_union_of_the_journey_and_the_workspace_holdouts():
    assert holdout_share(10, True, 20) == pytest.approx(28.0)  # 1 - 0.9 * 0.8
    assert holdout_share(10, False, 20) == pytest.approx(10.0)  # transactional: no workspace holdout
    assert holdout_share(0, True, 50) == pytest.approx(50.0)
    assert holdout_share(0, True, 0) == 0.0


async def test_a_journey_in_a_workspace_with_a_holdout_is_not_flagged_for_sample_ratio_mismatch(stack):
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    db = client[f"results_{uuid.uuid4().hex[:8]}"]
    try:
        await ensure_indexes(db, INDEXES)
        store = JourneyStore(db)
        workspace, journey = "ws_results", f"jny_results_{uuid.uuid4().hex[:8]}"
        raw = {"entry": {"event": {"name": "Seen"}}, "holdout_pct": 10, "start": "x", "nodes": {"x": {"type": "exit"}}}
        await store.journeys.insert_one({"_id": journey, "workspace": workspace, "status": "active", "version": 1})
        await store.versions.insert_one(
            {"_id": f"{journey}:1", "journey_id": journey, "version": 1,
             "definition": definitions.canonical(definitions.parse(raw))}
        )  # fmt: skip
        await store.settings.insert_one({"_id": workspace, "holdout_pct": 20})
        # 4,000 entrants held out by the service's own rule: about 28% (10% of the journey inside 20%).
        version = LiveVersion(workspace, journey, 1, definitions.parse(raw), "active", "journey")
        holdouts = Holdouts(store)
        runs = [
            {"_id": f"run_{i:05d}", "workspace": workspace, "journey_id": journey, "version": 1,
             "person_id": f"p{i}", "status": "done", "holdout": await holdouts.held_out(version, f"p{i}"),
             **({"converted_at": 1, "conversion_value": 0.0} if i % 10 == 0 else {})}
            for i in range(4000)
        ]  # fmt: skip
        await store.runs.insert_many(runs)
        held = sum(r["holdout"] for r in runs)
        assert held / len(runs) * 100 == pytest.approx(holdout_share(10, True, 20), abs=2.0)

        results = await Experiments(store).results(workspace, journey, None)

        holdout = results["holdout"]
        assert holdout is not None
        assert holdout["sampleRatioMismatch"] is False, holdout["sampleRatioPValue"]
    finally:
        await client.drop_database(db.name)
        await client.close()
