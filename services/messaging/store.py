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
  Delivery adds gen (dispatch generation), due_at (deferred messages),
  to/timezone/topic/template_id, provider_id, delivered_at, opened_at,
  clicked_at, conversions ([event ids]) and revenue.
- `templates`: {_id, workspace, name, channel (type), content, created_at,
  updated_at}; unique on (workspace, name).
- `policies`: {_id: workspace, quiet hours, default time zone, caps, conversion settings}.
- `unsubscribes`: {_id: "<ws>|<person>", opted_out: ["<channel>|<category or *>"]}.
- `inbox`: in-app messages {_id: message id, workspace, person_id, title,
  body, deep_link, data, created_at, read_at}.
- `engagement_events`: Delivered/Opened/Clicked events waiting to be put on
  events.raw (they need the person's identifiers from identity first).
- `conversions`: {_id: "<ws>|<event message id>"}, so a redelivered order event
  is attributed once.
- `identity_log`: what identity events left behind that a later (reordered or
  replayed) event must respect: {_id: "<ws>:unmerged:<merge_id>"} for undone
  merges, {_id: "<ws>:forgotten:<person_id>"} for forgotten persons (the
  internal id only, nothing personal).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.erasure import erased_digest
from services.kit.mongo import IndexSpec, is_duplicate_key
from services.messaging.channels import keep_secrets, masked_keys
from services.messaging.messages import DEFERRED, QUEUED, SENDING

INDEXES = [
    IndexSpec("channels", [("workspace", 1), ("name", 1)], unique=True, name="channel_unique"),
    IndexSpec("messages", [("workspace", 1), ("idempotency_key", 1)], unique=True, name="idempotency_unique"),
    IndexSpec("messages", [("workspace", 1), ("person_id", 1), ("created_at", -1)], name="by_person"),
    IndexSpec("messages", [("workspace", 1), ("merged_via.merge_id", 1)], name="by_merge"),
    IndexSpec("messages", [("workspace", 1), ("original_person_id", 1)], name="by_original_person"),
    IndexSpec("messages", [("status", 1), ("due_at", 1)], name="by_due"),
    IndexSpec("messages", [("status", 1), ("sending_at", 1)], name="by_sending"),
    IndexSpec("messages", [("workspace", 1), ("campaign_id", 1)], name="by_campaign"),
    IndexSpec("messages", [("workspace", 1), ("template_id", 1)], name="by_template"),
    IndexSpec("messages", [("workspace", 1), ("provider_id", 1)], name="by_provider_id"),
    IndexSpec("templates", [("workspace", 1), ("name", 1)], unique=True, name="template_unique"),
    IndexSpec("inbox", [("workspace", 1), ("person_id", 1), ("created_at", -1)], name="inbox_by_person"),
    IndexSpec("engagement_events", [("due", 1)], name="events_by_due"),
]

NEWEST_FIRST = [("created_at", -1), ("_id", -1)]
# SecantusDB's cost of an `$in` on _id grows with the square of the list: 50 at a time.
IN_CHUNK = 50


def chunks(ids: list, size: int = IN_CHUNK) -> list[list]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


class MessagingStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.channels = db["channels"]
        self.messages = db["messages"]
        self.identity_log = db["identity_log"]
        self.templates = db["templates"]
        self.policies = db["policies"]
        self.unsubscribes = db["unsubscribes"]
        self.inbox = db["inbox"]
        self.engagement_events = db["engagement_events"]
        self.conversions = db["conversions"]

    @staticmethod
    async def _update_then_read(collection, query: dict, update: dict, session=None) -> dict | None:
        """A guarded update by _id, then the document; None when the guard did not match.

        Not find_one_and_update: on SecantusDB (the embedded default) that
        command runs at about 25/s against 400/s for update_one plus a read by
        _id (measured on 5,000 messages). The guard keeps it race-free: only
        one caller's update matches, and it reads back what it changed.
        """
        result = await collection.update_one(query, update, session=session)
        if result.matched_count != 1:
            return None
        return await collection.find_one({"_id": query["_id"]}, session=session)

    # -- channels ------------------------------------------------------------
    async def upsert_channel(self, workspace: str, name: str, type_: str, config: dict, now: dt.datetime) -> dict:
        if masked_keys(type_, config):
            config = keep_secrets(type_, config, await self.channel(workspace, name))
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

    async def list_channels(self, workspace: str) -> list[dict]:
        return await self.channels.find({"workspace": workspace}).sort("name", 1).to_list(None)

    # -- messages ------------------------------------------------------------
    async def insert_message(self, doc: dict, session: AsyncClientSession) -> None:
        await self.messages.insert_one(doc, session=session)

    async def insert_messages(self, docs: list[dict], session: AsyncClientSession) -> None:
        await self.messages.insert_many(docs, ordered=True, session=session)

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

    async def claim(self, workspace: str, message_id: str, gen: int, now: dt.datetime) -> dict | None:
        """Move a queued message of dispatch `gen` to sending; None when it is not (any more).

        The status and generation filter is the guard against sending twice:
        only one claimer wins, an old or duplicate outbound record matches
        nothing, and a message left "sending" by a crash is only ever picked up
        by reconciliation.
        """
        return await self._update_then_read(
            self.messages,
            {"_id": message_id, "workspace": workspace, "status": QUEUED, "gen": gen},
            {"$set": {"status": SENDING, "sending_at": now, "updated_at": now}, "$inc": {"attempts": 1}},
        )

    async def claim_many(self, claims: list[tuple[str, str, int]], now: dt.datetime) -> dict[str, dict]:
        """`claim` for many (workspace, message id, gen) at once; the claimed documents by id.

        The guard of `claim` holds for each message. One update_many per
        workspace, generation and chunk of ids, all marked with a token of this
        call, so the read that follows returns exactly what this call moved (not
        a message a duplicate record or another worker claimed). On SecantusDB an
        update_many over 50 ids costs about 1.2 ms a document against 3 ms for
        each guarded update of a bulk_write (measured, bench/README.md).
        """
        if not claims:
            return {}
        token = uuid.uuid4().hex
        groups: dict[tuple[str, int], list[str]] = {}
        for workspace, message_id, gen in claims:
            groups.setdefault((workspace, gen), []).append(message_id)
        update = {
            "$set": {"status": SENDING, "sending_at": now, "updated_at": now, "claim": token},
            "$inc": {"attempts": 1},
        }
        matched = 0
        for (workspace, gen), ids in groups.items():
            for chunk in chunks(list(dict.fromkeys(ids))):
                query = {"_id": {"$in": chunk}, "workspace": workspace, "status": QUEUED, "gen": gen}
                matched += (await self.messages.update_many(query, update)).matched_count
        if not matched:
            return {}
        docs: dict[str, dict] = {}
        for chunk in chunks(list(dict.fromkeys(message_id for _, message_id, _ in claims))):
            async for doc in self.messages.find({"_id": {"$in": chunk}, "claim": token}):
                docs[doc["_id"]] = doc
        return docs

    async def statuses(self, ids: list[str], session=None) -> dict[str, dict]:
        """Where each message is: {id: {workspace, status, gen}}; a deleted one is absent."""
        out: dict[str, dict] = {}
        for chunk in chunks(list(dict.fromkeys(ids))):
            projection = {"workspace": 1, "status": 1, "gen": 1}
            async for doc in self.messages.find({"_id": {"$in": chunk}}, projection, session=session):
                out[doc["_id"]] = doc
        return out

    async def finish_many(self, changes: list[tuple[dict, dict]], now: dt.datetime, session) -> int:
        """Guarded updates ({_id, workspace, status[, gen]}, $set fields) in as few writes as can be; how many matched.

        Changes with the same guard fields and the same update share one
        update_many per chunk of ids (the usual case: a batch of sends all
        becoming "sent"); the rest go in one bulk_write.
        """
        groups: dict[tuple, list[tuple[dict, dict]]] = {}
        for query, fields in changes:
            shape = tuple(sorted((k, v) for k, v in query.items() if k != "_id"))
            groups.setdefault((shape, repr(sorted(fields.items()))), []).append((query, fields))
        matched = 0
        single = []
        for group in groups.values():
            if len(group) == 1:
                single.append(UpdateOne(group[0][0], {"$set": {**group[0][1], "updated_at": now}}))
                continue
            query, fields = group[0]
            guard = {k: v for k, v in query.items() if k != "_id"}
            for chunk in chunks([q["_id"] for q, _ in group]):
                result = await self.messages.update_many(
                    {"_id": {"$in": chunk}, **guard}, {"$set": {**fields, "updated_at": now}}, session=session
                )
                matched += result.matched_count
        if single:
            matched += (await self.messages.bulk_write(single, ordered=False, session=session)).matched_count
        return matched

    async def finish(
        self,
        workspace: str,
        message_id: str,
        update: dict,
        now: dt.datetime,
        session: AsyncClientSession | None,
        from_status: str = SENDING,
        gen: int | None = None,
    ) -> dict | None:
        """Record an outcome of a message in `from_status`; None when it is not in it."""
        query = {"_id": message_id, "workspace": workspace, "status": from_status}
        if gen is not None:
            query["gen"] = gen
        return await self._update_then_read(self.messages, query, {"$set": {**update, "updated_at": now}}, session)

    async def due(self, now: dt.datetime, limit: int) -> list[dict]:
        """Deferred messages whose time has come, oldest first."""
        cursor = self.messages.find({"status": DEFERRED, "due_at": {"$lte": now}}).sort("due_at", 1).limit(limit)
        return await cursor.to_list(None)

    async def requeue(self, doc: dict, now: dt.datetime, session, from_status: str = DEFERRED) -> dict | None:
        """Queue a message again under a new dispatch generation."""
        return await self._update_then_read(
            self.messages,
            {"_id": doc["_id"], "status": from_status, "gen": doc.get("gen", 1)},
            {"$set": {"status": QUEUED, "updated_at": now}, "$inc": {"gen": 1}, "$unset": {"due_at": ""}},
            session,
        )

    async def requeue_due(self, ids: list[str], now: dt.datetime, session) -> list[dict]:
        """Queue again, each under a new dispatch generation, those of `ids` still deferred and due.

        One update_many (guarded by status and due time, so a message another
        scheduler requeued or a worker deferred again is left alone) and one
        read of exactly what it moved, by a token of this call.
        """
        token = uuid.uuid4().hex
        result = await self.messages.update_many(
            {"_id": {"$in": ids}, "status": DEFERRED, "due_at": {"$lte": now}},
            {
                "$set": {"status": QUEUED, "updated_at": now, "requeue": token},
                "$inc": {"gen": 1},
                "$unset": {"due_at": ""},
            },
            session=session,
        )
        if not result.matched_count:
            return []
        return await self.messages.find({"_id": {"$in": ids}, "requeue": token}, session=session).to_list(None)

    async def stale_sending(self, older_than: dt.datetime, limit: int) -> list[dict]:
        cursor = self.messages.find({"status": SENDING, "sending_at": {"$lt": older_than}}).limit(limit)
        return await cursor.to_list(None)

    # -- templates -----------------------------------------------------------
    async def insert_template(self, doc: dict) -> None:
        await self.templates.insert_one(doc)

    async def template(self, workspace: str, template_id: str) -> dict | None:
        return await self.templates.find_one({"_id": template_id, "workspace": workspace})

    async def replace_template(self, workspace: str, template_id: str, fields: dict) -> dict | None:
        return await self._update_then_read(
            self.templates, {"_id": template_id, "workspace": workspace}, {"$set": fields}
        )

    async def list_templates(self, workspace: str) -> list[dict]:
        return await self.templates.find({"workspace": workspace}).sort("name", 1).to_list(None)

    async def delete_template(self, workspace: str, template_id: str) -> bool:
        return (await self.templates.delete_one({"_id": template_id, "workspace": workspace})).deleted_count == 1

    # -- policy and unsubscribes ---------------------------------------------
    async def policy(self, workspace: str) -> dict | None:
        return await self.policies.find_one({"_id": workspace})

    async def set_policy(self, workspace: str, doc: dict, now: dt.datetime) -> dict:
        await self.policies.replace_one({"_id": workspace}, {**doc, "updated_at": now}, upsert=True)
        return await self.policies.find_one({"_id": workspace})

    async def unsubscribe(self, workspace: str, person_id: str, channel: str, category: str, now: dt.datetime) -> None:
        # One document per person, so the pipeline's check is one lookup by _id.
        await self.unsubscribes.update_one(
            {"_id": f"{workspace}|{person_id}"},
            {
                "$addToSet": {"opted_out": f"{channel}|{category}"},
                "$set": {"updated_at": now},
                "$setOnInsert": {"workspace": workspace, "person_id": person_id},
            },
            upsert=True,
        )

    async def resubscribe(self, workspace: str, person_id: str, channel: str, category: str) -> bool:
        result = await self.unsubscribes.update_one(
            {"_id": f"{workspace}|{person_id}"}, {"$pull": {"opted_out": f"{channel}|{category}"}}
        )
        return result.modified_count == 1

    async def unsubscribed(self, workspace: str, person_id: str, channel: str, category: str) -> bool:
        """Opted out of this channel for this category, or of the channel for everything ("*")."""
        doc = await self.unsubscribes.find_one({"_id": f"{workspace}|{person_id}"}, {"opted_out": 1})
        opted = set((doc or {}).get("opted_out", []))
        return f"{channel}|{category}" in opted or f"{channel}|*" in opted

    # -- inbox ---------------------------------------------------------------
    async def put_in_inbox(self, doc: dict) -> None:
        # Keyed by message id: a re-delivery of the same message stores it once.
        await self.inbox.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)

    async def inbox_of(self, workspace: str, person_id: str, limit: int, unread_only: bool) -> list[dict]:
        query = {"workspace": workspace, "person_id": person_id}
        if unread_only:
            query["read_at"] = None
        return await self.inbox.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit).to_list(None)

    async def mark_read(self, workspace: str, message_id: str, now: dt.datetime) -> dict | None:
        await self.inbox.update_one(
            {"_id": message_id, "workspace": workspace, "read_at": None}, {"$set": {"read_at": now}}
        )
        return await self.inbox.find_one({"_id": message_id, "workspace": workspace})

    # -- engagement ----------------------------------------------------------
    async def first_time(
        self, workspace: str, message_id: str, field: str, now: dt.datetime, session=None
    ) -> dict | None:
        """Set `field` (delivered_at, opened_at, clicked_at) once; the message when this call set it."""
        return await self._update_then_read(
            self.messages, {"_id": message_id, "workspace": workspace, field: None}, {"$set": {field: now}}, session
        )

    async def message_by_provider_id(self, workspace: str, provider_id: str) -> dict | None:
        return await self.messages.find_one({"workspace": workspace, "provider_id": provider_id})

    async def latest_touch(
        self, workspace: str, person_id: str, since: dt.datetime, until: dt.datetime | None = None
    ) -> dict | None:
        """The person's message with the latest send or click in [since, until] (last touch)."""
        docs = (
            await self.messages.find(
                {"workspace": workspace, "person_id": person_id}, {"sent_at": 1, "clicked_at": 1, "campaign_id": 1}
            )
            .sort(NEWEST_FIRST)
            .limit(200)
            .to_list(None)
        )
        best, best_at = None, None
        for doc in docs:
            touches = (doc.get("sent_at"), doc.get("clicked_at"))
            at = max((t for t in touches if t is not None and (until is None or t <= until)), default=None)
            if at is not None and at >= since and (best_at is None or at > best_at):
                best, best_at = doc, at
        return best

    async def attribute(self, workspace: str, event_id: str, message_id: str, revenue: float, now, session) -> bool:
        """Count one conversion once per event; False when the event was attributed before."""
        try:
            await self.conversions.insert_one(
                {"_id": f"{workspace}|{event_id}", "message_id": message_id, "revenue": revenue, "at": now},
                session=session,
            )
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        await self.messages.update_one(
            {"_id": message_id, "workspace": workspace},
            {"$push": {"conversions": event_id}, "$inc": {"revenue": revenue}},
            session=session,
        )
        return True

    async def stats(self, workspace: str, campaign_id: str, template_id: str) -> dict:
        query: dict = {"workspace": workspace}
        if campaign_id:
            query["campaign_id"] = campaign_id
        if template_id:
            query["template_id"] = template_id
        projection = {
            "status": 1,
            "sent_at": 1,
            "delivered_at": 1,
            "opened_at": 1,
            "clicked_at": 1,
            "conversions": 1,
            "revenue": 1,
        }
        counts = dict.fromkeys(("total", "sent", "delivered", "opened", "clicked", "converted", "failed", "skipped"), 0)
        revenue = 0.0
        async for doc in self.messages.find(query, projection):
            counts["total"] += 1
            if doc.get("sent_at") is not None:
                counts["sent"] += 1
            for field, name in (("delivered_at", "delivered"), ("opened_at", "opened"), ("clicked_at", "clicked")):
                if doc.get(field) is not None:
                    counts[name] += 1
            if doc.get("conversions"):
                counts["converted"] += 1
                revenue += float(doc.get("revenue", 0.0))
            if doc.get("status") in ("failed", "skipped"):
                counts[doc["status"]] += 1
        counts["revenue"] = round(revenue, 2)
        return counts

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
        await self.inbox.update_many(
            {"workspace": workspace, "person_id": loser_id}, {"$set": {"person_id": winner_id}}
        )
        # An opt-out given under either identity still holds for the merged person.
        opted = await self.unsubscribes.find_one({"_id": f"{workspace}|{loser_id}"})
        if opted and opted.get("opted_out"):
            await self.unsubscribes.update_one(
                {"_id": f"{workspace}|{winner_id}"},
                {
                    "$addToSet": {"opted_out": {"$each": opted["opted_out"]}},
                    "$setOnInsert": {"workspace": workspace, "person_id": winner_id},
                },
                upsert=True,
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
        # What else names the person: the inbox, opt-outs, events not yet emitted.
        await self.inbox.delete_many({"workspace": workspace, "person_id": person_id})
        await self.unsubscribes.delete_one({"_id": f"{workspace}|{person_id}"})
        await self.engagement_events.delete_many({"workspace": workspace, "person_id": person_id})
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
