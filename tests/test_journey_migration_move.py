"""Publishing with "move" carries every movable run, however many stay, and the dry run foretells it exactly.

Runs that stay (in the middle of a step, or waiting at a node the map does not name) may come
first in _id order and fill whole chunks; the runs after them must still move. The dry run
must count what the move then does: only waiting runs at a mapped node move.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from pymongo import AsyncMongoClient

from services.journey import library as library_module
from services.journey.holdouts import Holdouts
from services.journey.library import Library
from services.journey.live import LiveJourneys
from services.journey.model import Wait
from services.journey.runs import Runner
from services.journey.store import INDEXES, JourneyStore, run_doc
from services.kit.clock import FixedClock
from services.kit.mongo import ensure_indexes
from services.kit.outbox import OutboxRelay
from tests.journey_support import waiting_run

H = dt.timedelta(hours=1)


def _definition(first: str) -> dict:
    return {
        "entry": {"event": {"name": "Checkout Started"}},
        "start": first,
        "nodes": {
            first: {"type": "wait", "duration": "1h", "next": "later"},
            "later": {"type": "wait", "duration": "1h", "next": "x"},
            "x": {"type": "exit"},
        },
    }


@pytest.fixture(name="library")
async def library_fixture(stack):
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    # A database of its own: no journey service steps or claims these runs.
    db = client[f"move_{uuid.uuid4().hex[:8]}"]
    await ensure_indexes(db, INDEXES)
    store = JourneyStore(db)
    now = dt.datetime.now(dt.UTC)
    clock = FixedClock(now)
    runner = Runner(client, store, OutboxRelay(db, None, f"move_test_{uuid.uuid4().hex[:6]}"), clock)
    try:
        yield Library(client, store, LiveJourneys(store), runner, clock, Holdouts(store).timezone), store, now
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_runs_that_stay_first_in_id_order_do_not_stop_the_move_and_the_dry_run_says_what_moves(
    library, monkeypatch
):
    lib, store, now = library
    monkeypatch.setattr(library_module, "MOVE_CHUNK", 3)
    workspace = "ws_move"
    journey = (await lib.create(workspace, "move", "journey", _definition("wait_order")))["_id"]
    await lib.publish(workspace, journey, "tester")

    def run(i: int, node: str, status: str):
        base = waiting_run(journey, workspace, f"p{i:03d}", now + H)
        wait = Wait(node=node, due_at=now + H) if status == "waiting" else None
        return dataclasses.replace(base, run_id=f"run_{i:03d}", node=node, status=status, wait=wait)

    # First in _id order, more than two chunks of runs that stay: in the middle of a step at the
    # mapped node, or waiting at a node the map does not name; then the movable ones; then finished ones.
    staying = [run(i, "wait_order", "active") for i in range(4)] + [run(i, "later", "waiting") for i in range(4, 8)]
    movable = [run(i, "wait_order", "waiting") for i in range(8, 15)]
    finished = [dataclasses.replace(run(i, "wait_order", "waiting"), status="exited", wait=None) for i in range(15, 17)]
    await store.runs.insert_many([run_doc(s, None) for s in staying + movable + finished])

    await lib.save_draft(workspace, journey, None, _definition("hold"))
    dry = await lib.publish(workspace, journey, "tester", "move", {"wait_order": "hold"}, dry_run=True)
    done = await lib.publish(workspace, journey, "tester", "move", {"wait_order": "hold"})

    assert done["moved"] == len(movable) == 7
    assert dry["moves"] == done["moves"] == {"hold": 7, "stay": 8}
    by_id = {d["_id"]: d async for d in store.runs.find({"journey_id": journey})}
    assert all((by_id[s.run_id]["version"], by_id[s.run_id]["node"]) == (2, "hold") for s in movable)
    assert all(by_id[s.run_id]["version"] == 1 and by_id[s.run_id]["seq"] == 1 for s in staying + finished)
