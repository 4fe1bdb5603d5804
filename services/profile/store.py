"""MongoDB access for profile.

Collections:
- `profiles`: {_id: person id, workspace, uid, traits: {...}, computed: {...}, updated_at}
- `events`: each person's event history, {_id: "<workspace>:<messageId>", workspace,
  person_id, type, event, timestamp, properties, traits}; the _id makes applying
  an event idempotent (a redelivered event collides and is skipped).
"""

from __future__ import annotations

import datetime as dt

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.mongo import IndexSpec

INDEXES = [
    IndexSpec("profiles", [("workspace", 1), ("uid", 1)], name="by_uid"),
    IndexSpec("events", [("workspace", 1), ("person_id", 1), ("timestamp", -1)], name="timeline"),
]


class ProfileStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.profiles = db["profiles"]
        self.events = db["events"]

    async def get(self, workspace: str, person_id: str, session: AsyncClientSession | None = None) -> dict | None:
        return await self.profiles.find_one({"_id": person_id, "workspace": workspace}, session=session)

    async def get_many(self, workspace: str, person_ids: list[str]) -> dict[str, dict]:
        docs = self.profiles.find({"_id": {"$in": person_ids}, "workspace": workspace})
        return {d["_id"]: d async for d in docs}

    async def write(
        self,
        workspace: str,
        person_id: str,
        uid: int,
        set_: dict,
        unset: list[str],
        now: dt.datetime,
        session: AsyncClientSession | None = None,
    ) -> None:
        update: dict = {
            "$set": {**set_, "updated_at": now},
            "$setOnInsert": {"workspace": workspace, "uid": uid, "created_at": now},
        }
        if unset:
            update["$unset"] = {path: "" for path in unset}
        await self.profiles.update_one({"_id": person_id, "workspace": workspace}, update, upsert=True, session=session)

    async def record_event(self, doc: dict, session: AsyncClientSession) -> None:
        await self.events.insert_one(doc, session=session)
