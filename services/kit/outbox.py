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

from bson import ObjectId
from google.protobuf.message import Message
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.kafka import Producer
from services.kit.mongo import is_duplicate_key

log = logging.getLogger(__name__)

LEASES = "outbox_leases"


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

    async def add(self, topic: str, key: str, message: Message, session: AsyncClientSession | None = None) -> None:
        """Queue an announcement; pass the session of the transaction making the change."""
        await self.collection.insert_one(
            {"_id": ObjectId(), "topic": topic, "key": key, "payload": message.SerializeToString()},
            session=session,
        )

    async def add_many(self, items: list[tuple[str, str, Message]], session: AsyncClientSession | None = None) -> None:
        """Queue many announcements in one write (a batch of sends)."""
        if items:
            docs = [{"_id": ObjectId(), "topic": t, "key": k, "payload": m.SerializeToString()} for t, k, m in items]
            await self.collection.insert_many(docs, ordered=True, session=session)

    def notify(self) -> None:
        """Called after a transaction that wrote outbox documents, to publish now."""
        self.wake.set()

    async def _hold_lease(self) -> bool:
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
        return doc is not None and doc.get("owner") == self.owner

    async def publish_pending(self, limit: int = 500) -> int:
        docs = await self.collection.find({}).sort("_id", 1).limit(limit).to_list(None)
        if not docs:
            return 0
        items = []
        for doc in docs:
            message = _RawMessage(doc["payload"])
            items.append((doc["topic"], doc["key"], message))
        await self.producer.send_many(items)
        await self.collection.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        self.published += len(docs)
        return len(docs)

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


class _RawMessage:
    """Already-serialised payload that quacks like a protobuf message for Producer."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def SerializeToString(self) -> bytes:
        return self.payload
