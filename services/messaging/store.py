"""MongoDB access for messaging.

Collections:
- `channels`: {workspace, name, type, config, created_at, updated_at}; unique on
  (workspace, name).
- `messages`: {_id: message id, workspace, person_id, channel, idempotency_key,
  campaign_id, step_id, category, content, status, status_reason, attempts,
  created_at, updated_at, sending_at?, sent_at?, original_person_id?,
  merged_via?}; unique on (workspace, idempotency_key), which is what makes
  the same key send once. A message that identity merges moved to another
  person keeps the person it was sent to in `original_person_id` and, in
  `merged_via`, the merges that carried it ([{merge_id, from}], oldest first)
  so that an unmerge moves back exactly the messages its merge moved.
- `identity_log`: what identity events left behind that a later (reordered or
  replayed) event must respect: {_id: "<ws>:unmerged:<merge_id>"} for undone
  merges, {_id: "<ws>:forgotten:<person_id>"} for forgotten persons (the
  internal id only, nothing personal).
"""

from __future__ import annotations

import datetime as dt

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.erasure import erased_digest
from services.kit.mongo import IndexSpec, is_duplicate_key
from services.messaging.messages import QUEUED, SENDING

INDEXES = [
    IndexSpec("channels", [("workspace", 1), ("name", 1)], unique=True, name="channel_unique"),
    IndexSpec("messages", [("workspace", 1), ("idempotency_key", 1)], unique=True, name="idempotency_unique"),
    IndexSpec("messages", [("workspace", 1), ("person_id", 1), ("created_at", -1)], name="by_person"),
    IndexSpec("messages", [("workspace", 1), ("merged_via.merge_id", 1)], name="by_merge"),
    IndexSpec("messages", [("workspace", 1), ("original_person_id", 1)], name="by_original_person"),
]

NEWEST_FIRST = [("created_at", -1), ("_id", -1)]


class MessagingStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.channels = db["channels"]
        self.messages = db["messages"]
        self.identity_log = db["identity_log"]

    # -- channels ------------------------------------------------------------
    async def upsert_channel(self, workspace: str, name: str, type_: str, config: dict, now: dt.datetime) -> dict:
        for attempt in range(2):
            try:
                return await self.channels.find_one_and_update(
                    {"workspace": workspace, "name": name},
                    {"$set": {"type": type_, "config": config, "updated_at": now}, "$setOnInsert": {"created_at": now}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except Exception as exc:
                # Two first upserts of one name race on the unique index; the loser updates.
                if attempt or not is_duplicate_key(exc):
                    raise
        raise AssertionError("unreachable")

    async def channel(self, workspace: str, name: str) -> dict | None:
        return await self.channels.find_one({"workspace": workspace, "name": name})

    # -- messages ------------------------------------------------------------
    async def insert_message(self, doc: dict, session: AsyncClientSession) -> None:
        await self.messages.insert_one(doc, session=session)

    async def message(self, workspace: str, message_id: str) -> dict | None:
        return await self.messages.find_one({"_id": message_id, "workspace": workspace})

    async def message_by_key(self, workspace: str, key: str) -> dict | None:
        return await self.messages.find_one({"workspace": workspace, "idempotency_key": key})

    async def messages_of(self, workspace: str, person_id: str, limit: int) -> list[dict]:
        cursor = self.messages.find({"workspace": workspace, "person_id": person_id}).sort(NEWEST_FIRST).limit(limit)
        return await cursor.to_list(None)

    async def messages_of_persons(self, workspace: str, person_ids: list[str], limit: int) -> dict[str, list[dict]]:
        """Each person's newest `limit` messages in one round trip."""
        pipeline = [
            {"$match": {"workspace": workspace, "person_id": {"$in": person_ids}}},
            {
                "$group": {
                    "_id": "$person_id",
                    "docs": {"$topN": {"n": limit, "sortBy": dict(NEWEST_FIRST), "output": "$$ROOT"}},
                }
            },
        ]
        out: dict[str, list[dict]] = {pid: [] for pid in person_ids}
        async for group in await self.messages.aggregate(pipeline):
            out[group["_id"]] = group["docs"]
        return out

    async def claim(self, workspace: str, message_id: str, now: dt.datetime) -> dict | None:
        """Move a queued message to sending; None when it is not queued (any more).

        The status filter is the guard against sending twice: only one claimer
        wins, and a message left in "sending" by a crash is never claimed again.
        """
        return await self.messages.find_one_and_update(
            {"_id": message_id, "workspace": workspace, "status": QUEUED},
            {"$set": {"status": SENDING, "sending_at": now, "updated_at": now}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def finish(
        self, workspace: str, message_id: str, update: dict, now: dt.datetime, session: AsyncClientSession
    ) -> dict | None:
        """Record the outcome of a sending message; None when it is not sending."""
        return await self.messages.find_one_and_update(
            {"_id": message_id, "workspace": workspace, "status": SENDING},
            {"$set": {**update, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )

    # -- following identity (merges, unmerges, forgetting) ------------------
    async def move_to_winner(self, workspace: str, merge_id: str, loser_id: str, winner_id: str) -> int:
        """Move the loser's messages to the winner, recording the merge on each; idempotent."""
        # First the person each message was sent to (kept through later merges), then the move.
        await self.messages.update_many(
            {"workspace": workspace, "person_id": loser_id, "original_person_id": {"$exists": False}},
            {"$set": {"original_person_id": loser_id}},
        )
        result = await self.messages.update_many(
            {"workspace": workspace, "person_id": loser_id, "merged_via.merge_id": {"$ne": merge_id}},
            {"$set": {"person_id": winner_id}, "$push": {"merged_via": {"merge_id": merge_id, "from": loser_id}}},
        )
        return result.modified_count

    async def move_back(self, workspace: str, merge_id: str, restored_id: str) -> int:
        """Give back the messages a merge moved, wherever later merges carried them.

        Merges after `merge_id` are dropped from each message's trail: they
        moved the message only because it was then the winner's.
        """
        docs = await self.messages.find(
            {"workspace": workspace, "merged_via.merge_id": merge_id}, {"merged_via": 1}
        ).to_list(None)
        ops = []
        for doc in docs:
            trail = doc["merged_via"]
            kept = trail[: next(i for i, m in enumerate(trail) if m.get("merge_id") == merge_id)]
            ops.append(
                UpdateOne(
                    # Guarded by the trail read, so a concurrent change is not overwritten.
                    {"_id": doc["_id"], "workspace": workspace, "merged_via": trail},
                    {"$set": {"person_id": restored_id, "merged_via": kept}},
                )
            )
        if not ops:
            return 0
        result = await self.messages.bulk_write(ops, ordered=False)
        return result.modified_count

    async def delete_person_messages(self, workspace: str, person_id: str) -> int:
        """Every message the person has now (moved-in ones too) or was sent originally."""
        result = await self.messages.delete_many(
            {"workspace": workspace, "$or": [{"person_id": person_id}, {"original_person_id": person_id}]}
        )
        return result.deleted_count

    async def note_unmerged(self, workspace: str, merge_id: str, at: dt.datetime) -> None:
        await self.identity_log.update_one(
            {"_id": f"{workspace}:unmerged:{merge_id}"},
            {"$setOnInsert": {"workspace": workspace, "kind": "unmerged", "merge_id": merge_id, "at": at}},
            upsert=True,
        )

    async def was_unmerged(self, workspace: str, merge_id: str) -> bool:
        return await self.identity_log.find_one({"_id": f"{workspace}:unmerged:{merge_id}"}) is not None

    async def note_forgotten(self, workspace: str, person_id: str, at: dt.datetime) -> None:
        # A digest only: erasure must not leave the person's id behind.
        digest = erased_digest(workspace, person_id)
        await self.identity_log.update_one(
            {"_id": f"forgotten:{digest}"},
            {"$setOnInsert": {"workspace": workspace, "kind": "forgotten", "at": at}},
            upsert=True,
        )

    async def was_forgotten(self, workspace: str, person_id: str) -> bool:
        return await self.identity_log.find_one({"_id": f"forgotten:{erased_digest(workspace, person_id)}"}) is not None
