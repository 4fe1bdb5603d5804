"""Runs: entering people, advancing them one compare-and-set at a time, ending them.

Every change of a run is one compare-and-set on (run id, seq) and commits in
one transaction with the announcements and commands it causes (outbox): the
sends and profile updates of the step (journey.actions), what the step did
(journey.steps) and the per-step counters. Two wake-ups of one run (its
timer and the event it waits for, or a replayed timer) both read the same
seq; the first to commit moves it, the other matches nothing and is dropped,
so exactly one branch of a wait runs and no step happens twice.

Batches (a poll of due timers, a campaign chunk) commit as one transaction
with one bulk write; if any run of it moved meanwhile, the runs still where
they were planned from commit as a batch again, and only if that loses too
run by run, so that only the losers drop out.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from cdp.journey.v1 import journey_pb2
from services.journey import engine
from services.journey.entry import key_field
from services.journey.live import LiveVersion
from services.journey.model import (
    ENDED,
    Assign,
    CallWebhook,
    Effect,
    Entered,
    RunState,
    Send,
    Step,
    Trigger,
    UpdateProfile,
    Wait,
)
from services.journey.store import JourneyStore, due_of, entries_id, run_doc, run_id, state_fields, state_of
from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import find_in, in_transaction, is_duplicate_key
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_struct, to_timestamp

log = logging.getLogger(__name__)

ACTIONS = Topics.JOURNEY_ACTIONS
STEPS = Topics.JOURNEY_STEPS
# Causes remembered per (journey, person), so a replayed entry event does not enter twice.
CAUSES_KEPT = 20


# The wait of a run entered now that starts later (a schedule in each person's local time); node ids
# are [A-Za-z0-9_-], so this never names a node.
DEFERRED = "$start"
# Compare-and-sets an exit tries while the run keeps stepping under it (Runner.end).
END_ATTEMPTS = 5


class LostRace(Exception):
    """A run moved between the read and the compare-and-set."""


@dataclass
class Planned:
    """One run's change, ready to commit."""

    before_seq: int | None  # None: a new run
    step: Step
    version: LiveVersion
    launch_id: str = ""
    goal_until: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def campaign_id(version: LiveVersion, launch_id: str) -> str:
    """What messaging counts a send under: the launch for a campaign (its ids start with the journey's)."""
    return launch_id or version.journey_id


def action_of(
    effect: Effect, state: RunState, version: LiveVersion, launch_id: str
) -> journey_pb2.JourneyAction | None:
    base = dict(
        workspace_id=state.workspace_id,
        person_id=state.person_id,
        journey_id=state.journey_id,
        version=state.version,
        run_id=state.run_id,
        node=effect.node if not isinstance(effect, Assign) else "",
        campaign_id=campaign_id(version, launch_id),
    )
    if isinstance(effect, Send):
        vars_ = {**state.entry, **effect.vars}
        return journey_pb2.JourneyAction(
            **base,
            idempotency_key=effect.idempotency_key,
            send=journey_pb2.SendAction(
                channel=effect.channel,
                template_id=effect.template_id,
                fallback=list(effect.fallback),
                category=effect.category,
                vars=to_struct(vars_),
                templates=effect.templates,
            ),
        )
    if isinstance(effect, UpdateProfile):
        return journey_pb2.JourneyAction(
            **base,
            idempotency_key=effect.idempotency_key,
            update_profile=journey_pb2.UpdateProfileAction(traits=to_struct(effect.traits), tags=dict(effect.tags)),
        )
    if isinstance(effect, CallWebhook):
        return journey_pb2.JourneyAction(
            **base,
            idempotency_key=effect.idempotency_key,
            webhook=journey_pb2.WebhookAction(channel=effect.channel, body=to_struct(effect.body)),
        )
    return None


def stepped(
    state: RunState, change: str, node: str, at: dt.datetime, reason: str = "", value: float = 0.0
) -> journey_pb2.RunStepped:
    return journey_pb2.RunStepped(
        workspace_id=state.workspace_id,
        journey_id=state.journey_id,
        version=state.version,
        run_id=state.run_id,
        person_id=state.person_id,
        change=change,
        node=node,
        variant=",".join(f"{k}={v}" for k, v in sorted(state.variants.items())),
        at=to_timestamp(at),
        seq=state.seq,
        reason=reason,
        holdout=state.holdout,
        value=value,
    )


