"""What moves people through journeys: entries, due timers, events and segment changes.

Each entry point groups its runs by journey version, fetches the facts that
version's definition reads (only those), plans every run with the pure
engine and commits the plans through the Runner (compare-and-set + outbox).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from services.journey import engine, entry
from services.journey.facts import FactsSource
from services.journey.holdouts import Holdouts
from services.journey.live import LiveJourneys, LiveVersion
from services.journey.model import ENDED, Entered, EventArrived, Facts, RunState, TimerDue
from services.journey.runs import CAUSES_KEPT, DEFERRED, Runner
from services.journey.store import LIVE, JourneyStore, entries_id, state_of
from services.kit.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entering:
    """One entry asked for: by an event, a segment change, a schedule or the API."""

    person_id: str
    key: str
    properties: dict
    # What caused it (event message id, membership transition id, request id): a replay enters once.
    cause: str


@dataclass(frozen=True)
class Outcome:
    entered: bool
    reason: str = ""
    run_id: str = ""


class Flow:
    def __init__(
        self, store: JourneyStore, runner: Runner, live: LiveJourneys, facts: FactsSource,
        holdouts: Holdouts, clock: Clock,
    ) -> None:  # fmt: skip
        self.store = store
        self.runner = runner
        self.live = live
        self.facts = facts
        self.holdouts = holdouts
        self.clock = clock

    async def facts_of(self, version: LiveVersion, persons: list[str], now: dt.datetime) -> dict[str, Facts]:
        """What the version's steps read about each person (profile, segments, events), asked once for all."""
        needs = version.definition.needs()
        timezone = await self.holdouts.timezone(version.workspace_id)
        if needs.anything:
            facts = await self.facts.facts(version.workspace_id, persons, needs, timezone, now)
        else:
            facts = {p: Facts(profile={}, timezone=timezone) for p in persons}
        # Recorded variants are read whatever else the steps need: without them the engine hashes
        # afresh, and a merge survivor or a person under new weights would switch variant.
        assignments = await self.holdouts.assignments(
            version.workspace_id, version.definition.experiment_keys(version.journey_id), persons
        )
        for person, f in facts.items():
            f.assignments = assignments.get(person, {})
        return facts

    # -- entering ------------------------------------------------------------------------------
    async def enter(self, version: LiveVersion, asked: Entering) -> Outcome:
        """Enter one person, by the journey's entry policy; idempotent per (journey, person, key, cause)."""
        if version.status != "active":
            return Outcome(False, f"journey is {version.status}")
        now = self.clock.now()
        eid = entries_id(version.journey_id, asked.person_id)
        for _ in range(5):
            doc = await self.store.entries.find_one({"_id": eid}) or {}
            seen = {c["c"]: c["r"] for c in doc.get("causes") or []}
            if asked.cause and asked.cause in seen:
                return Outcome(False, "already entered by this cause", seen[asked.cause])
            decision = entry.admit(version.definition.entry.policy, doc, asked.key, now)
            if not decision.admitted:
                return Outcome(False, decision.reason)
            holdout = await self.holdouts.held_out(version, asked.person_id)
            facts = (await self.facts_of(version, [asked.person_id], now))[asked.person_id]
            generation = int(doc.get("runs", 0))
            plan = self.runner.plan_entry(
                version, asked.person_id, asked.key, asked.properties, facts, now, generation, holdout
            )
            run = plan.step.state.run_id
            change = {
                "$set": {
                    "v": int(doc.get("v", 0)) + 1,
                    "workspace": version.workspace_id,
                    "person_id": asked.person_id,
                    "last_entered_at": now,
                    **({f"active.{entry.key_field(asked.key)}": run} if plan.step.state.status not in ENDED else {}),
                },
                "$inc": {"runs": 1},
            }
            if asked.cause:
                change["$push"] = {"causes": {"$each": [{"c": asked.cause, "r": run}], "$slice": -CAUSES_KEPT}}
            committed = await self.runner.commit([plan], [(eid, {"v": int(doc.get("v", 0))}, change)])
            if committed:
                return Outcome(True, "", run)
        return Outcome(False, "too many concurrent entries; retry")

    async def enter_matching(self, workspace: str, kind: str, match, asked_for) -> list[Outcome]:
        """Enter into every active journey of the workspace whose entry `match(version)` accepts."""
        outcomes = []
        for version in await self.live.of_workspace(workspace):
            if version.status != "active" or version.definition.entry.kind != kind:
                continue
            asked = match(version)
            if asked is not None:
                outcomes.append(await self.enter(version, asked))
        return outcomes

    # -- waking --------------------------------------------------------------------------------
    async def wake(self, items: list[tuple[dict, object]]) -> int:
        """Advance runs (their documents as read) by a trigger each; returns how many moved."""
        now = self.clock.now()
        groups: dict[tuple[str, int], list[tuple[RunState, object]]] = defaultdict(list)
        for doc, trigger in items:
            state = state_of(doc)
            if state.status in ENDED:
                continue
            if isinstance(trigger, TimerDue) and state.wait is not None and state.wait.node == DEFERRED:
                # Its start time came: the run starts now, as if it had just entered.
                state, trigger = dataclasses.replace(state, status="active", wait=None), Entered()
            groups[(state.journey_id, state.version)].append((state, trigger))
        moved = 0
        for (journey_id, number), members in groups.items():
            version = await self.live.version_of(journey_id, number)
            if version is None or version.status != "active":
                continue  # paused: the timer stays claimed until its lease ends, then waits unclaimed
            facts = await self.facts_of(version, [s.person_id for s, _ in members], now)
            plans = [self.runner.plan_advance(version, s, t, facts[s.person_id], now) for s, t in members]
            moved += len(await self.runner.commit([p for p in plans if p is not None]))
        return moved

    async def timers_due(self, docs: list[dict]) -> int:
        return await self.wake([(doc, TimerDue()) for doc in docs])

    # -- events --------------------------------------------------------------------------------
    async def on_event(
        self,
        workspace: str,
        person: str,
        name: str,
        properties: dict,
        message_id: str,
        at: dt.datetime,
        fresh: bool = True,
    ) -> None:
        versions = await self.live.of_workspace(workspace)
        if not any(name in v.definition.event_names() for v in versions):
            return
        arrived = EventArrived(name=name, properties=properties, message_id=message_id, at=at)
        runs = await self.store.runs_of(workspace, person)
        wakes = []
        for doc in runs:
            version = await self.live.version_of(doc["journey_id"], doc["version"])
            if version is None:
                continue
            state = state_of(doc)
            if (
                doc.get("converted_at") is None
                and doc.get("goal_until")
                and engine.converts(version.definition, state, arrived, at)
            ):
                await self.runner.convert(doc, at, _value(properties), message_id)
            if state.status not in LIVE:
                continue
            if engine.exits_on(version.definition, state, arrived):
                await self.runner.end(version, state, f"exit event {name}")
            elif state.status == "waiting" and state.wait is not None and state.wait.event == name:
                wakes.append((doc, arrived))
        if wakes:
            await self.wake(wakes)
        if not fresh:
            return

        def by_event(version: LiveVersion):
            asked = entry.on_event(version.definition.entry, name, properties)
            if asked is None:
                return None
            key, props = asked
            return Entering(person, key, props, message_id)

        await self.enter_matching(workspace, "event", by_event, None)

    # -- date traits ---------------------------------------------------------------------------
    async def on_profile(self, workspace: str, person: str, changes: dict[str, object]) -> None:
        """A changed date trait (re)schedules the person's entry: e.g. 3 days before computed.next_order_at."""
        for version in await self.live.of_workspace(workspace):
            e = version.definition.entry
            if version.status != "active" or e.kind != "date_trait" or e.trait not in changes:
                continue
            value = changes[e.trait]
            tid = f"{version.journey_id}|{person}"
            timezone = await self.holdouts.timezone(workspace)
            fire = entry.date_trait_fire(e, value, timezone) if value is not None else None
            if fire is None:
                await self.store.entry_timers.delete_one({"_id": tid})
                continue
            await self.store.entry_timers.replace_one(
                {"_id": tid},
                {"workspace": workspace, "journey_id": version.journey_id, "person_id": person, "fire_at": fire,
                 "value": str(value), "due": fire},
                upsert=True,
            )  # fmt: skip

    async def entry_timers_due(self, docs: list[dict]) -> int:
        entered = 0
        for doc in docs:
            version = await self.live.journey(doc["journey_id"])
            if version is None or version.definition.entry.kind != "date_trait":
                await self.store.entry_timers.delete_one({"_id": doc["_id"], "claim": doc["claim"]})
                continue
            outcome = await self.enter(
                version, Entering(doc["person_id"], "", {"trait_value": doc["value"]}, f"date:{doc['value']}")
            )
            entered += outcome.entered
            # Done with this date; a later trait change writes a new timer.
            await self.store.entry_timers.delete_one({"_id": doc["_id"], "claim": doc["claim"]})
        return entered

    # -- segments ------------------------------------------------------------------------------
    async def on_membership(
        self, workspace: str, person: str, segment: str, change: str, transition: str, at: dt.datetime
    ) -> None:
        versions = await self.live.of_workspace(workspace)
        if not any(segment in v.definition.segments() for v in versions):
            return
        if change == "exit":
            for doc in await self.store.runs_of(workspace, person):
                if doc["status"] not in LIVE:
                    continue
                version = await self.live.version_of(doc["journey_id"], doc["version"])
                if version is not None and engine.segment_exit(version.definition, segment):
                    await self.runner.end(version, state_of(doc), f"left segment {segment}")
        for version in versions:
            e = version.definition.entry
            if version.status != "active" or e.kind != "segment" or e.segment != segment or e.on != change:
                continue
            eid = entries_id(version.journey_id, person)
            doc = await self.store.entries.find_one({"_id": eid}) or {}
            last = doc.get("segment_changed_at")
            await self.store.entries.update_one(
                {"_id": eid},
                {
                    "$set": {"segment_changed_at": at, "workspace": workspace, "person_id": person},
                    "$setOnInsert": {"v": 0},
                },
                upsert=True,
            )
            if not entry.debounced(e, last, at):
                continue
            await self.enter(version, Entering(person, "", {"segment": segment}, transition))


def _value(properties: dict) -> float:
    for name in ("revenue", "total", "value"):
        value = properties.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.0
