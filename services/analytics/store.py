"""The analytics tables in the engine: inserts, merges (person overrides) and erasure."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from services.analytics import metrics, schema, sql
from services.analytics.engine import Engine
from services.kit.erasure import erased_digest

log = logging.getLogger(__name__)

# Merges rewritten per mutation: each mutation rewrites the parts that hold any of them.
SQUASH_BATCH = 1_000


def insert_statement(db: str, table: str, rows: list[dict]) -> str:
    """One INSERT of many rows (JSONEachRow inline), the same text for both drivers."""
    body = "\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows)
    # Imported history may span any number of months (partitions) in one batch.
    return f"INSERT INTO {db}.{table} SETTINGS max_partitions_per_insert_block = 0 FORMAT JSONEachRow\n{body}\n"


def overrides_sql(db: str, workspace: str) -> str:
    """old person id -> current person id, for the merges not squashed yet (the newest override wins).

    What the queries of squashed tables join: their rows already carry the squashed merges."""
    return (
        f"SELECT old_person_id, argMax(person_id, version) AS person_id FROM {db}.person_overrides "
        f"WHERE workspace = {sql.string(workspace)} GROUP BY old_person_id"
    )


def mappings_sql(db: str, workspace: str) -> str:
    """old person id -> current person id over every merge, squashed or not (the newest wins).

    For rows a squash does not rewrite (person_traits) and for a person's ids (merges, forget)."""
    ws = sql.string(workspace)
    both = (
        f"SELECT old_person_id, person_id, version FROM {db}.person_overrides WHERE workspace = {ws} "
        f"UNION ALL SELECT old_person_id, person_id, version FROM {db}.person_squashed WHERE workspace = {ws}"
    )
    return f"SELECT old_person_id, argMax(person_id, version) AS person_id FROM ({both}) GROUP BY old_person_id"


