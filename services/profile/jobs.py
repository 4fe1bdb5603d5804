"""Bulk tagging: tag a list of persons or every member of a segment, with progress.

A job is a document {_id, workspace, state, total, done, tagged, tags, segment_id,
next_chunk, error, created_at, updated_at}, with its persons in chunk documents
(`tag_job_items`, TAG_CHUNK persons each), so a job of millions never builds
one huge document. A segment job first collects the members (segment gRPC
StreamMembers gives dense uids; profile maps them to person ids) and then runs
like a list job. Each chunk is tagged in one transaction that also advances
`done` and `next_chunk`, so a job interrupted by a crash resumes exactly where
it stopped: no person is tagged twice, none is skipped. Runners on several
replicas take jobs by lease.

States: collecting (segment members being listed), queued, running, done, failed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from typing import Any

from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit import grpc_client
from services.kit.clock import Clock
from services.kit.errors import InvalidInput, NotFound
from services.kit.mongo import find_each
from services.profile.store import ProfileStore
from services.profile.updates import TAG_CHUNK, ProfileUpdater

log = logging.getLogger(__name__)

MAX_LIST = 1_000_000
LEASE = dt.timedelta(seconds=30)


class TagJobs:
    def __init__(self, store: ProfileStore, updater: ProfileUpdater, clock: Clock, segment_target: str) -> None:
        self.store = store
        self.updater = updater
        self.clock = clock
        self.jobs = store.db["tag_jobs"]
        self.items = store.db["tag_job_items"]
        self.segment_target = segment_target
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.wake = asyncio.Event()

    async def submit(self, workspace: str, person_ids: list[str], segment_id: str, tags: list[dict]) -> dict:
        if bool(person_ids) == bool(segment_id):
            raise InvalidInput("give either person_ids or segment_id", "person_ids")
        if len(person_ids) > MAX_LIST:
            raise InvalidInput(f"at most {MAX_LIST} persons per job", "person_ids")
        for i, person in enumerate(person_ids):
            if not person or len(person) > 256:
                raise InvalidInput("a person id is empty or too long", f"person_ids[{i}]")
        now = self.clock.now()
        job_id = uuid.uuid4().hex
        job = {
            "_id": job_id,
            "workspace": workspace,
            "state": "collecting" if segment_id else "queued",
            "segment_id": segment_id,
            "tags": tags,
            "total": len(person_ids),
            "done": 0,
            "tagged": 0,
            "next_chunk": 0,
            "chunks": 0,
            "created_at": now,
            "updated_at": now,
            "lease_until": now,
        }
        if person_ids:
            unique = list(dict.fromkeys(person_ids))
            job["total"] = len(unique)
            job["chunks"] = await self._store_chunks(job_id, unique)
        await self.jobs.insert_one(job)
        self.wake.set()
        return job

    async def tag(
        self, workspace: str, person_ids: list[str], segment_id: str, tags: list[dict], cause: str, field: str
    ) -> tuple[list[str], dict | None]:
        """AssignTags of both APIs: (persons tagged now, None), or ([], the job) for a segment or a long list.

        Up to TAG_CHUNK persons are tagged in the call (one transaction); more, or a
        segment, become a job. `field` names the person list in the caller's API.
        """
        segment_id = segment_id.strip()
        if segment_id or len(person_ids) > TAG_CHUNK:
            return [], await self.submit(workspace, person_ids, segment_id, tags)
        if not person_ids:
            raise InvalidInput(f"give {field} or a segment id", field)
        return await self.updater.assign_tags(workspace, person_ids, tags, cause), None

    async def _store_chunks(self, job_id: str, persons: list[str]) -> int:
        chunks = [persons[i : i + TAG_CHUNK] for i in range(0, len(persons), TAG_CHUNK)]
        for start in range(0, len(chunks), 100):
            await self.items.insert_many(
                [
                    {"_id": f"{job_id}:{n}", "job": job_id, "n": n, "persons": chunk}
                    for n, chunk in enumerate(chunks[start : start + 100], start)
                ]
            )
        return len(chunks)

    async def get(self, workspace: str, job_id: str) -> dict:
        job = await self.jobs.find_one({"_id": job_id, "workspace": workspace})
        if job is None:
            raise NotFound(f"no tag job {job_id!r}", "job_id")
        return job

    # -- running ---------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                while not stopping.is_set() and await self.run_next():
                    pass
            except Exception:
                log.exception("tag job runner failed; retrying")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=2.0)
            except TimeoutError:
                pass

    async def run_next(self) -> bool:
        """Take one unfinished job whose lease has lapsed and work it to the end; False: none."""
        now = self.clock.now()
        job = await self.jobs.find_one_and_update(
            {"state": {"$in": ["collecting", "queued", "running"]}, "lease_until": {"$lte": now}},
            {"$set": {"owner": self.owner, "lease_until": now + LEASE}},
        )
        if job is None:
            return False
        try:
            if job["state"] == "collecting":
                job = await self._collect(job)
            await self._work(job)
        except Exception as exc:
            log.exception("tag job failed", extra={"job": job["_id"]})
            await self.jobs.update_one(
                {"_id": job["_id"]}, {"$set": {"state": "failed", "error": repr(exc)[:500], "updated_at": now}}
            )
            # A failed job does not resume: its list of persons has no further use.
            await self.items.delete_many({"job": job["_id"]})
        return True

    async def _collect(self, job: dict) -> dict:
        """List the segment's members as person ids (live profiles only) and store them as chunks."""
        await self.items.delete_many({"job": job["_id"]})  # a collect cut short by a crash starts over
        persons: list[str] = []
        async with grpc_client.channel(self.segment_target) as channel:
            stub = segment_pb2_grpc.SegmentServiceStub(channel)
            request = segment_pb2.StreamMembersRequest(workspace_id=job["workspace"], segment_id=job["segment_id"])
            uids = [member.uid async for member in stub.StreamMembers(request, timeout=600)]
        for start in range(0, len(uids), 500):
            found = await find_each(
                self.store.profiles,
                [{"workspace": job["workspace"], "uid": uid} for uid in uids[start : start + 500]],
                {"_id": 1, "merged_into": 1},
            )
            persons += [d["_id"] for docs in found for d in docs if not d.get("merged_into")]
        persons = list(dict.fromkeys(persons))
        chunks = await self._store_chunks(job["_id"], persons)
        fields = {"state": "queued", "total": len(persons), "chunks": chunks, "updated_at": self.clock.now()}
        await self.jobs.update_one({"_id": job["_id"]}, {"$set": fields})
        return {**job, **fields}

    async def _work(self, job: dict) -> None:
        await self.jobs.update_one({"_id": job["_id"]}, {"$set": {"state": "running"}})
        n = job["next_chunk"]
        while n < job["chunks"]:
            item = await self.items.find_one({"_id": f"{job['_id']}:{n}"})
            await self.updater.assign_tags(
                job["workspace"],
                item["persons"],
                job["tags"],
                f"tagjob:{job['_id']}:{n}",
                skip_missing=True,
                job=(job["_id"], n, len(item["persons"])),
            )
            n += 1
            await self.jobs.update_one({"_id": job["_id"]}, {"$set": {"lease_until": self.clock.now() + LEASE}})
        await self.jobs.update_one({"_id": job["_id"]}, {"$set": {"state": "done", "updated_at": self.clock.now()}})
        await self.items.delete_many({"job": job["_id"]})


def job_view(job: dict) -> dict[str, Any]:
    return {k: job.get(k) for k in ("_id", "state", "total", "done", "tagged", "segment_id", "error")}
