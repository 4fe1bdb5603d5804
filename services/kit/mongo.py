"""MongoDB client (pymongo's async API) and index creation at start-up."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import pathlib
import threading
from dataclasses import dataclass, field

from pymongo import ASCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

log = logging.getLogger(__name__)


@dataclass
class IndexSpec:
    collection: str
    keys: list[tuple[str, int]]
    unique: bool = False
    name: str | None = None
    options: dict = field(default_factory=dict)

    def model(self) -> IndexModel:
        kwargs = dict(self.options)
        if self.name:
            kwargs["name"] = self.name
        return IndexModel(self.keys, unique=self.unique, **kwargs)


# The embedded default (SecantusDB on loopback, started by tools/stack.py) is
# reached without retryable writes. A retryable write makes the server record
# its reply for replay, and SecantusDB prunes that record by scanning and
# sorting all of it on every write once more than 10,000 writes fall within
# 30 minutes: 12.8 ms a write against 0.77 ms without (issue 12). On loopback
# to a single server there is no failover for a retry to ride out, and every
# write path here is idempotent on its own (unique keys, guarded updates,
# consumers that retry), so nothing is lost. Production URLs (a replica set)
# keep pymongo's default, retryWrites=true.
EMBEDDED_OPTIONS = "directConnection=true&retryWrites=false"


def embedded_url(port: int = 27017, host: str = "127.0.0.1") -> str:
    """The URL of the embedded SecantusDB on loopback."""
    return f"mongodb://{host}:{port}/?{EMBEDDED_OPTIONS}"


class CommandCounts(monitoring.CommandListener):
    """Commands sent, documents written and documents read back, counted by a pymongo listener.

    The benchmarks (bench/steady.py) divide these by the events or messages a
    run moved. Documents written are what the server reports it wrote (`n` of
    insert, update and delete, so an update_many of 50 ids counts 50);
    documents read are those returned in cursor batches and by findAndModify.
    `by_command` keeps the documents per command name, so a benchmark can say
    which commands an event costs, not only how many.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: dict[str, int] = {}
        self.written = 0
        self.read = 0
        # command name -> [documents written, documents read]
        self.by_command: dict[str, list[int]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.commands[event.command_name] = self.commands.get(event.command_name, 0) + 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        reply, name = event.reply, event.command_name
        written = read = 0
        if name in ("insert", "update", "delete"):
            written = int(reply.get("n", 0))
        elif name == "findAndModify":
            written = int((reply.get("lastErrorObject") or {}).get("n", 0))
            read = int(reply.get("value") is not None)
        elif isinstance(reply.get("cursor"), dict):
            cursor = reply["cursor"]
            read = len(cursor.get("firstBatch") or cursor.get("nextBatch") or ())
        if written or read:
            with self._lock:
                self.written += written
                self.read += read
                docs = self.by_command.setdefault(name, [0, 0])
                docs[0] += written
                docs[1] += read

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "commands": dict(self.commands),
                "written": self.written,
                "read": self.read,
                "by_command": {k: list(v) for k, v in self.by_command.items()},
            }


def _publish_counts(counts: CommandCounts, path: pathlib.Path) -> None:
    """Write the counts to `path` four times a second, for a benchmark in another process."""

    def loop() -> None:
        while True:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(counts.snapshot()))
            tmp.replace(path)
            threading.Event().wait(0.25)

    threading.Thread(target=loop, name="mongo-counts", daemon=True).start()


def connect(url: str, app_name: str) -> AsyncMongoClient:
    listeners = []
    # Set by the benchmarks only (bench/steady.py): the directory where each
    # service process publishes what it asked of the store.
    counts_dir = os.environ.get("CDP_MONGO_COUNTS")
    if counts_dir:
        counts = CommandCounts()
        _publish_counts(counts, pathlib.Path(counts_dir) / f"{app_name}-{os.getpid()}.json")
        listeners.append(counts)
    # tz_aware so datetimes read back compare with the clock's aware datetimes.
    return AsyncMongoClient(
        url, appname=app_name, tz_aware=True, serverSelectionTimeoutMS=15000, event_listeners=listeners
    )


async def ensure_indexes(db: AsyncDatabase, specs: list[IndexSpec]) -> None:
    by_collection: dict[str, list[IndexModel]] = {}
    for spec in specs:
        by_collection.setdefault(spec.collection, []).append(spec.model())
    for name, models in by_collection.items():
        await db[name].create_indexes(models)
    log.info("indexes ensured", extra={"collections": sorted(by_collection)})