class AnalyticsStore:
    def __init__(self, engine: Engine, db: str = "cdp") -> None:
        self.engine = engine
        self.db = db
        self._squashing = asyncio.Lock()

    async def create_tables(self) -> None:
        for statement in schema.statements(self.db):
            await self.engine.execute(statement)

    async def insert(self, table: str, rows: list[dict]) -> None:
        if rows:
            with metrics.INSERT_SECONDS.labels(table).time():
                await self.engine.execute(insert_statement(self.db, table, rows))
            metrics.ROWS.labels(table).inc(len(rows))

    async def insert_persons_rows(self, table: str, rows: list[dict]) -> None:
        """Insert rows of persons, leaving out those of forgotten persons (late or replayed records)."""
        if not rows:
            return
        digests = {erased_digest(r["workspace"], r["person_id"]) for r in rows if r.get("person_id")}
        gone: set[str] = set()
        if digests:
            found = await self.engine.rows(
                f"SELECT digest FROM {self.db}.erased WHERE digest IN {sql.strings(digests)}"
            )
            gone = {r[0] for r in found}
        if gone:
            rows = [r for r in rows if erased_digest(r["workspace"], r.get("person_id", "")) not in gone]
        if table in schema.SQUASHED_TABLES:
            await self._as_squashed(rows)
        await self.insert(table, rows)

    async def _as_squashed(self, rows: list[dict]) -> None:
        """Rows of an id whose merge was squashed already are written as its person's (a late or
        redelivered row would otherwise bring the old id back: the join no longer maps it)."""
        pairs = {(r["workspace"], r["person_id"]) for r in rows if r.get("person_id")}
        if not pairs:
            return
        keys = ", ".join(f"({sql.string(w)}, {sql.string(p)})" for w, p in sorted(pairs))
        found = await self.engine.rows(
            f"SELECT workspace, old_person_id, argMax(person_id, version) FROM {self.db}.person_squashed "
            f"WHERE (workspace, old_person_id) IN ({keys}) GROUP BY workspace, old_person_id"
        )
        now = {(w, old): new for w, old, new in found if new != old}
        for r in rows:
            new = now.get((r["workspace"], r.get("person_id")))
            if new:
                r["origin_person_id"], r["person_id"] = r["person_id"], new

    async def merged(self, workspace: str, winner: str, loser: str, version: int) -> None:
        """The loser's rows, and every id already folded into the loser, now count as the winner's."""
        folded = await self.engine.rows(
            f"SELECT old_person_id FROM ({mappings_sql(self.db, workspace)}) "
            f"WHERE person_id = {sql.string(loser)} AND old_person_id != {sql.string(loser)}"
        )
        olds = [loser, *(r[0] for r in folded)]
        rows = [{"workspace": workspace, "old_person_id": o, "person_id": winner, "version": version} for o in olds]
        async with self._squashing:
            await self.insert("person_overrides", rows)

    async def unmerged(self, workspace: str, restored: str, version: int) -> None:
        """The restored person's own rows are theirs again (events identity resolved to the winner stay)."""
        row = {"workspace": workspace, "old_person_id": restored, "person_id": restored, "version": version}
        async with self._squashing:
            await self.insert("person_overrides", [row])
            # Rows a squash gave the winner carry the restored id as their origin: back to it.
            ws, who = sql.string(workspace), sql.string(restored)
            for table in schema.SQUASHED_TABLES:
                await self.engine.execute(
                    f"ALTER TABLE {self.db}.{table} UPDATE person_id = origin_person_id, origin_person_id = '' "
                    f"WHERE workspace = {ws} AND origin_person_id = {who} SETTINGS mutations_sync = 2"
                )

    async def squash(self, workspace: str, older_than_version: int) -> int:
        """Write the workspace's merges made before `older_than_version` (ms) into the rows themselves.

        Each squashed row keeps the id it was resolved to in origin_person_id (for an unmerge); the
        mappings move from the overrides every query joins to person_squashed. Returns how many
        merges were squashed. Serialised with unmerges in this process, so an unmerge's rewrite
        cannot be overtaken by a squash that read the mapping before it."""
        async with self._squashing:
            pending = await self.engine.rows(
                f"SELECT old_person_id, argMax(person_id, version), max(version) FROM {self.db}.person_overrides "
                f"WHERE workspace = {sql.string(workspace)} GROUP BY old_person_id "
                f"HAVING max(version) < {int(older_than_version)} ORDER BY old_person_id"
            )
            for start in range(0, len(pending), SQUASH_BATCH):
                await self._squash_batch(workspace, pending[start : start + SQUASH_BATCH])
            return len(pending)

    async def squash_all(self, older_than_version: int) -> int:
        """Squash every workspace's merges made before `older_than_version` (ms); returns how many."""
        found = await self.engine.rows(
            f"SELECT DISTINCT workspace FROM {self.db}.person_overrides WHERE version < {int(older_than_version)}"
        )
        return sum([await self.squash(ws, older_than_version) for (ws,) in found])

    async def run_squashes(self, stopping: asyncio.Event, every: float, grace: float) -> None:
        """Background job: squash merges older than `grace` seconds every `every` seconds.

        The grace leaves a merge to the query-time join while rows resolved before it may still be on
        their way in (Kafka lag); a row arriving later still is written as its person's at ingest."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), timeout=every)
                return
            except TimeoutError:
                pass
            try:
                squashed = await self.squash_all(int((time.time() - grace) * 1000))
                if squashed:
                    log.info("merges squashed into the rows", extra={"merges": squashed})
            except Exception:
                log.exception("squash failed; retrying at the next interval")

    async def _squash_batch(self, workspace: str, batch: list[list]) -> None:
        ws = sql.string(workspace)
        moving = [(old, new) for old, new, _ in batch if old != new]
        if moving:
            olds = sql.strings([o for o, _ in moving])
            olds_list = "[" + ", ".join(sql.string(o) for o, _ in moving) + "]"
            news_list = "[" + ", ".join(sql.string(n) for _, n in moving) + "]"
            for table in schema.SQUASHED_TABLES:
                await self.engine.execute(
                    f"ALTER TABLE {self.db}.{table} UPDATE "
                    "origin_person_id = if(origin_person_id = '', person_id, origin_person_id), "
                    f"person_id = transform(person_id, {olds_list}, {news_list}, person_id) "
                    f"WHERE workspace = {ws} AND person_id IN {olds} SETTINGS mutations_sync = 2"
                )
        rows = [{"workspace": workspace, "old_person_id": o, "person_id": n, "version": v} for o, n, v in batch]
        await self.insert("person_squashed", rows)
        # Only the versions read: an override for the same id made meanwhile stays pending.
        done = ", ".join(f"({sql.string(o)}, {int(v)})" for o, _, v in batch)
        await self.engine.execute(
            f"ALTER TABLE {self.db}.person_overrides DELETE WHERE workspace = {ws} AND "
            f"(old_person_id, version) IN ({done}) SETTINGS mutations_sync = 2"
        )

    async def forget(self, workspace: str, person_id: str) -> int:
        """Delete every row of the person (under any id merged into them); returns the ids erased."""
        found = await self.engine.rows(
            f"SELECT old_person_id FROM ({mappings_sql(self.db, workspace)}) WHERE person_id = {sql.string(person_id)}"
        )
        ids = sorted({person_id, *(r[0] for r in found)})
        # First the digests, so a row of theirs still on its way in is refused from now on.
        await self.insert("erased", [{"digest": erased_digest(workspace, i)} for i in ids])
        ws = sql.string(workspace)
        for table in schema.PERSON_TABLES:
            # A mutation, not a lightweight delete: the rows are rewritten away, not just hidden.
            origin = f" OR origin_person_id IN {sql.strings(ids)}" if table in schema.SQUASHED_TABLES else ""
            await self.engine.execute(
                f"ALTER TABLE {self.db}.{table} DELETE WHERE workspace = {ws} AND "
                f"(person_id IN {sql.strings(ids)}{origin}) SETTINGS mutations_sync = 2"
            )
        for table in ("person_overrides", "person_squashed"):
            await self.engine.execute(
                f"ALTER TABLE {self.db}.{table} DELETE WHERE workspace = {ws} AND "
                f"(old_person_id IN {sql.strings(ids)} OR person_id IN {sql.strings(ids)}) SETTINGS mutations_sync = 2"
            )
        return len(ids)
