"""The batched apply against a real SecantusDB: same result as one by one, and no lost update."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from pymongo import AsyncMongoClient

from services.kit.clock import FixedClock
from services.kit.outbox import OutboxRelay
from services.profile.rulebook import Rulebook
from services.profile.store import INDEXES, ProfileStore
from services.profile.updates import ProfileUpdater, _BatchConflict
from tests.helpers import new_id
from tests.test_profile import resolved

T0 = dt.datetime(2026, 6, 18, 10, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def run(stack, work):
    async def main():
        client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
        # A database of its own: the session's profile service sweeps every workspace of the
        # shared one with the real clock and would move these June profiles mid-test.
        db = client[f"{stack.mongo_db}_profile_batch"]
        for spec in INDEXES:
            await db[spec.collection].create_indexes([spec.model()])
        store = ProfileStore(db)
        updater = ProfileUpdater(
            client, store, OutboxRelay(db, None, "profile_tests"), FixedClock(T0 + 60 * MINUTE), Rulebook(db)
        )
        try:
            return await work(store, updater)
        finally:
            await client.close()

    return asyncio.run(main())


def history(ws: str, persons: list[str]) -> list:
    """The same history for persons of another workspace (person ids are global: prefixed by it)."""
    out = []
    for n in range(30):
        p = f"{ws}:{persons[n % len(persons)]}"
        if n % 4 == 0:
            out.append(resolved(ws, p, 1, kind="identify", name="", traits={"tier": f"t{n}"}, at=T0 + n * MINUTE))
        else:
            props = {"order_id": new_id("o"), "revenue": n, "products": [{"category": f"c{n % 3}"}]}
            out.append(resolved(ws, p, 1, properties=props, at=T0 - n * MINUTE))
    return out


def test_batched_apply_gives_what_one_by_one_gives(stack, workspace_id):
    persons = ["a", "b", "c"]

    async def work(store, updater):
        one_ws, batch_ws = f"{workspace_id}_one", f"{workspace_id}_batch"
        for event in history(one_ws, persons):
            await updater.apply_resolved(event)
        events = history(batch_ws, persons)
        assert await updater.apply_batch(events[:17]) == 17
        assert await updater.apply_batch(events[17:]) == 13
        for p in persons:
            one, batch = await store.get(one_ws, f"{one_ws}:{p}"), await store.get(batch_ws, f"{batch_ws}:{p}")
            # The whole document but for its ids (other workspace) and the bookkeeping of writes.
            for section in (one.keys() | batch.keys()) - {"_id", "workspace", "version", "created_at", "updated_at"}:
                assert one.get(section) == batch.get(section), (p, section)
        # A redelivered poll is refused as a whole (the caller then goes one by one, skipping all).
        with pytest.raises(_BatchConflict):
            await updater.apply_batch(events[:5])
        assert not any([await updater.apply_resolved(e) for e in events[:5]])
        after = await store.get(batch_ws, f"{batch_ws}:a")
        assert after["computed"] == (await store.get(one_ws, f"{one_ws}:a"))["computed"]

    run(stack, work)


def test_a_late_event_of_a_merged_person_goes_to_the_winner_and_the_rest_stay_batched(stack, workspace_id):
    ws = workspace_id

    async def work(store, updater):
        winner, loser, other = f"{ws}:w", f"{ws}:l", f"{ws}:o"
        for p in (winner, loser):
            await updater.apply_resolved(resolved(ws, p, 1, properties={"order_id": new_id("o"), "revenue": 3}, at=T0))
        # The loser's tombstone, as a merge leaves it.
        await store.profiles.update_one({"_id": loser}, {"$set": {"merged_into": winner}})
        read = store.get_each
        batch_reads = []

        async def counted(keys):
            batch_reads.append(sorted(keys))
            return await read(keys)

        store.get_each = counted
        batch = [
            resolved(ws, other, 1, properties={"order_id": new_id("o"), "revenue": 5}, at=T0 + MINUTE),
            resolved(ws, loser, 1, properties={"order_id": new_id("o"), "revenue": 7}, at=T0 + MINUTE),
            resolved(ws, other, 1, properties={"order_id": new_id("o"), "revenue": 11}, at=T0 + 2 * MINUTE),
        ]
        assert await updater.apply_batch(batch) == 3
        # One read for the batch: the other person's events were applied batched, not one by one.
        assert len(batch_reads) == 1
        assert (await store.get(ws, other))["computed"]["order_count"] == 2
        assert (await store.get(ws, winner))["computed"]["revenue"] == 3 + 7
        assert (await store.get(ws, loser))["computed"]["revenue"] == 3
        store.get_each = read

    run(stack, work)


def test_a_new_persons_profile_created_between_read_and_commit_makes_the_batch_read_again(stack, workspace_id):
    ws = workspace_id

    async def work(store, updater):
        p = f"{ws}:new"
        read = store.get_each
        created = []

        async def read_then_the_profile_appears(keys):
            found = await read(keys)
            if not created:
                event = resolved(ws, p, 1, properties={"order_id": new_id("o"), "revenue": 2}, at=T0)
                created.append(await updater.apply_resolved(event))
            return found

        store.get_each = read_then_the_profile_appears
        batch = [resolved(ws, p, 1, properties={"order_id": new_id("o"), "revenue": 5}, at=T0 + MINUTE)]
        # The first attempt would insert a profile that exists by its commit (a duplicate key).
        assert await updater.apply_batch(batch) == 1
        store.get_each = read
        assert created == [True]
        doc = await store.get(ws, p)
        assert doc["computed"]["order_count"] == 2 and doc["computed"]["revenue"] == 7

    run(stack, work)


def test_a_write_between_read_and_commit_sends_the_poll_one_by_one(stack, workspace_id):
    ws = workspace_id

    async def work(store, updater):
        p = f"p_{ws}"
        await updater.apply_resolved(resolved(ws, p, 1, kind="identify", name="", traits={"tier": "a"}, at=T0))
        read = store.get_each

        async def read_then_someone_writes(keys):
            found = await read(keys)
            await updater.upsert_traits(ws, p, {"tier": "api"}, None, None, "test")
            return found

        store.get_each = read_then_someone_writes
        # Someone writes after every read: each attempt is refused, then the poll goes one by one.
        # The identify is older than the API write (the clock is at T0 + 1 h): the API value must stay.
        batch = [
            resolved(ws, p, 1, kind="identify", name="", traits={"tier": "batch"}, at=T0 + MINUTE),
            resolved(ws, p, 1, name="Order Completed", properties={"revenue": 5}, at=T0),
        ]
        with pytest.raises(_BatchConflict):
            await updater.apply_batch(batch)
        store.get_each = read
        for event in batch:
            await updater.apply_resolved(event)
        doc = await store.get(ws, p)
        assert doc["traits"]["tier"] == "api" and doc["computed"]["order_count"] == 1

    run(stack, work)


def test_retention_folding_between_read_and_commit_makes_the_batch_read_again(stack, workspace_id):
    from services.profile.retention import Retention

    ws = workspace_id

    async def work(store, updater):
        p = f"p_{ws}"
        old = T0 - dt.timedelta(days=40)
        await updater.apply_resolved(resolved(ws, p, 1, properties={"order_id": "o1", "revenue": 7}, at=old))
        await updater.rulebook.update_settings(ws, retention_days=30)
        retention = Retention(updater.client, store, updater.clock, updater.rulebook)
        read = store.get_each
        pruned = []

        async def read_then_retention_folds(keys):
            found = await read(keys)
            if not pruned:
                pruned.append(await retention.prune(ws))
            return found

        store.get_each = read_then_retention_folds
        batch = [resolved(ws, p, 1, properties={"order_id": "o2", "revenue": 5}, at=T0)]
        # The first attempt's profile is stale at its commit and refused; the second reads it again.
        assert await updater.apply_batch(batch) == 1
        assert pruned == [1]
        store.get_each = read
        assert not await updater.apply_resolved(batch[0])
        doc = await store.get(ws, p)
        # The pruned event lives on in the archive, which the batch must not have written over.
        assert doc["archive"]["computed"]["revenue"] == 7 and doc["computed"]["revenue"] == 12

    run(stack, work)


def test_bulk_tagging_of_a_segment_lists_members_over_segment_grpc(stack, workspace_id):
    """The segment job against segment's StreamMembers contract, served here by a stand-in gRPC server.

    The real segment service of this tree does not serve StreamMembers yet (the test
    against it in test_profile_tags skips until it does); this one always runs.
    """
    import grpc

    from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
    from services.profile.jobs import TagJobs

    ws = workspace_id
    asked = []

    class Segment(segment_pb2_grpc.SegmentServiceServicer):
        async def StreamMembers(self, request, context):
            asked.append((request.workspace_id, request.segment_id))
            for uid in (101, 103, 999):  # 999: a member without a profile (erased since)
                yield segment_pb2.Member(uid=uid)

    async def work(store, updater):
        server = grpc.aio.server()
        segment_pb2_grpc.add_SegmentServiceServicer_to_server(Segment(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            persons = {uid: f"p{uid}_{ws}" for uid in (101, 102, 103)}
            for uid, p in persons.items():
                await updater.apply_resolved(resolved(ws, p, uid, kind="identify", name="", traits={"n": uid}))
            jobs = TagJobs(store, updater, updater.clock, f"127.0.0.1:{port}")
            tags = await updater.check_assignments(ws, [{"name": "smart_shopper", "confidence": 0.9}])
            job = await jobs.submit(ws, [], "vip", tags)
            assert job["state"] == "collecting"
            assert await jobs.run_next()
            done = await jobs.get(ws, job["_id"])
            assert (done["state"], done["total"], done["tagged"]) == ("done", 2, 2)
            assert asked == [(ws, "vip")]
            tagged = {uid for uid, p in persons.items() if "smart_shopper" in (await store.get(ws, p)).get("tags", {})}
            assert tagged == {101, 103}
            assert await store.db["tag_job_items"].count_documents({"job": job["_id"]}) == 0
        finally:
            await server.stop(None)

    run(stack, work)