async def insert_new(collection, docs: list[dict], session=None) -> set[int]:
    """insert_many that skips documents colliding with a unique index; returns their positions.

    Any other write error is raised.
    """
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False, session=session)
    except BulkWriteError as exc:
        if not is_duplicate_key(exc):
            raise
        return {e["index"] for e in exc.details["writeErrors"]}
    return set()


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        # insert_many reports a unique-index collision per document.
        errors = (exc.details or {}).get("writeErrors", [])
        return bool(errors) and all(e.get("code") == 11000 for e in errors)
    return isinstance(exc, OperationFailure) and exc.code == 11000


__all__ = [
    "ASCENDING",
    "EMBEDDED_OPTIONS",
    "IndexSpec",
    "connect",
    "embedded_url",
    "ensure_indexes",
    "is_duplicate_key",
]


async def in_transaction(client: AsyncMongoClient, work):
    """Run `work(session)` in one transaction, retried on transient errors.

    Used wherever a state change and its outbox event must commit together.
    """
    async with client.start_session() as session:
        return await session.with_transaction(work)


async def try_in_transaction(client: AsyncMongoClient, work, default=None):
    """Run `work(session)` in one transaction, one attempt: a conflict with another writer aborts
    it and answers `default`. For claims that a next pass makes again anyway.

    Why a transaction for a plain multi-document update: on SecantusDB (the embedded default) a
    write outside a transaction that meets another transaction's uncommitted write retries
    without end while holding its collection's lock, and that transaction's next statement on
    the collection waits for the lock: neither moves again (seen with the journey scheduler's
    claim beside the worker's per-run compare-and-sets). Inside a transaction the conflict
    surfaces at once, as it does on mongod, and the collection stays free.
    """
    async with client.start_session() as session:
        try:
            async with await session.start_transaction():
                return await work(session)
        except PyMongoError as exc:
            if exc.has_error_label("TransientTransactionError"):
                return default
            raise


# The lower bound of every "due by now" query. A range with no lower bound makes SecantusDB walk
# its index from the start, where every document without the field sits (a null key): a finished
# journey run has no due_at, so an open-ended `due_at <= now` read every finished run on every
# timer pass (measured: 73 ms against 2.2 ms with the bound, 5,000 pending and 3,000 finished).
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def due_by(now: dt.datetime, inclusive: bool = True) -> dict:
    """A range condition for dates up to `now` that an index walks from the first date, not from nulls."""
    return {"$gte": EPOCH, "$lte" if inclusive else "$lt": now}


# Values per `$in`: SecantusDB checks each candidate the index finds against the
# whole list, so its cost grows with the square of the list (bench/README.md).
IN_CHUNK = 50


async def find_in(
    collection, equal: dict, field_name: str, values: list, projection: dict | None = None, session=None
) -> list[dict]:
    """Documents matching `equal` whose `field_name` is one of `values`, `$in` in pieces of IN_CHUNK.

    SecantusDB (the embedded default) answers such a query from a compound
    index whose leading fields are the equalities of `equal` and whose next
    field is `field_name` (measured, 20,000 identifiers: 50 values in 2-3 ms
    against 30-54 ms for 50 equality queries). An `$or` of equalities it
    answers with a collection scan (3.5 s there), so values of different
    leading fields are asked by separate calls, never by `$or`.

    `field_name` comes first in the filter: when no index covers the whole
    filter, SecantusDB looks up the filter's first field alone and checks
    the rest per document, so `{workspace, _id}` read every person of the
    workspace (92 ms at 5,000) where `{_id, workspace}` reads one (1.8 ms).
    """
    values = list(dict.fromkeys(values))
    pieces = [values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]

    async def one(piece: list) -> list[dict]:
        query = {field_name: piece[0] if len(piece) == 1 else {"$in": piece}, **equal}
        return await collection.find(query, projection, session=session).to_list(None)

    if session is not None:
        found = [await one(p) for p in pieces]
    else:
        found = await asyncio.gather(*(one(p) for p in pieces))
    return [d for docs in found for d in docs]


async def find_each(collection, filters: list[dict], projection: dict | None = None, session=None) -> list[list[dict]]:
    """One equality query per filter instead of one `$or` query.

    SecantusDB (the embedded default) answers `$or` with a collection scan
    (measured: 5/s against 1,300/s for an indexed equality at 6,000
    documents), so filters that differ in more than one field are asked per
    key (see find_in for those that differ in one); against mongod this costs
    only round trips, which run concurrently. Queries of a transaction's
    session run one after the other, as a session allows.
    """

    async def one(f: dict) -> list[dict]:
        return await collection.find(f, projection, session=session).to_list(None)

    if session is not None:
        return [await one(f) for f in filters]
    return list(await asyncio.gather(*(one(f) for f in filters)))
