"""MongoDB access for segment definitions (`segments`: {_id, workspace, name, rule, ...})."""

from __future__ import annotations

import datetime as dt
import secrets

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.errors import InvalidInput, NotFound
from services.kit.mongo import IndexSpec
from services.segment import rules

INDEXES = [IndexSpec("segments", [("workspace", 1), ("name", 1)], name="by_name")]


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1-200 characters", "name")
    return name


class SegmentStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.segments = db["segments"]

    async def create(self, workspace: str, name: str, rule: str, now: dt.datetime) -> dict:
        rules.parse(rule)  # refuse a rule that does not parse before anything is written
        doc = {
            "_id": f"seg_{secrets.token_hex(8)}",
            "workspace": workspace,
            "name": _name(name),
            "rule": rule.strip(),
            "created_at": now,
            "updated_at": now,
        }
        await self.segments.insert_one(doc)
        return doc

    async def update(self, workspace: str, segment_id: str, name: str | None, rule: str | None, now) -> dict:
        changes: dict = {"updated_at": now}
        if name:
            changes["name"] = _name(name)
        if rule:
            rules.parse(rule)
            changes["rule"] = rule.strip()
        doc = await self.segments.find_one_and_update(
            {"_id": segment_id, "workspace": workspace}, {"$set": changes}, return_document=ReturnDocument.AFTER
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

    async def delete(self, workspace: str, segment_id: str) -> bool:
        result = await self.segments.delete_one({"_id": segment_id, "workspace": workspace})
        return result.deleted_count == 1
