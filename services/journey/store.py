"""MongoDB access for journeys.

Collections:
- `journeys`: {_id: journey id, workspace, name, kind (journey|campaign), status
  (draft|active|paused|archived), version (the live one, 0 before the first
  publish), draft (the definition being edited), created_at, updated_at,
  campaign (a campaign's audience, schedule and rate)}.
- `journey_versions`: {_id: "<journey>:<version>", workspace, journey_id, version,
  definition (canonical JSON), migration ({mode, node_map}), published_at, published_by}.
  Immutable once written.
- `runs`: one person's run through one version: {_id: run id, workspace,
  journey_id, version, person_id, key, seq, status, node, entered_at, entry,
  wait, due_at (only while a timer is pending: when the scheduler looks at the run next; the wait's
  own due time is in `wait`), variants,
  holdout, ended_at, end_reason, goal_until, converted_at, launch_id, moved_at
  (when its last step committed)}. Every
  step is one compare-and-set on (_id, seq); a due timer is claimed by moving
  its `due_at` a lease ahead, so the index holds only timers nobody holds.
- `journey_entries`: what the entry policy needs per (journey, person):
  {_id: "<journey>|<person>", workspace, v (compare-and-set counter), runs (how
  many were created), active ({key: run id}), last_entered_at, last_exit_at,
  causes (the last entry causes, so a replayed event does not enter twice),
  segment_changed_at}.
- `journey_counts`: per (journey, version, node, shard): entered, exited, done,
  converted (waiting is a query); the shards of a counter add up to it.
- `assignments`: {_id: "<workspace>|<experiment>|<person>", variant, at}.
- `experiment_looks`: {_id: "<journey>:<node>:<arm>", state}: the sequential test between looks.
- `journey_settings`: {_id: workspace, holdout_pct (workspace-wide holdout), timezone}.
- `entry_timers`: a date-trait entry waiting for its day: {_id: "<journey>|<person>",
  workspace, journey_id, person_id, fire_at, value (the trait value it was computed
  from, the entry's cause); claimed like run timers, by moving `fire_at` a lease ahead
  (`due` keeps the day). Rewritten whenever the trait changes.
- `launches` and `launch_audience`: a campaign launch and its snapshotted audience in
  chunks (campaigns.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.journey.model import RunState, Wait
from services.kit.mongo import IndexSpec

INDEXES = [
    IndexSpec("journeys", [("workspace", 1), ("updated_at", -1)], name="journeys_by_workspace"),
    IndexSpec("journey_versions", [("journey_id", 1), ("version", -1)], name="versions_by_journey"),
    IndexSpec("runs", [("workspace", 1), ("person_id", 1)], name="runs_by_person"),
    IndexSpec("runs", [("due_at", 1)], name="runs_by_due"),
    IndexSpec("runs", [("journey_id", 1), ("node", 1), ("status", 1)], name="runs_at_step"),
    IndexSpec("runs", [("launch_id", 1)], name="runs_by_launch"),
    IndexSpec("journey_counts", [("journey_id", 1)], name="counts_by_journey"),
    IndexSpec("assignments", [("workspace", 1), ("person_id", 1)], name="assignments_by_person"),
    IndexSpec("assignments", [("workspace", 1), ("experiment", 1)], name="assignments_by_experiment"),
    IndexSpec("journey_entries", [("workspace", 1), ("person_id", 1)], name="entries_by_person"),
    IndexSpec("entry_timers", [("fire_at", 1)], name="entry_timers_by_fire"),
    IndexSpec("entry_timers", [("workspace", 1), ("person_id", 1)], name="entry_timers_by_person"),
    IndexSpec("launches", [("workspace", 1), ("journey_id", 1)], name="launches_by_journey"),
    IndexSpec("launches", [("state", 1)], name="launches_by_state"),
]

LIVE = ("active", "waiting")
COUNTER_SHARDS = 32


def run_id(journey_id: str, person_id: str, key: str, generation: int) -> str:
    """Deterministic, so that a replayed entry finds the run it created instead of making a second."""
    digest = hashlib.sha256(f"{journey_id}|{person_id}|{key}|{generation}".encode()).hexdigest()
    return f"run_{digest[:24]}"


def entries_id(journey_id: str, person_id: str) -> str:
    return f"{journey_id}|{person_id}"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def wait_doc(wait: Wait | None) -> dict | None:
    if wait is None:
        return None
    return {"node": wait.node, "due_at": wait.due_at, "event": wait.event, "match": dict(wait.match)}


def wait_of(doc: dict | None) -> Wait | None:
    if not doc:
        return None
    return Wait(
        node=doc["node"], due_at=_aware(doc.get("due_at")), event=doc.get("event"), match=doc.get("match") or {}
    )


def state_of(doc: dict) -> RunState:
    return RunState(
        run_id=doc["_id"],
        workspace_id=doc["workspace"],
        journey_id=doc["journey_id"],
        version=doc["version"],
        person_id=doc["person_id"],
        key=doc.get("key", ""),
        seq=doc["seq"],
        status=doc["status"],
        node=doc["node"],
        entered_at=_aware(doc["entered_at"]),
        entry=doc.get("entry") or {},
        wait=wait_of(doc.get("wait")),
        variants=doc.get("variants") or {},
        holdout=bool(doc.get("holdout")),
        ended_at=_aware(doc.get("ended_at")),
        end_reason=doc.get("end_reason", ""),
    )


def state_fields(state: RunState) -> dict[str, Any]:
    """The fields a step rewrites (the run's identity fields never change after entry)."""
    wait = state.wait
    return {
        "version": state.version,
        "seq": state.seq,
        "status": state.status,
        "node": state.node,
        "wait": wait_doc(wait),
        "variants": state.variants,
        "ended_at": state.ended_at,
        "end_reason": state.end_reason,
    }


def run_doc(state: RunState, goal_until: dt.datetime | None, launch_id: str = "") -> dict[str, Any]:
    doc = {
        "_id": state.run_id,
        "workspace": state.workspace_id,
        "journey_id": state.journey_id,
        "person_id": state.person_id,
        "key": state.key,
        "entered_at": state.entered_at,
        "entry": state.entry,
        "holdout": state.holdout,
        "goal_until": goal_until,
        **state_fields(state),
    }
    due = due_of(state)
    if due is not None:
        doc["due_at"] = due
    if launch_id:
        doc["launch_id"] = launch_id
    return doc


def due_of(state: RunState) -> dt.datetime | None:
    return state.wait.due_at if state.status == "waiting" and state.wait is not None else None


class JourneyStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.journeys = db["journeys"]
        self.versions = db["journey_versions"]
        self.runs = db["runs"]
        self.entries = db["journey_entries"]
        self.counts = db["journey_counts"]
        self.assignments = db["assignments"]
        self.launches = db["launches"]
        self.audience = db["launch_audience"]
        self.settings = db["journey_settings"]
        self.looks = db["experiment_looks"]
        self.entry_timers = db["entry_timers"]

    async def journey(self, workspace: str, journey_id: str) -> dict | None:
        return await self.journeys.find_one({"_id": journey_id, "workspace": workspace})

    async def version(self, journey_id: str, version: int) -> dict | None:
        return await self.versions.find_one({"_id": f"{journey_id}:{version}"})

    async def run(self, workspace: str, run: str) -> dict | None:
        return await self.runs.find_one({"_id": run, "workspace": workspace})

    async def runs_of(self, workspace: str, person_id: str, limit: int = 200) -> list[dict]:
        cursor = self.runs.find({"workspace": workspace, "person_id": person_id}).sort("entered_at", -1).limit(limit)
        return await cursor.to_list(None)

    async def count(self, journey_id: str, deltas: dict[tuple[int, str, str], int], session=None) -> None:
        """Add to the per-step counters: {(version, node, what): n}.

        Each counter is COUNTER_SHARDS documents and a transaction adds to one picked at random:
        every step of a journey counts in its transaction, and with one document per step the
        batches of concurrent partitions all wrote the same document and spent their time in
        write-conflict retries (measured: 20,000 due timers, batches of 150 taking 2.5-5 s).
        Readers add the shards up.
        """
        shard = random.randrange(COUNTER_SHARDS)
        by_doc: dict[tuple[int, str], dict[str, int]] = {}
        for (version, node, what), n in deltas.items():
            by_doc.setdefault((version, node), {})[what] = by_doc.get((version, node), {}).get(what, 0) + n
        for (version, node), inc in by_doc.items():
            await self.counts.update_one(
                {"_id": f"{journey_id}:{version}:{node}:{shard}"},
                {"$inc": inc, "$setOnInsert": {"journey_id": journey_id, "version": version, "node": node}},
                upsert=True,
                session=session,
            )
