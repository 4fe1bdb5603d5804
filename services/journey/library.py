"""Journeys as operators edit them: drafts, immutable published versions, status, and what they show.

A draft is validated on every save (errors name the JSON path) and becomes
a version only by publishing. Versions are never changed. Publishing says
what happens to people in flight: "finish" leaves them on the version they
entered; "move" carries them to the new version through a node map, one
compare-and-set per run, and a dry run tells how many would move where
before anything changes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument

from services.journey import definition as definitions
from services.journey import migration
from services.journey.live import LiveJourneys, LiveVersion
from services.journey.model import Step
from services.journey.runs import Planned, Runner
from services.journey.store import LIVE, JourneyStore, state_of
from services.kit.clock import Clock
from services.kit.errors import Conflict, InvalidInput, NotFound
from services.kit.mongo import find_in, in_transaction

KINDS = ("journey", "campaign")
MAX_NAME = 200
MOVE_CHUNK = 500
_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")


@dataclass(frozen=True)
class StepCounts:
    node: str
    entered: int
    waiting: int
    active: int
    exited: int
    done: int
    converted: int


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or not _NAME.match(name):
        raise InvalidInput("name must be 1 to 200 printable characters", "name")
    return name


class Library:
    def __init__(self, client, store: JourneyStore, live: LiveJourneys, runner: Runner, clock: Clock, timezone) -> None:
        # async (workspace) -> the workspace's time zone (Holdouts.timezone): where a moved run's time-of-day wait falls
        self.timezone = timezone
        self.client = client
        self.store = store
        self.live = live
        self.runner = runner
        self.clock = clock

    async def get(self, workspace: str, journey_id: str) -> dict:
        doc = await self.store.journey(workspace, journey_id)
        if doc is None:
            raise NotFound(f"journey {journey_id!r} not found", "id")
        return doc

    async def list(
        self, workspace: str, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict]:
        query: dict[str, Any] = {"workspace": workspace}
        if kind:
            query["kind"] = kind
        if status:
            query["status"] = status
        return await self.store.journeys.find(query).sort("updated_at", -1).limit(limit).to_list(None)

    async def create(
        self, workspace: str, name: str, kind: str, definition: dict | None, extra: dict | None = None
    ) -> dict:
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", "kind")
        draft = definitions.canonical(definitions.parse(definition)) if definition is not None else None
        now = self.clock.now()
        doc = {
            "_id": f"jny_{uuid.uuid4().hex[:20]}",
            "workspace": workspace,
            "name": _name(name),
            "kind": kind,
            "status": "draft",
            "version": 0,
            "draft": draft,
            "created_at": now,
            "updated_at": now,
            **(extra or {}),
        }
        await self.store.journeys.insert_one(doc)
        return doc

    async def save_draft(self, workspace: str, journey_id: str, name: str | None, definition: dict | None) -> dict:
        doc = await self.get(workspace, journey_id)
        if doc["status"] == "archived":
            raise Conflict("an archived journey cannot be edited", "id")
        changes: dict[str, Any] = {"updated_at": self.clock.now()}
        if name is not None:
            changes["name"] = _name(name)
        if definition is not None:
            changes["draft"] = definitions.canonical(definitions.parse(definition))
        return await self.store.journeys.find_one_and_update(
            {"_id": journey_id, "workspace": workspace}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )

    async def _in_flight(self, journey_id: str) -> dict[tuple[str, str], int]:
        """(node, status) -> runs still in flight there."""
        out: dict[tuple[str, str], int] = {}
        pipeline = [
            {"$match": {"journey_id": journey_id, "status": {"$in": list(LIVE)}}},
            {"$group": {"_id": {"n": "$node", "s": "$status"}, "n": {"$sum": 1}}},
        ]
        async for row in await self.store.runs.aggregate(pipeline):
            out[(row["_id"]["n"], row["_id"]["s"])] = row["n"]
        return out

    async def publish(
        self, workspace: str, journey_id: str, by: str, mode: str = "finish",
        node_map: dict[str, str] | None = None, dry_run: bool = False,
    ) -> dict:  # fmt: skip
        """Publish the draft as the next version; with dry_run, only say where people in flight would go."""
        doc = await self.get(workspace, journey_id)
        if doc["status"] == "archived":
            raise Conflict("an archived journey cannot be published", "id")
        if not doc.get("draft"):
            raise InvalidInput("the journey has no draft to publish", "definition")
        new = definitions.parse(doc["draft"])
        old = await self.live.definition(journey_id, doc["version"]) if doc["version"] else None
        plan = migration.plan(mode, node_map or {}, new, old)
        # Every run in flight is on an older version than the one being published; of those, `move`
        # carries only the waiting ones, so the dry run counts the rest as staying.
        in_flight = await self._in_flight(journey_id)
        waiting = {node: n for (node, status), n in in_flight.items() if status == "waiting"}
        not_waiting = sum(n for (_, status), n in in_flight.items() if status != "waiting")
        moves = migration.dry_run(plan, waiting, not_waiting)
        if dry_run:
            return {"version": doc["version"] + 1, "dry_run": True, "moves": moves}
        number = doc["version"] + 1
        now = self.clock.now()

        async def work(session) -> dict:
            await self.store.versions.insert_one(
                {
                    "_id": f"{journey_id}:{number}",
                    "workspace": workspace,
                    "journey_id": journey_id,
                    "version": number,
                    "definition": doc["draft"],
                    "migration": {"mode": mode, "node_map": dict(node_map or {})},
                    "published_at": now,
                    "published_by": by,
                },
                session=session,
            )
            updated = await self.store.journeys.find_one_and_update(
                {"_id": journey_id, "version": doc["version"]},
                {"$set": {"version": number, "status": "active" if doc["status"] == "draft" else doc["status"],
                          "published_at": now, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )  # fmt: skip
            if updated is None:
                raise Conflict("the journey was published meanwhile; reload and try again", "id")
            return updated

        updated = await in_transaction(self.client, work)
        await self.live.refresh(force=True)
        moved = 0
        if plan.moves_people:
            moved = await self._move(journey_id, number, plan)
        return {"version": number, "dry_run": False, "moves": moves, "moved": moved, "journey": updated}

    async def _movable(self, journey_id: str, number: int, plan) -> list[str]:
        """Ids of the runs `migration.move` would carry: waiting at a mapped node on an older version.

        One query per mapped node, of bare equalities on the runs_at_step index (journey, node,
        status): on the embedded store a range beside them (`_id > last`, `version < n`) is not
        served by any index of runs and scans the collection for every page.
        """
        ids: list[str] = []
        for node in plan.node_map:
            query = {"journey_id": journey_id, "node": node, "status": "waiting"}
            async for doc in self.store.runs.find(query, {"version": 1}):
                if doc["version"] < number:
                    ids.append(doc["_id"])
        return sorted(ids)

    async def _move(self, journey_id: str, number: int, plan) -> int:
        """Carry runs in flight on older versions to the new one, by the node map, one compare-and-set each.

        The runs to move are listed once and then read and moved MOVE_CHUNK at a time in _id order,
        so a chunk whose runs all stepped meanwhile (they stay) does not end the move early and no run
        is read twice.
        """
        target = await self.live.version_of(journey_id, number)
        timezone = await self.timezone(target.workspace_id)
        ids = await self._movable(journey_id, number, plan)
        moved = 0
        for start in range(0, len(ids), MOVE_CHUNK):
            batch = await find_in(self.store.runs, {}, "_id", ids[start : start + MOVE_CHUNK])
            plans = []
            for doc in sorted(batch, key=lambda d: d["_id"]):
                # Read again: a run may have stepped since it was listed; move decides on what it is now.
                state = migration.move(
                    state_of(doc), target.definition, plan, self.clock.now(), version=number, timezone=timezone
                )
                if state is not None:
                    plans.append(Planned(doc["seq"], Step(state=state, visited=[state.node]), target))
            if plans:
                moved += len(await self.runner.commit(plans))
        return moved

    async def set_status(self, workspace: str, journey_id: str, status: str) -> dict:
        doc = await self.get(workspace, journey_id)
        allowed = {"paused": ("active",), "active": ("paused",), "archived": ("draft", "active", "paused")}
        if doc["status"] not in allowed[status]:
            raise Conflict(f"a {doc['status']} journey cannot become {status}", "id")
        updated = await self.store.journeys.find_one_and_update(
            {"_id": journey_id, "status": doc["status"]},
            {"$set": {"status": status, "updated_at": self.clock.now()}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict("the journey changed meanwhile; reload and try again", "id")
        await self.live.refresh(force=True)
        if status == "archived":
            await self._end_all(journey_id, "journey archived")
        return updated

    async def _end_all(self, journey_id: str, reason: str) -> int:
        ended = 0
        async for doc in self.store.runs.find({"journey_id": journey_id, "status": {"$in": list(LIVE)}}):
            version = await self.live.version_of(journey_id, doc["version"]) or await self._any_version(doc)
            if version is not None and await self.runner.end(version, state_of(doc), reason):
                ended += 1
        return ended

    async def _any_version(self, doc: dict) -> LiveVersion | None:
        definition = await self.live.definition(doc["journey_id"], doc["version"])
        if definition is None:
            return None
        return LiveVersion(doc["workspace"], doc["journey_id"], doc["version"], definition, "archived", "journey")

    async def counts(self, workspace: str, journey_id: str, version: int | None = None) -> list[StepCounts]:
        doc = await self.get(workspace, journey_id)
        query: dict[str, Any] = {"journey_id": journey_id}
        if version:
            query["version"] = version
        totals: dict[str, dict[str, int]] = {}
        async for row in self.store.counts.find(query):
            t = totals.setdefault(row["node"], {})
            for what in ("entered", "exited", "done", "converted"):
                t[what] = t.get(what, 0) + row.get(what, 0)
        waiting: dict[str, dict[str, int]] = {}
        match = {"journey_id": journey_id, "status": {"$in": list(LIVE)}, **({"version": version} if version else {})}
        async for row in await self.store.runs.aggregate([
            {"$match": match},
            {"$group": {"_id": {"n": "$node", "s": "$status"}, "n": {"$sum": 1}}},
        ]):  # fmt: skip
            waiting.setdefault(row["_id"]["n"], {})[row["_id"]["s"]] = row["n"]
        nodes = sorted(set(totals) | set(waiting))
        definition = definitions.parse(doc["draft"]) if doc.get("draft") else None
        if definition is not None:
            order = list(definition.nodes)
            nodes = sorted(nodes, key=lambda n: order.index(n) if n in order else len(order))
        return [
            StepCounts(
                node=n,
                entered=totals.get(n, {}).get("entered", 0),
                waiting=waiting.get(n, {}).get("waiting", 0),
                active=waiting.get(n, {}).get("active", 0),
                exited=totals.get(n, {}).get("exited", 0),
                done=totals.get(n, {}).get("done", 0),
                converted=totals.get(n, {}).get("converted", 0),
            )
            for n in nodes
        ]

    async def at_step(self, workspace: str, journey_id: str, node: str, after: str | None, limit: int) -> list[dict]:
        """Who is at a step now (waiting or active there), paged by run id."""
        await self.get(workspace, journey_id)
        query: dict[str, Any] = {"journey_id": journey_id, "node": node, "status": {"$in": list(LIVE)}}
        if after:
            query["_id"] = {"$gt": after}
        return await self.store.runs.find(query).sort("_id", 1).limit(limit).to_list(None)

    async def definition_of(
        self, workspace: str, journey_id: str, version: int | None
    ) -> tuple[dict, definitions.Definition]:
        doc = await self.get(workspace, journey_id)
        if version:
            vdoc = await self.store.version(journey_id, version)
            if vdoc is None:
                raise NotFound(f"version {version} of journey {journey_id!r} not found", "version")
            return doc, definitions.parse(vdoc["definition"])
        raw = doc.get("draft")
        if raw is None:
            raise InvalidInput("the journey has no definition yet", "definition")
        return doc, definitions.parse(raw)

    async def versions(self, workspace: str, journey_id: str) -> list[dict]:
        await self.get(workspace, journey_id)
        return await self.store.versions.find({"journey_id": journey_id}).sort("version", -1).to_list(None)
