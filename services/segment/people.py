"""The data behind the bitmaps, in MongoDB (the source of truth a rebuild reads).

segment_people    {_id: "<ws>:<uid>", workspace, uid, person_id, attrs: {path: value}, applied: [cause ids]}
                  attrs keys are profile.changed paths with "." replaced by "/" (Mongo field names).
segment_activity  {_id: "<ws>:<uid>:<period>:<event key>:<yyyymmdd>", workspace, uid, key, period: d|w,
                  day, count}: how often the person did the event that day / ISO week.
segment_seen      {_id: "<ws>:<message id>", at}: events already counted (idempotency).
segment_fields    {_id: "<ws>:<path>", workspace, path, kinds: [...], declared: [...]}: traits and tags
                  seen so far or declared by an operator ahead of data, which is what rules may name.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.errors import InvalidInput
from services.kit.mongo import IndexSpec, in_transaction, is_duplicate_key
from services.kit.rules import BOOL, LIST, NUMBER, TEXT
from services.segment import encoding as enc

INDEXES = [
    IndexSpec("segment_people", [("workspace", 1), ("uid", 1)], name="by_uid"),
    IndexSpec("segment_activity", [("workspace", 1), ("uid", 1)], name="by_uid"),
    IndexSpec("segment_fields", [("workspace", 1)], name="by_workspace"),
]
# What the rule language can name after "traits." / "tags." (rules.py's path token).
FIELD_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*\Z", re.UNICODE)
DECLARABLE = (BOOL, NUMBER, TEXT, LIST)
# Ids per `$in` (SecantusDB's cost of an `$in` grows with the square of its list).
IN_CHUNK = 50
APPLIED_KEPT = 50  # cause ids remembered per person (replays arrive within a partition's uncommitted tail)


def field_name(path: str) -> str:
    return path.replace(".", "/")


def path_of(field: str) -> str:
    return field.replace("/", ".")


def kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if isinstance(value, list):
        return LIST
    return None


class People:
    def __init__(self, client, db: AsyncDatabase) -> None:
        self.client = client
        self.people = db["segment_people"]
        self.activity = db["segment_activity"]
        self.seen = db["segment_seen"]
        self.fields = db["segment_fields"]
        self._known: set[tuple[str, str, str]] = set()

    async def apply_changes(
        self, workspace: str, uid: int, person_id: str, values: dict[str, Any], cause: str
    ) -> tuple[dict, bool]:
        """Record the person's new attribute values once per cause; returns (document, was it new)."""
        sets: dict[str, Any] = {"workspace": workspace, "uid": uid}
        if person_id:
            sets["person_id"] = person_id
        unsets = {}
        for path, value in values.items():
            if value is None:
                unsets[f"attrs.{field_name(path)}"] = ""
            else:
                sets[f"attrs.{field_name(path)}"] = value
        update: dict[str, Any] = {"$set": sets, "$push": {"applied": {"$each": [cause], "$slice": -APPLIED_KEPT}}}
        if unsets:
            update["$unset"] = unsets
        _id = f"{workspace}:{uid}"
        # update_one and a read by _id, not find_one_and_update: SecantusDB writes a findAndModify
        # through the filter {_id, $and: [query]}, which no index serves, so every profile change
        # read the whole collection (548 scans of segment_people in an 8,000-event import). The
        # caller holds the person's lock, so the read sees this update and no other.
        try:
            result = await self.people.update_one({"_id": _id, "applied": {"$ne": cause}}, update, upsert=True)
            fresh = result.modified_count == 1 or result.upserted_id is not None
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            fresh = False  # the cause is already in `applied`: a replay
        doc = await self.people.find_one({"_id": _id}) or {"attrs": {}}
        await self._note_fields(workspace, values)
        return doc, fresh

    async def ensure(self, workspace: str, uid: int, person_id: str) -> None:
        """A person known only from events (or restored by an unmerge) still has a document."""
        sets = {"workspace": workspace, "uid": uid}
        if person_id:
            sets["person_id"] = person_id
        await self.people.update_one({"_id": f"{workspace}:{uid}"}, {"$set": sets}, upsert=True)

    async def _note_fields(self, workspace: str, values: dict[str, Any]) -> None:
        for path, value in values.items():
            if not (path.startswith("traits.") or path.startswith("tags.")) or value is None:
                continue
            kind = "tag" if path.startswith("tags.") else kind_of(value)
            if kind is None or (workspace, path, kind) in self._known:
                continue
            await self.fields.update_one(
                {"_id": f"{workspace}:{path}"},
                {"$set": {"workspace": workspace, "path": path}, "$addToSet": {"kinds": kind}},
                upsert=True,
            )
            self._known.add((workspace, path, kind))

    async def declare_field(self, workspace: str, path: str, kind: str) -> dict:
        """Make a trait (of a kind) or a tag known before any data has it; idempotent."""
        source, _, name = path.partition(".")
        if source not in ("traits", "tags") or not FIELD_NAME.match(name):
            raise InvalidInput(
                f"path must be traits.<name> or tags.<name> (letters, digits and _, not starting with a digit), "
                f"not {path!r}",
                "path",
            )
        if source == "tags":
            if kind not in ("", "tag"):
                raise InvalidInput(f"a tag has no kind to declare, not {kind!r}", "kind")
            kind = "tag"
        elif kind not in DECLARABLE:
            raise InvalidInput(f"kind must be one of {', '.join(DECLARABLE)}, not {kind!r}", "kind")
        # An upsert that races another writer's first insert of the same field (the worker records
        # fields it sees) fails on the duplicate key, or on the embedded store answers no document:
        # the field exists by then, so the same update applies on the next try.
        for _ in range(3):
            try:
                doc = await self.fields.find_one_and_update(
                    {"_id": f"{workspace}:{path}"},
                    {"$set": {"workspace": workspace, "path": path}, "$addToSet": {"kinds": kind, "declared": kind}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
                continue
            if doc is not None:
                return doc
        raise RuntimeError(f"declaring {path} kept racing another writer of the field")

    async def known_fields(self, workspace: str) -> tuple[dict[str, set[str]], set[str]]:
        traits: dict[str, set[str]] = {}
        tags: set[str] = set()
        async for doc in self.fields.find({"workspace": workspace}):
            source, _, name = doc["path"].partition(".")
            if source == "tags":
                tags.add(name)
            else:
                traits[name] = set(doc.get("kinds", []))
        return traits, tags

    async def record_event(
        self, workspace: str, uid: int, message_id: str, keys: list[str], day: dt.date
    ) -> tuple[list[tuple[str, int, int]], bool]:
        """Count one event once; returns the (period key, count, expires at) to set, and whether it was new."""
        week = enc.monday(day)
        ids = []
        for key in keys:
            ids.append((f"{workspace}:{uid}:d:{key}:{day:%Y%m%d}", key, "d", day))
            ids.append((f"{workspace}:{uid}:w:{key}:{week:%Y%m%d}", key, "w", week))

        async def work(session):
            # A duplicate key aborts the transaction: the event was counted before.
            await self.seen.insert_one({"_id": f"{workspace}:{message_id}", "uid": uid}, session=session)
            # Every period of the event in one command (one update per period cost a round trip each).
            ops = [
                UpdateOne(
                    {"_id": _id},
                    {
                        "$inc": {"count": 1},
                        "$set": {
                            "workspace": workspace,
                            "uid": uid,
                            "key": key,
                            "period": period,
                            "day": start.strftime("%Y%m%d"),
                        },
                    },
                    upsert=True,
                )
                for _id, key, period, start in ids
            ]
            if ops:
                await self.activity.bulk_write(ops, ordered=True, session=session)
            return True

        fresh = await _once(self.client, self.seen, f"{workspace}:{message_id}", work)
        counts = {doc["_id"]: doc["count"] for doc in await self._by_ids([i[0] for i in ids])}
        out = []
        for _id, key, period, start in ids:
            if _id in counts:
                last = start if period == "d" else start + dt.timedelta(days=6)
                out.append((f"e:{key}:{period}:{start:%Y%m%d}", counts[_id], enc.expires_at(last)))
        return out, fresh

    async def _by_ids(self, ids: list[str]) -> list[dict]:
        """Activity documents by _id, IN_CHUNK ids a query (SecantusDB's `$in` costs the square of its list)."""
        out = []
        for i in range(0, len(ids), IN_CHUNK):
            out += await self.activity.find({"_id": {"$in": ids[i : i + IN_CHUNK]}}).to_list(None)
        return out

    async def activity_of(self, workspace: str, uid: int) -> list[tuple[str, int, int]]:
        """The uid's own behaviour counts as (period key, count, expires at)."""
        out = []
        async for doc in self.activity.find({"workspace": workspace, "uid": uid}):
            if doc.get("merged_into") is None:
                out.append(_period(doc))
        return out

    async def move_activity(
        self, workspace: str, source: int, target: int, merge_id: str, sign: int
    ) -> list[tuple[str, int, int]]:
        """A merge adds the loser's counts to the winner (sign 1); an unmerge takes them back (-1).

        Once per merge and direction; the loser's documents stay (marked) so an unmerge
        knows what to take back. Returns the target's changed periods.
        """
        marker = f"{workspace}:merge:{merge_id}:{sign}"

        async def work(session):
            await self.seen.insert_one({"_id": marker, "uid": target}, session=session)
            # By the index's fields only, merged_into checked here: SecantusDB serves a filter no index
            # covers by its first field alone, and {workspace, uid, merged_into} read the workspace's
            # every activity document (1,000-2,600 per merge in an 8,000-event import).
            found = await self.activity.find({"workspace": workspace, "uid": source}, session=session).to_list(None)
            docs = [d for d in found if d.get("merged_into") == (target if sign < 0 else None)]
            touched, ops = [], []
            mark = {"$set": {"merged_into": target}} if sign > 0 else {"$unset": {"merged_into": ""}}
            for doc in docs:
                _id = f"{workspace}:{target}:{doc['period']}:{doc['key']}:{doc['day']}"
                ops.append(
                    UpdateOne(
                        {"_id": _id},
                        {
                            "$inc": {"count": sign * doc["count"]},
                            "$set": {
                                "workspace": workspace,
                                "uid": target,
                                "key": doc["key"],
                                "period": doc["period"],
                                "day": doc["day"],
                            },
                        },
                        upsert=True,
                    )
                )
                ops.append(UpdateOne({"_id": doc["_id"]}, mark))
                touched.append(_id)
            if ops:
                # One command for all of the loser's periods, in order (a period may repeat).
                await self.activity.bulk_write(ops, ordered=True, session=session)
            return touched

        touched = await _once(self.client, self.seen, marker, work) or []
        return [_period(doc) for doc in await self._by_ids(list(dict.fromkeys(touched)))]

    async def erase_attrs(self, workspace: str, uid: int) -> None:
        await self.people.delete_one({"_id": f"{workspace}:{uid}"})

    async def erase(self, workspace: str, uid: int) -> None:
        """A forgotten or merged-away uid keeps no data here."""
        await self.people.delete_one({"_id": f"{workspace}:{uid}"})
        await self.activity.delete_many({"workspace": workspace, "uid": uid})


def attrs_of(doc: dict) -> dict[str, Any]:
    return {path_of(k): v for k, v in (doc.get("attrs") or {}).items()}


def _period(doc: dict) -> tuple[str, int, int]:
    start = dt.datetime.strptime(doc["day"], "%Y%m%d").date()
    last = start if doc["period"] == "d" else start + dt.timedelta(days=6)
    return f"e:{doc['key']}:{doc['period']}:{doc['day']}", max(0, doc["count"]), enc.expires_at(last)


async def _once(client, seen, marker: str, work):
    """Run `work` in a transaction that also inserts `marker`; None when the marker exists (done before)."""
    if await seen.find_one({"_id": marker}, {"_id": 1}):
        return None
    try:
        return await in_transaction(client, work)
    except Exception as exc:
        if is_duplicate_key(exc):
            return None
        raise
