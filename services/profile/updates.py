"""Applying changes to profiles atomically with their profile.changed announcement."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import uuid
from typing import Any

from pymongo.errors import BulkWriteError

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.contacts import CONTACT_TRAITS
from services.kit.errors import InvalidInput
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction, is_duplicate_key
from services.kit.outbox import OutboxRelay
from services.kit.protos import from_struct, from_timestamp, to_timestamp, to_value
from services.profile import metrics as profile_metrics
from services.profile.changes import Update, apply_api_traits, apply_event, apply_update
from services.profile.derived import settle
from services.profile.rulebook import Rulebook
from services.profile.store import ProfileStore
from services.profile.tags import assignment
from services.profile.traits import clean_event_traits


def to_millis(at: dt.datetime | None) -> dt.datetime | None:
    """MongoDB keeps datetimes to the millisecond; compare stamps at the precision they are stored at.

    Otherwise an incremental comparison (against a fresh, microsecond timestamp)
    and a recompute (over the stored, truncated ones) could disagree.
    """
    return None if at is None else at.replace(microsecond=at.microsecond // 1000 * 1000)


log = logging.getLogger(__name__)
# Persons tagged in one transaction by AssignTags and bulk jobs.
TAG_CHUNK = 100


def event_document(
    resolved: identity_events.ResolvedEvent, schema: dict[str, str] | None = None, contacts_server_only: bool = False
) -> dict:
    """The stored form of an event; identify traits that break the key rules or the schema are dropped.

    With contacts_server_only the contact traits are dropped too, before the
    event is stored, so no later rebuild from stored events brings them back.
    """
    e = resolved.event
    traits, dropped = clean_event_traits(from_struct(e.traits), schema)
    if dropped:
        log.warning("identify traits dropped", extra={"workspace": e.workspace_id, "keys": dropped[:20]})
    if contacts_server_only and CONTACT_TRAITS.intersection(traits):
        ignored = sorted(CONTACT_TRAITS.intersection(traits))
        traits = {k: v for k, v in traits.items() if k not in CONTACT_TRAITS}
        log.info("contact traits of an identify ignored (server-side only)", extra={"keys": ignored})
    context = from_struct(e.context)
    return {
        "_id": f"{e.workspace_id}:{e.message_id}",
        "workspace": e.workspace_id,
        "person_id": resolved.person_id,
        "message_id": e.message_id,
        "type": e.type,
        "event": e.event,
        "timestamp": to_millis(from_timestamp(e.timestamp)),
        "received_at": to_millis(from_timestamp(e.received_at)),
        "properties": from_struct(e.properties),
        "traits": traits,
        # Only what profiles use of the context (first-touch channel); the rest is identity's.
        "context": {"campaign": context["campaign"]} if isinstance(context.get("campaign"), dict) else {},
    }


def announcement(
    workspace: str, person_id: str, uid: int, update: Update, cause: str, at: dt.datetime
) -> events_pb2.ProfileChanged:
    return events_pb2.ProfileChanged(
        workspace_id=workspace,
        person_id=person_id,
        uid=uid,
        cause_message_id=cause,
        at=to_timestamp(at),
        changes=[
            events_pb2.FieldChange(path=path, before=to_value(before), after=to_value(after))
            for path, before, after in update.changes
        ],
    )


class _AlreadyApplied(Exception):
    """The event's messageId is in the history: a redelivery, nothing to do."""


class _Forgotten(Exception):
    """The event belongs to a person erased by person.forgotten: it must not bring them back."""


class _BatchConflict(Exception):
    """The batch met a duplicate, a tombstone or a concurrent write: apply it event by event instead."""


class _ProfileRace(_BatchConflict):
    """A profile of the batch was written between its read and the commit: reading again settles it."""


# Attempts of a batch whose profiles keep being written meanwhile (a merge or an API write on
# one of its persons) before it goes event by event: one conflict in a poll of 200 events
# otherwise costs 200 single transactions (28 polls while the demo shop loaded).
BATCH_ATTEMPTS = 3


