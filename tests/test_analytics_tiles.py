"""Dashboard tiles are answered from a cache until the workspace's data changes: a new event, a
merge or an erasure makes the next answer a fresh one, and another workspace's data does not."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import pytest_asyncio

from cdp.identity.v1 import events_pb2 as identity_events
from services.analytics.metrics import TILES
from services.analytics.workers import IdentityFollower, Ingest
from tests.analytics_support import loaded, track

pytestmark = pytest.mark.asyncio(loop_scope="module")
DAY = dt.datetime(2025, 5, 1, 9, tzinfo=dt.UTC)
TILE = json.dumps(
    {"series": [{"event": "Order", "math": "persons"}], "date_from": "2025-05-01", "date_to": "2025-05-01"}
)


def order(ws: str, person: str, minutes: int):
    return track(ws, person, "Order", DAY + dt.timedelta(minutes=minutes))


def computed() -> float:
    return TILES.labels("computed")._value.get()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    analytics = await loaded(tmp_path_factory.mktemp("chdb-tiles"), [order("a", "p1", 0)], [], DAY)
    yield analytics
    analytics.engine.close()


async def persons(analytics) -> int:
    return (await analytics.tile("a", "trends", TILE))["series"][0]["values"][0]


async def test_a_tile_is_cached_until_the_workspaces_data_changes(analytics):
    ingest, identity = Ingest(analytics.store), IdentityFollower(analytics.store)
    assert await persons(analytics) == 1
    before = computed()
    assert await persons(analytics) == 1 and computed() == before  # from the cache

    await ingest.events([order("b", "q1", 1)])  # another workspace: still cached
    assert await persons(analytics) == 1 and computed() == before

    await ingest.events([order("a", "p2", 2)])
    assert await persons(analytics) == 2 and computed() == before + 1

    merge = identity_events.IdentityMerged(workspace_id="a", winner_id="p1", loser_id="p2")
    await identity.merged("", merge)
    assert await persons(analytics) == 1 and computed() == before + 2

    await analytics.store.forget("a", "p1")
    assert await persons(analytics) == 0 and computed() == before + 3


async def test_the_tiles_of_one_request_read_the_data_mark_once(analytics):
    """A dashboard's tiles share one reading of the mark; the next request reads it again."""
    reads = []
    real = analytics.data_mark

    async def counted(workspace: str) -> str:
        reads.append(workspace)
        return await real(workspace)

    analytics.data_mark = counted
    try:
        other = TILE.replace('"persons"', '"total"')
        marks: dict = {}
        for _ in range(2):
            await analytics.tile("a", "trends", TILE, marks)
            await analytics.tile("a", "trends", other, marks)
        assert reads == ["a"]
        await analytics.tile("a", "trends", TILE, {})
        await analytics.tile("a", "trends", TILE)  # no request scope: read every time
        assert reads == ["a", "a", "a"]
    finally:
        analytics.data_mark = real
