"""MongoDB access for segment definitions.

`segments`: {_id, workspace, name, rule (canonical text: what is evaluated; segment
references by id), source (the rule as the user sent it), uses (what the rule
reads, references followed), refs (segments it references), windowed (has a
"last N days" condition), created_at, updated_at}.
"""

from __future__ import annotations

import datetime as dt
import secrets

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.errors import InvalidInput, NotFound
from services.kit.mongo import IndexSpec
from services.segment import people

INDEXES = [IndexSpec("segments", [("workspace", 1), ("name", 1)], name="by_name"), *people.INDEXES]


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1-200 characters", "name")
    return name


class SegmentStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.segments = db["segments"]

    async def create(self, workspace: str, fields: dict, now: dt.datetime) -> dict:
        doc = {
            "_id": f"seg_{secrets.token_hex(8)}",
            "workspace": workspace,
            **fields,
            "created_at": now,
            "updated_at": now,
        }
        await self.segments.insert_one(doc)
        return doc

    async def update(self, workspace: str, segment_id: str, fields: dict, now: dt.datetime) -> dict:
        doc = await self.segments.find_one_and_update(
            {"_id": segment_id, "workspace": workspace},
            {"$set": {**fields, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise NotFound(f"segment {segment_id!r} not found", "id")
        return doc

    async def get(self, workspace: str, segment_id: str) -> dict:
        doc = await self.segments.find_one({"_id": segment_id, "workspace": workspace})
        if doc is None:
            raise NotFound(f"segment {segment_id!r} not found", "id")
        return doc

    async def list(self, workspace: str) -> list[dict]:
        return await self.segments.find({"workspace": workspace}).sort("created_at", 1).to_list(None)

    async def windowed_workspaces(self) -> list[str]:
        return sorted({d["workspace"] async for d in self.segments.find({"windowed": True}, {"workspace": 1})})

    async def delete(self, workspace: str, segment_id: str) -> bool:
        result = await self.segments.delete_one({"_id": segment_id, "workspace": workspace})
        return result.deleted_count == 1
