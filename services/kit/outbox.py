"""Transactional outbox: a state change and the event announcing it commit together.

Services write outbox documents in the same MongoDB transaction as the change
(`relay.add(..., session)`), into their own collection (`outbox_<service>`: services
may share a database, and a relay must publish only its own service's
documents); the relay publishes them and deletes them after the broker acknowledged.
A crash between the two re-publishes on restart (at-least-once), which is why
consumers dedupe by cause/message id. One relay per service holds a lease so
that replicas do not publish the same documents side by side.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time

from bson import ObjectId
from google.protobuf.message import Message
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.kit import tracing
from services.kit.kafka import Producer
from services.kit.mongo import is_duplicate_key

log = logging.getLogger(__name__)

LEASES = "outbox_leases"
# Announcements per outbox document written by add_many (a document stays far below 16 MB).
GROUP = 500
# Ids per `$in` of a delete (SecantusDB's cost of an `$in` grows with the square of the list).
IN_CHUNK = 50


class OutboxRelay:
    def __init__(self, db: AsyncDatabase, producer: Producer, service: str, lease_seconds: float = 10.0) -> None:
        self.db = db
        self.collection = db[f"outbox_{service}"]
        self.producer = producer
        self.lease_id = f"relay:{service}"
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.wake = asyncio.Event()
        self.published = 0
        # Until when this process knows it holds the lease (monotonic clock): renewing at every
        # wake-up (twice a second when idle) was a findAndModify per wake-up for every service.
        self._held_until = 0.0

    async def add(self, topic: str, key: str, message: Message, session: AsyncClientSession | None = None) -> None:
        """Queue an announcement; pass the session of the transaction making the change."""
        await self.collection.insert_one({"_id": ObjectId(), **_item(topic, key, message)}, session=session)

    async def add_many(self, items: list[tuple[str, str, Message]], session: AsyncClientSession | None = None) -> None:
        """Queue several announcements as one document per GROUP of them (batched writers).

        One document for a batch instead of one per announcement: the store
        then writes (and the relay deletes) one document where it wrote
        hundreds, which on SecantusDB is most of what an announcement costs
        (issue 12: a message's send and delivery went from seven document
        writes to three). The relay publishes a group's items in order.
        """
        if not items:
            return
        docs = []
        for i in range(0, len(items), GROUP):
            group = [_item(t, k, m) for t, k, m in items[i : i + GROUP]]
            docs.append({"_id": ObjectId(), "items": group} if len(group) > 1 else {"_id": ObjectId(), **group[0]})
        if len(docs) == 1:
            await self.collection.insert_one(docs[0], session=session)
        else:
            await self.collection.insert_many(docs, ordered=True, session=session)

    def notify(self) -> None:
        """Called after a transaction that wrote outbox documents, to publish now."""
        self.wake.set()

    async def _hold_lease(self) -> bool:
        # Renewed once half of it is spent: nobody can take it before it ends, so the holder
        # keeps it with one findAndModify per half lease instead of one per wake-up.
        if time.monotonic() < self._held_until:
            return True
        started = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        until = now + dt.timedelta(seconds=self.lease_seconds)
        try:
            doc = await self.db[LEASES].find_one_and_update(
                {"_id": self.lease_id, "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": until}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except Exception as exc:
            # The upsert collides when another live owner holds the lease.
            if is_duplicate_key(exc):
                return False
            raise
        held = doc is not None and doc.get("owner") == self.owner
        self._held_until = started + self.lease_seconds / 2 if held else 0.0
        return held

    async def publish_pending(self, limit: int = 20) -> int:
        """Publish up to `limit` outbox documents (single announcements or groups); how many announcements."""
        found = await self.collection.find({}).sort("_id", 1).limit(limit).to_list(None)
        if not found:
            return 0
        docs, items, headers = [], [], []
        for doc in found:
            # About GROUP announcements a round, as before grouping, so that what waits behind
            # a large backlog (a transactional message's dispatch) waits one round, not twenty.
            if items and len(items) + len(doc.get("items") or (doc,)) > GROUP:
                break
            docs.append(doc)
            for item in doc.get("items") or (doc,):
                items.append((item["topic"], item["key"], _RawMessage(item["payload"])))
                trace = item.get("trace")
                headers.append([(k, v.encode()) for k, v in trace.items()] if trace else None)
        await self.producer.send_many(items, headers)
        # In pieces of IN_CHUNK ids: SecantusDB checks each candidate against the
        # whole `$in` list, so one delete of 500 ids cost 2.5-4.8 ms a document
        # against 0.55-0.8 ms in pieces of 50 (bench/README.md). A range delete
        # would be cheaper still but could take an entry committed late with a
        # smaller id, one never published.
        ids = [d["_id"] for d in docs]
        for i in range(0, len(ids), IN_CHUNK):
            await self.collection.delete_many({"_id": {"$in": ids[i : i + IN_CHUNK]}})
        self.published += len(items)
        return len(items)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                if await self._hold_lease():
                    while await self.publish_pending():
                        pass
            except Exception:
                log.exception("outbox relay failed; retrying")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=0.5)
            except TimeoutError:
                pass


def _item(topic: str, key: str, message: Message) -> dict:
    item = {"topic": topic, "key": key, "payload": message.SerializeToString()}
    # The trace of the change travels with its announcement, so the record the relay sends later
    # continues it instead of starting a new one (nothing is stored when tracing is off).
    trace = tracing.outgoing_headers()
    if trace:
        item["trace"] = trace
    return item


class _RawMessage:
    """Already-serialised payload that quacks like a protobuf message for Producer."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def SerializeToString(self) -> bytes:
        return self.payload