class ProfileUpdater:
    def __init__(self, client: Any, store: ProfileStore, relay: OutboxRelay, clock: Clock, rulebook: Rulebook) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.rulebook = rulebook

    async def apply_resolved(self, resolved: identity_events.ResolvedEvent) -> bool:
        """Store the event and fold it into the profile; False when it was applied before.

        The event keeps the person id it was resolved to; when that person has
        been merged into another (a late event), it is folded into the winner's
        profile, at the end of the merged_into chain.
        """
        workspace, person_id = resolved.event.workspace_id, resolved.person_id
        now = self.clock.now()
        rules = await self.rulebook.of(workspace)
        base_doc = event_document(resolved, rules.trait_schema, rules.contact_traits_server_only)

        async def work(session) -> None:
            profile = await self.store.resolve(workspace, person_id, session)
            if profile is None:
                # Only a person without a profile can be a forgotten one: check just then.
                if await self.store.any_forgotten([(workspace, person_id)], session):
                    raise _Forgotten
                profile = {"_id": person_id, "uid": resolved.uid}
            seq = profile.get("seq", 0) + 1
            doc = {**base_doc, "seq": seq}
            try:
                await self.store.record_event(doc, session)
            except Exception as exc:
                # The transaction is dead after a failed write: leave it, don't commit it.
                if is_duplicate_key(exc):
                    raise _AlreadyApplied from None
                raise
            update = apply_event(profile, doc)
            settle(apply_update(profile, update), now, rules.rules, update)
            update.keep("seq", seq)
            await self._write(workspace, profile["_id"], profile["uid"], update, doc["message_id"], now, session)

        try:
            await in_transaction(self.client, work)
        except (_AlreadyApplied, _Forgotten):
            profile_metrics.EVENTS_SKIPPED.inc()
            return False
        self.relay.notify()
        profile_metrics.EVENTS_APPLIED.inc()
        return True

    async def apply_batch(self, batch: list[identity_events.ResolvedEvent]) -> int:
        """Apply many events with a handful of round trips, all or nothing; returns the events applied.

        A batch whose profiles were written meanwhile is read and folded again, up to
        BATCH_ATTEMPTS times; see _apply_batch_once for the rest.
        """
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                return await self._apply_batch_once(batch)
            except _ProfileRace:
                if attempt == BATCH_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _apply_batch_once(self, batch: list[identity_events.ResolvedEvent]) -> int:
        """One attempt of apply_batch.

        Events of a merged person (late ones) are applied one by one after the
        batch. Profiles are read before the transaction (concurrently); the transaction
        then inserts every event (a duplicate messageId aborts it), writes each
        touched profile once, whole, guarded by the `seq` and `version` it was
        read at (a concurrent writer aborts it; see ProfileStore.batch_write),
        and queues the very profile.changed records that applying the events one
        by one would have (one per event, its messageId the cause). Anything
        unusual (a duplicate, a forgotten person, a conflict) raises
        _BatchConflict, and the caller applies the same events one by one, which
        handles every case.
        """
        now = self.clock.now()
        docs: dict[str, dict] = {}
        keys: dict[tuple[str, str], int] = {}
        for resolved in batch:
            ws = resolved.event.workspace_id
            rules = await self.rulebook.of(ws)
            doc = event_document(resolved, rules.trait_schema, rules.contact_traits_server_only)
            if doc["_id"] in docs:
                raise _BatchConflict("the same messageId twice in one batch")
            docs[doc["_id"]] = doc
            keys.setdefault((ws, resolved.person_id), resolved.uid)
        found = await self.store.get_each(list(keys))
        # A late event of a merged person folds into the winner, which apply_resolved finds by
        # following the chain: such events go one by one after the batch, the rest stay in it.
        # (Failing the whole batch for them sent every event of a poll one by one: a shop's
        # stitched shoppers put one in most polls of 200.)
        late = {key for key, d in found.items() if d.get("merged_into")}
        later = [r for r in batch if (r.event.workspace_id, r.person_id) in late]
        docs = {i: d for i, d in docs.items() if (d["workspace"], d["person_id"]) not in late}
        keys = {key: uid for key, uid in keys.items() if key not in late}
        if not docs:
            return sum([await self.apply_resolved(r) for r in later])

        profiles: dict[tuple[str, str], dict] = {}
        originals: dict[tuple[str, str], dict] = {}
        for key, uid in keys.items():
            stored = found.get(key)
            originals[key] = stored
            profiles[key] = copy.deepcopy(stored) if stored else {"_id": key[1], "uid": uid}
        announcements = []
        # Each event is folded and settled exactly as apply_resolved would, and announced with its
        # own cause; each person's document is then written once, as the fold left it.
        for doc in docs.values():
            ws, key = doc["workspace"], (doc["workspace"], doc["person_id"])
            profile = profiles[key]
            profile["seq"] = doc["seq"] = profile.get("seq", 0) + 1
            update = apply_event(profile, doc)
            settle(apply_update(profile, update), now, (await self.rulebook.of(ws)).rules, update)
            apply_update(profile, update)
            if update.changes:
                message = announcement(ws, key[1], profile["uid"], update, doc["message_id"], now)
                announcements.append((Topics.PROFILE_CHANGED, key[1], message))
        new_persons = [key for key in keys if originals[key] is None]
        ops = [self.store.batch_write(key[0], profiles[key], originals[key], now) for key in keys]

        async def work(session) -> None:
            if new_persons and await self.store.any_forgotten(new_persons, session):
                raise _BatchConflict("an event of a forgotten person")
            await self.store.record_events(list(docs.values()), session)
            try:
                result = await self.store.profiles.bulk_write(ops, ordered=True, session=session)
            except BulkWriteError as exc:
                if not is_duplicate_key(exc):
                    raise
                raise _ProfileRace("a new person's profile was created meanwhile") from exc
            if result.matched_count + result.inserted_count != len(ops):
                raise _ProfileRace("a profile changed since it was read")
            await self.relay.add_many(announcements, session)

        try:
            await in_transaction(self.client, work)
        except BulkWriteError as exc:
            raise _BatchConflict("duplicate or concurrent write") from exc
        except Exception as exc:
            if is_duplicate_key(exc):
                raise _BatchConflict("duplicate key") from exc
            raise
        self.relay.notify()
        profile_metrics.EVENTS_APPLIED.inc(len(docs))
        return len(docs) + sum([await self.apply_resolved(r) for r in later])

    async def upsert_traits(
        self,
        workspace: str,
        person_id: str,
        set_: dict | None,
        set_once: dict | None,
        unset: list[str] | None,
        cause: str,
    ) -> None:
        """Write checked traits at the clock's time; a merged person's id writes to the winner's profile."""
        now = self.clock.now()
        rules = await self.rulebook.of(workspace)

        async def work(session) -> None:
            profile = await self.store.resolve(workspace, person_id, session)
            if profile is None:
                raise InvalidInput(f"person {person_id!r} has no profile yet", "person_id")
            update = apply_api_traits(profile, to_millis(now), set_, set_once, unset)
            settle(apply_update(profile, update), now, rules.rules, update)
            await self._write(workspace, profile["_id"], profile["uid"], update, cause, now, session)

        await in_transaction(self.client, work)
        self.relay.notify()

    async def check_assignments(self, workspace: str, tags: list[dict]) -> list[dict]:
        """[{name, value, confidence, source, expires_at}] checked against the definitions, as stored."""
        rules = await self.rulebook.of(workspace)
        now = self.clock.now()
        out = []
        if not tags:
            raise InvalidInput("at least one tag is required", "tags")
        for i, tag in enumerate(tags):
            field = f"tags[{i}]"
            definition = rules.definitions.get(tag.get("name") or "")
            if definition is None:
                raise InvalidInput(f"tag {tag.get('name')!r} is not defined in this workspace", f"{field}.name")
            made = assignment(
                definition,
                tag.get("value") or "",
                tag.get("confidence"),
                tag.get("source") or "",
                to_millis(now),
                to_millis(tag.get("expires_at")),
                now,
                field,
            )
            out.append({"name": definition.name, **made})
        return out

    async def assign_tags(
        self, workspace: str, person_ids: list[str], tags: list[dict], cause: str, skip_missing: bool = False, job=None
    ) -> list[str]:
        """Assign checked tags to persons in one transaction; returns the live person ids tagged.

        A person without a profile fails the whole call (nothing written), or is
        skipped when `skip_missing` (bulk jobs: a segment member may have been
        erased since). `job` (id, done count) is advanced in the same
        transaction, so a resumed job neither skips nor repeats persons; it is
        (job id, chunk number, persons in the chunk).
        """
        return await self._change_tags(workspace, person_ids, tags, [], cause, skip_missing, job)

    async def remove_tags(self, workspace: str, person_id: str, names: list[str], cause: str) -> None:
        rules = await self.rulebook.of(workspace)
        for i, name in enumerate(names):
            if name in rules.rules.computed_tags:
                raise InvalidInput(f"tag {name!r} is computed by its rule and cannot be removed", f"names[{i}]")
            if name not in rules.definitions:
                raise InvalidInput(f"tag {name!r} is not defined in this workspace", f"names[{i}]")
        await self._change_tags(workspace, [person_id], [], names, cause, False, None)

    async def _change_tags(self, workspace, person_ids, tags, removals, cause, skip_missing, job) -> list[str]:
        now = self.clock.now()
        rules = await self.rulebook.of(workspace)

        async def work(session) -> list[str]:
            tagged = []
            for i, person_id in enumerate(person_ids):
                profile = await self.store.resolve(workspace, person_id, session)
                if profile is None:
                    if skip_missing:
                        continue
                    raise InvalidInput(f"person {person_id!r} has no profile", f"person_ids[{i}]")
                members = profile.get("merged_from") or []
                update = Update()
                for tag in tags:
                    stored = {k: v for k, v in tag.items() if k != "name"}
                    update.keep(f"own_tags.{tag['name']}", stored)
                    if members:
                        update.keep(f"merged_tags.{tag['name']}", stored)
                for name in removals:
                    update.unset.append(f"own_tags.{name}")
                    if members:
                        update.unset.append(f"merged_tags.{name}")
                # Everyone merged into the person carries the operator's decision too, so an
                # unmerge does not bring back a removed tag nor lose an assigned one.
                if members:
                    await self.store.set_member_tags(workspace, profile["_id"], tags, removals, session)
                settle(apply_update(profile, update), now, rules.rules, update)
                await self._write(workspace, profile["_id"], profile["uid"], update, cause, now, session)
                tagged.append(profile["_id"])
            if job is not None:
                await self.store.advance_job(*job, len(tagged), session)
            return tagged

        tagged = await in_transaction(self.client, work)
        self.relay.notify()
        return tagged

    async def _write(self, workspace, person_id, uid, update: Update, cause, now, session) -> None:
        await self.store.write(workspace, person_id, uid, update.set, update.unset, now, session)
        if update.changes:
            await self.relay.add(
                Topics.PROFILE_CHANGED,
                person_id,
                announcement(workspace, person_id, uid, update, cause, now),
                session,
            )


def request_cause(kind: str) -> str:
    """A cause id for an API change: unique per call, so receivers never take it for a repeat."""
    return f"{kind}:{uuid.uuid4().hex}"
