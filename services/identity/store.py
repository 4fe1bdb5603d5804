"""MongoDB access for identity: workspaces, identifiers, persons, uid counters.

Collections:
- `workspaces`: {_id: workspace id, name, write_keys: [...]}
- `identities`: {workspace, type, value, person_id}; unique on (workspace, type, value),
  which is what guarantees that no identifier belongs to two persons.
- `persons`: {_id: ONE_ID, workspace, uid, created_at, merged_into?}
- `counters`: {_id: "uid:<workspace>", seq}: dense uids per workspace for bitmaps.
- `merges`: the merge log, {_id, workspace, winner, loser, moved, attached, cause_message_id,
  rule, reason, at, undone, undone_at, undo_reason}.
- `suppressed_identifiers`: {_id: identifier_digest(workspace, type, value), workspace, type, at}:
  identifiers of forgotten persons, hashed (never the value), so that replayed or late events
  carrying them cannot recreate the person; `allowIdentifier` lifts one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.erasure import identifier_digest
from services.kit.errors import Conflict, InvalidInput, NotFound
from services.kit.mongo import IndexSpec, find_in, insert_new, is_duplicate_key

INDEXES = [
    IndexSpec("identities", [("workspace", 1), ("type", 1), ("value", 1)], unique=True, name="identifier_unique"),
    IndexSpec("identities", [("workspace", 1), ("person_id", 1)], name="by_person"),
    IndexSpec("persons", [("workspace", 1), ("uid", 1)], unique=True, name="uid_unique"),
    IndexSpec("workspaces", [("write_keys", 1)], unique=True, name="write_key_unique"),
    IndexSpec("merges", [("workspace", 1), ("winner", 1), ("at", -1)], name="by_winner"),
    IndexSpec("merges", [("workspace", 1), ("loser", 1), ("at", -1)], name="by_loser"),
]


class IdentityStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.identities = db["identities"]
        self.persons = db["persons"]
        self.counters = db["counters"]
        self.workspaces = db["workspaces"]
        self.merges = db["merges"]
        self.suppressed = db["suppressed_identifiers"]

    # -- workspaces --------------------------------------------------------
    async def create_workspace(self, workspace_id: str, name: str, write_key: str | None) -> dict:
        if not workspace_id or len(workspace_id) > 64 or not workspace_id.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput("workspace id must be 1-64 letters, digits, '-' or '_'", "id")
        key = write_key or secrets.token_urlsafe(24)
        doc = {"_id": workspace_id, "name": name or workspace_id, "write_keys": [key]}
        try:
            await self.workspaces.insert_one(doc)
        except Exception as exc:
            if is_duplicate_key(exc):
                raise Conflict(f"workspace {workspace_id!r} or its write key exists already", "id") from None
            raise
        return doc

    async def get_workspace(self, workspace_id: str) -> dict | None:
        return await self.workspaces.find_one({"_id": workspace_id})

    async def workspace_for_key(self, write_key: str) -> str | None:
        doc = await self.workspaces.find_one({"write_keys": write_key}, {"_id": 1})
        return doc["_id"] if doc else None

    # -- identifiers and persons -------------------------------------------
    async def owners(self, workspace: str, identifiers: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Which person holds each identifier (those nobody holds are absent).

        One `$in` per identifier type (see kit find_in): a poll's new shoppers
        cost a few queries instead of one per identifier.
        """
        by_type: dict[str, list] = {}
        for t, v in identifiers:
            by_type.setdefault(t, []).append(v)
        found = await asyncio.gather(
            *(
                find_in(
                    self.identities,
                    {"workspace": workspace, "type": t},
                    "value",
                    values,
                    {"type": 1, "value": 1, "person_id": 1},
                )
                for t, values in by_type.items()
            )
        )
        return {(d["type"], d["value"]): d["person_id"] for docs in found for d in docs}

    async def claim(self, workspace: str, id_type: str, value: str, person_id: str, now: dt.datetime) -> bool:
        """Give an unowned identifier to a person; False when someone holds it already."""
        try:
            await self.identities.insert_one(
                {"workspace": workspace, "type": id_type, "value": value, "person_id": person_id, "created_at": now}
            )
            return True
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise

    async def claim_many(self, docs: list[dict]) -> set[int]:
        """Claim many unowned identifiers at once; returns the positions someone held already."""
        return await insert_new(self.identities, docs)

    async def create_persons(self, workspace: str, person_ids: list[str], now: dt.datetime) -> list[dict]:
        """New person documents with consecutive dense uids (one counter update for all)."""
        last = await self._next_uid(workspace, len(person_ids))
        docs = [
            {"_id": pid, "workspace": workspace, "uid": last - len(person_ids) + 1 + n, "created_at": now}
            for n, pid in enumerate(person_ids)
        ]
        # A position that collides was created by a concurrent resolver that saw our
        # claim before our person document (see ensure_person): its uid stands, ours is a gap.
        for n in await insert_new(self.persons, docs):
            docs[n], _ = await self.ensure_person(workspace, docs[n]["_id"], now)
        return docs

    async def ensure_person(self, workspace: str, person_id: str, now: dt.datetime) -> tuple[dict, bool]:
        """The person document, created with a fresh dense uid when missing."""
        existing = await self.persons.find_one({"_id": person_id})
        if existing:
            return existing, False
        uid = await self._next_uid(workspace)
        try:
            await self.persons.update_one(
                {"_id": person_id},
                {"$setOnInsert": {"workspace": workspace, "uid": uid, "created_at": now}},
                upsert=True,
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        # A concurrent creator may have won the upsert; its uid stands and ours is a gap.
        # Its insert can collide with ours a moment before it is visible to reads.
        for attempt in range(50):
            doc = await self.persons.find_one({"_id": person_id})
            if doc is not None:
                return doc, doc["uid"] == uid
            await asyncio.sleep(0.002 * (attempt + 1))
        raise RuntimeError(f"person {person_id} neither created nor visible")

    async def _next_uid(self, workspace: str, count: int = 1) -> int:
        """Reserve `count` uids; returns the last of them.

        No upsert: SecantusDB can answer one of two racing first-ever upserts with
        no document although it applied the increment, and asking again would skip
        uids. The counter is created by a plain insert (a racing twin is a harmless
        duplicate key) and then only ever incremented.
        """
        counter = f"uid:{workspace}"
        for _ in range(2):
            doc = await self.counters.find_one_and_update(
                {"_id": counter}, {"$inc": {"seq": count}}, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                return int(doc["seq"])
            await insert_new(self.counters, [{"_id": counter, "seq": 0}])
        raise RuntimeError(f"uid counter of workspace {workspace} could not be created")

    async def person(self, workspace: str, person_id: str) -> dict | None:
        return await self.persons.find_one({"_id": person_id, "workspace": workspace})

    async def persons_by_ids(self, workspace: str, person_ids: list[str]) -> dict[str, dict]:
        found = await find_in(self.persons, {"workspace": workspace}, "_id", person_ids)
        return {d["_id"]: d for d in found}

    async def identifiers_of(self, workspace: str, person_ids: list[str]) -> dict[str, list[dict]]:
        found = await find_in(self.identities, {"workspace": workspace}, "person_id", person_ids)
        return {
            pid: sorted((d for d in found if d["person_id"] == pid), key=lambda d: (d["type"], d["value"]))
            for pid in person_ids
        }

    # -- rules, merges, forgetting --------------------------------------------
    async def rules_document(self, workspace: str) -> dict | None:
        doc = await self.workspaces.find_one({"_id": workspace}, {"identity_rules": 1})
        return (doc or {}).get("identity_rules")

    async def set_rules_document(self, workspace: str, rules: dict) -> None:
        result = await self.workspaces.update_one({"_id": workspace}, {"$set": {"identity_rules": rules}})
        if result.matched_count == 0:
            raise NotFound(f"workspace {workspace!r} not found", "workspace_id")

    async def holdings(self, workspace: str, person_ids: list[str], session=None) -> dict[str, list[tuple[str, str]]]:
        found = await find_in(self.identities, {"workspace": workspace}, "person_id", person_ids, session=session)
        held: dict[str, list[tuple[str, str]]] = {pid: [] for pid in person_ids}
        for d in found:
            held[d["person_id"]].append((d["type"], d["value"]))
        return held

    async def live_target(self, workspace: str, person_id: str) -> str:
        """Follow merged_into from an alias to the live person it resolves to."""
        seen = set()
        while person_id not in seen:
            seen.add(person_id)
            doc = await self.persons.find_one({"_id": person_id, "workspace": workspace}, {"merged_into": 1})
            if not doc or not doc.get("merged_into"):
                return person_id
            person_id = doc["merged_into"]
        return person_id

    async def suppress(self, workspace: str, identifiers: list[tuple[str, str]], now: dt.datetime, session) -> None:
        """Remember forgotten identifiers by digest only; idempotent (a replayed forget changes nothing)."""
        for id_type, value in identifiers:
            await self.suppressed.update_one(
                {"_id": identifier_digest(workspace, id_type, value)},
                {"$setOnInsert": {"workspace": workspace, "type": id_type, "at": now}},
                upsert=True,
                session=session,
            )

    async def suppressed_among(self, workspace: str, identifiers: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (normalised) identifiers belonged to a forgotten person."""
        by_digest = {identifier_digest(workspace, t, v): (t, v) for t, v in identifiers}
        if not by_digest:
            return set()
        found = await self.suppressed.find({"_id": {"$in": list(by_digest)}}, {"_id": 1}).to_list(None)
        return {by_digest[d["_id"]] for d in found}

    async def lift_suppression(self, workspace: str, id_type: str, value: str) -> bool:
        """Allow a forgotten identifier again (a deliberate re-registration); False when it was not suppressed."""
        result = await self.suppressed.delete_one({"_id": identifier_digest(workspace, id_type, value)})
        return result.deleted_count == 1

    async def merges_of(self, workspace: str, person_id: str, limit: int) -> list[dict]:
        query = {"workspace": workspace, "$or": [{"winner": person_id}, {"loser": person_id}]}
        return await self.merges.find(query).sort("at", -1).limit(limit).to_list(None)

    async def merge(self, workspace: str, merge_id: str) -> dict | None:
        return await self.merges.find_one({"_id": merge_id, "workspace": workspace})