def _set_fields(state: RunState, now: dt.datetime) -> tuple[dict, dict]:
    """($set, $unset) of a step: the timer fields exist only while a timer is pending."""
    fields = {**state_fields(state), "moved_at": now}
    due = due_of(state)
    if due is not None:
        fields["due_at"] = due
        return fields, {}
    return fields, {"due_at": ""}


class Runner:
    def __init__(self, client, store: JourneyStore, relay: OutboxRelay, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock

    # -- planning (pure, given the facts) -------------------------------------------------
    def plan_entry(
        self, version: LiveVersion, person: str, key: str, entry: dict, facts, now: dt.datetime,
        generation: int, holdout: bool, launch_id: str = "",
    ) -> Planned:  # fmt: skip
        run = run_id(version.journey_id, person, f"{launch_id}|{key}" if launch_id else key, generation)
        state = RunState(
            run_id=run,
            workspace_id=version.workspace_id,
            journey_id=version.journey_id,
            version=version.version,
            person_id=person,
            key=key,
            seq=0,
            status="active",
            node=version.definition.start,
            entered_at=now,
            entry=entry,
            holdout=holdout,
        )
        step = engine.advance(version.definition, state, Entered(), facts, now)
        goal = version.definition.goal
        goal_until = now + goal.within if goal is not None else None
        return Planned(None, step, version, launch_id, goal_until)

    def plan_deferred(
        self,
        version: LiveVersion,
        person: str,
        facts,
        now: dt.datetime,
        when: dt.datetime,
        holdout: bool,
        launch_id: str,
    ) -> Planned:
        """A run entered now that starts at `when` (a schedule in the person's local time): it waits at DEFERRED."""
        run = run_id(version.journey_id, person, f"{launch_id}|", 0)
        state = RunState(
            run_id=run, workspace_id=version.workspace_id, journey_id=version.journey_id, version=version.version,
            person_id=person, key="", seq=0, status="waiting", node=version.definition.start, entered_at=now,
            holdout=holdout, wait=Wait(node=DEFERRED, due_at=when),
        )  # fmt: skip
        goal = version.definition.goal
        return Planned(None, Step(state=state, visited=[]), version, launch_id, when + goal.within if goal else None)

    def plan_advance(
        self, version: LiveVersion, state: RunState, trigger: Trigger, facts, now: dt.datetime
    ) -> Planned | None:
        step = engine.advance(version.definition, state, trigger, facts, now)
        if not step.changed:
            return None
        return Planned(state.seq, step, version)

    # -- committing --------------------------------------------------------------------------
    def _announcements(self, plans: list[Planned], now: dt.datetime) -> tuple[list, dict, list[Assign]]:
        items: list[tuple[str, str, object]] = []
        counts: dict[tuple[str, int, str, str], int] = {}
        assigns: list[tuple[RunState, Assign]] = []
        for plan in plans:
            state = plan.step.state
            announced = len(items)
            if plan.before_seq is None:
                items.append((STEPS, state.person_id, stepped(state, "entered", state.node, now)))
            for node in plan.step.visited:
                counts[(state.journey_id, state.version, node, "entered")] = (
                    counts.get((state.journey_id, state.version, node, "entered"), 0) + 1
                )
            for effect in plan.step.effects:
                if isinstance(effect, Assign):
                    assigns.append((state, effect))
                    continue
                action = action_of(effect, state, plan.version, plan.launch_id)
                if action is not None:
                    items.append((ACTIONS, state.person_id, action))
            if state.status in ENDED:
                counts[(state.journey_id, state.version, state.node, state.status)] = (
                    counts.get((state.journey_id, state.version, state.node, state.status), 0) + 1
                )
                items.append((STEPS, state.person_id, stepped(state, state.status, state.node, now, state.end_reason)))
            elif state.status == "waiting":
                items.append((STEPS, state.person_id, stepped(state, "waiting", state.node, now)))
            if plan.step.visited:
                # The nodes passed ride on the step's last announcement (a step that announces
                # nothing else, e.g. one waiting for its actions, says "step").
                mine = [item for item in items[announced:] if item[0] == STEPS]
                if not mine:
                    mine = [(STEPS, state.person_id, stepped(state, "step", state.node, now))]
                    items.append(mine[0])
                mine[-1][2].visited.extend(plan.step.visited)
        return items, counts, assigns

    async def _write(
        self,
        plans: list[Planned],
        now: dt.datetime,
        session,
        entries: list | None = None,
        launch_cursor: dict | None = None,
        tolerant: bool = False,
    ) -> list[Planned]:
        """Write the plans; returns those written. `tolerant`: each run's compare-and-set on its own
        (in the same transaction), so the runs that moved meanwhile drop out and the rest commit."""
        if launch_cursor is not None:
            moved = await self.store.launches.update_one(
                launch_cursor["filter"], launch_cursor["update"], session=session
            )
            if moved.matched_count == 0:
                raise LostRace()
        ops, steps = [], []
        for plan in plans:
            state = plan.step.state
            if plan.before_seq is None:
                doc = run_doc(state, plan.goal_until, plan.launch_id)
                doc["moved_at"] = now
                doc.update(plan.extra)
                ops.append(InsertOne(doc))
            else:
                sets, unsets = _set_fields(state, now)
                update = {"$set": sets}
                if unsets:
                    update["$unset"] = unsets
                steps.append(({"_id": state.run_id, "seq": plan.before_seq}, update))
                ops.append(UpdateOne(*steps[-1]))
        if ops and tolerant:
            if len(steps) != len(plans):
                raise ValueError("tolerant writes are for steps of existing runs")
            kept = []
            for plan, (filter_, update) in zip(plans, steps, strict=True):
                result = await self.store.runs.update_one(filter_, update, session=session)
                if result.matched_count:
                    kept.append(plan)
            plans = kept
        elif ops:
            result = await self.store.runs.bulk_write(ops, ordered=True, session=session)
            expected_updates = sum(1 for p in plans if p.before_seq is not None)
            if result.matched_count != expected_updates:
                raise LostRace()
        items, counts, assigns = self._announcements(plans, now)
        for state, assign in assigns:
            await self.store.assignments.update_one(
                {"_id": f"{state.workspace_id}|{assign.experiment}|{state.person_id}"},
                {"$setOnInsert": {"variant": assign.variant, "at": now, "workspace": state.workspace_id,
                                  "experiment": assign.experiment, "person_id": state.person_id}},
                upsert=True,
                session=session,
            )  # fmt: skip
        for entry_id, filter_, change in entries or []:
            await self._entries_update(entry_id, filter_, change, session)
        # The entry policy reads who is still in (keyed: per key) and when they left: one bulk write
        # for the runs of the batch that ended (a campaign launch's runs have no entries document).
        ended = [
            UpdateOne(
                {"_id": entries_id(p.step.state.journey_id, p.step.state.person_id)},
                {"$unset": {f"active.{key_field(p.step.state.key)}": ""}, "$set": {"last_exit_at": now}},
            )
            for p in plans
            if p.step.state.status in ENDED and not p.launch_id
        ]
        if ended:
            await self.store.entries.bulk_write(ended, ordered=False, session=session)
        if counts:
            by_journey: dict[str, dict] = {}
            for (journey, version, node, what), n in counts.items():
                by_journey.setdefault(journey, {})[(version, node, what)] = n
            for journey, deltas in by_journey.items():
                await self.store.count(journey, deltas, session)
        await self.relay.add_many(items, session)
        return plans

    async def _entries_update(self, entry_id: str, filter_: dict, change: dict, session) -> None:
        """The entry's compare-and-set on the (journey, person) entries document; v 0 creates it."""
        creating = filter_.get("v") == 0
        try:
            result = await self.store.entries.update_one(
                {"_id": entry_id, **filter_}, change, upsert=creating, session=session
            )
        except Exception as exc:
            if creating and is_duplicate_key(exc):
                raise LostRace() from None
            raise
        if not creating and result.matched_count == 0:
            raise LostRace()

    async def commit(
        self, plans: list[Planned], entries: list | None = None, launch_cursor: dict | None = None
    ) -> list[Planned]:
        """Commit plans together; on a lost race, one by one. Returns the plans that committed.

        `launch_cursor` ({filter, update}): a campaign chunk's checkpoint, a compare-and-set in the same
        transaction; when it loses (another owner, paused), nothing of the chunk commits.
        """
        plans = [p for p in plans if p is not None]
        if not plans and launch_cursor is None:
            return []
        now = self.clock.now()

        async def all_of(session) -> None:
            await self._write(plans, now, session, entries, launch_cursor)

        try:
            await in_transaction(self.client, all_of)
            self.relay.notify()
            return plans
        except (LostRace, BulkWriteError) as exc:
            if isinstance(exc, BulkWriteError) and not is_duplicate_key(exc):
                raise
            if len(plans) == 1 or launch_cursor is not None:
                return []
        if not entries and all(p.before_seq is not None for p in plans):
            # Steps of existing runs (a poll of timers, some claimed twice). First the runs still at
            # the seq they were planned from, read in one query, commit as a batch again: a poll of
            # 500 with one run moved meanwhile is then two bulk writes, not 500 updates.
            current = await self._still_at(plans)
            if 0 < len(current) < len(plans):

                async def the_rest(session) -> None:
                    await self._write(current, now, session)

                try:
                    await in_transaction(self.client, the_rest)
                    self.relay.notify()
                    return current
                except LostRace:
                    pass  # moved again meanwhile: each run on its own below
            elif not current:
                return []

            # One transaction in which each run's compare-and-set stands alone, instead of one
            # transaction per run.
            async def winners(session) -> list[Planned]:
                return await self._write(plans, now, session, tolerant=True)

            done = await in_transaction(self.client, winners)
            self.relay.notify()
            return done
        done = []
        for plan in plans:
            if await self.commit([plan], self._entries_for(plan, entries)):
                done.append(plan)
        return done

    async def _still_at(self, plans: list[Planned]) -> list[Planned]:
        """The plans whose run is still at the seq it was planned from, one plan per run."""
        ids = [p.step.state.run_id for p in plans]
        seqs = {d["_id"]: d.get("seq") for d in await find_in(self.store.runs, {}, "_id", ids, {"seq": 1})}
        kept, seen = [], set()
        for plan in plans:
            run = plan.step.state.run_id
            if run not in seen and seqs.get(run) == plan.before_seq:
                seen.add(run)
                kept.append(plan)
        return kept

    @staticmethod
    def _entries_for(plan: Planned, entries: list | None) -> list:
        wanted = entries_id(plan.step.state.journey_id, plan.step.state.person_id)
        return [e for e in entries or [] if e[0] == wanted]

    # -- ending and converting -----------------------------------------------------------------
    async def end(self, version: LiveVersion, state: RunState, reason: str) -> bool:
        """Exit a live run now (an exit criterion, a cancel): its pending wait is void from this commit on.

        The run may step between its read and this write (its timer fired, a wait ended): the exit
        still applies to where it is now, so a lost compare-and-set re-reads the run and tries again
        while it is live. Bounded, as a run that keeps moving under a flood of triggers must not hold
        the caller forever; the caller's next event or segment change tries again.
        """
        for _ in range(END_ATTEMPTS):
            if state.status in ENDED:
                return False
            now = self.clock.now()
            ended = RunState(**{**state.__dict__, "seq": state.seq + 1, "status": "exited", "wait": None,
                                "ended_at": now, "end_reason": reason})  # fmt: skip
            if await self.commit([Planned(state.seq, Step(state=ended), version)]):
                return True
            doc = await self.store.runs.find_one({"_id": state.run_id})
            if doc is None:
                return False
            state = state_of(doc)
        log.warning("run kept moving; exit not applied", extra={"run_id": state.run_id, "reason": reason})
        return False

    async def convert(self, doc: dict, at: dt.datetime, value: float, cause: str) -> bool:
        """Count a goal once per run: the first matching event within the window converts it."""
        now = self.clock.now()

        async def work(session) -> bool:
            result = await self.store.runs.update_one(
                {"_id": doc["_id"], "converted_at": None},
                {"$set": {"converted_at": at, "conversion_value": value, "conversion_cause": cause}},
                session=session,
            )
            if result.modified_count == 0:
                return False
            await self.store.count(doc["journey_id"], {(doc["version"], doc["node"], "converted"): 1}, session)
            state = state_of(doc)
            await self.relay.add_many(
                [(STEPS, state.person_id, stepped(state, "converted", state.node, now, cause, value))], session
            )
            return True

        converted = await in_transaction(self.client, work)
        if converted:
            self.relay.notify()
        return converted
