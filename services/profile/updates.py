"""Applying changes to profiles atomically with their profile.changed announcement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.profile.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction, is_duplicate_key
from services.kit.outbox import OutboxRelay
from services.kit.protos import from_struct, from_timestamp, to_timestamp, to_value
from services.profile.changes import Update, apply_api_traits, apply_event
from services.profile.store import ProfileStore


def to_millis(at: dt.datetime | None) -> dt.datetime | None:
    """MongoDB keeps datetimes to the millisecond; compare stamps at the precision they are stored at.

    Otherwise an incremental comparison (against a fresh, microsecond timestamp)
    and a recompute (over the stored, truncated ones) could disagree.
    """
    return None if at is None else at.replace(microsecond=at.microsecond // 1000 * 1000)


def event_document(resolved: identity_events.ResolvedEvent) -> dict:
    e = resolved.event
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
        "traits": from_struct(e.traits),
        "context": from_struct(e.context),
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


class ProfileUpdater:
    def __init__(self, client: Any, store: ProfileStore, relay: OutboxRelay, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock

    async def apply_resolved(self, resolved: identity_events.ResolvedEvent) -> bool:
        """Store the event and fold it into the profile; False when it was applied before.

        The event keeps the person id it was resolved to; when that person has
        been merged into another (a late event), it is folded into the winner's
        profile, at the end of the merged_into chain.
        """
        workspace, person_id = resolved.event.workspace_id, resolved.person_id
        now = self.clock.now()

        async def work(session) -> None:
            profile = await self.store.resolve(workspace, person_id, session)
            if profile is None:
                # Only a person without a profile can be a forgotten one: check just then.
                if await self.store.is_forgotten(workspace, [person_id], session):
                    raise _Forgotten
                profile = {"_id": person_id, "uid": resolved.uid}
            seq = profile.get("seq", 0) + 1
            doc = {**event_document(resolved), "seq": seq}
            try:
                await self.store.record_event(doc, session)
            except Exception as exc:
                # The transaction is dead after a failed write: leave it, don't commit it.
                if is_duplicate_key(exc):
                    raise _AlreadyApplied from None
                raise
            update = apply_event(profile, doc)
            update.keep("seq", seq)
            await self._write(workspace, profile["_id"], profile["uid"], update, doc["message_id"], now, session)

        try:
            await in_transaction(self.client, work)
        except (_AlreadyApplied, _Forgotten):
            return False
        self.relay.notify()
        return True

    async def upsert_traits(
        self,
        workspace: str,
        person_id: str,
        set_: dict | None,
        set_once: dict | None,
        unset: list[str] | None,
        cause: str,
    ) -> None:
        """Write traits at the clock's time; a merged person's id writes to the winner's profile."""
        now = self.clock.now()

        async def work(session) -> None:
            profile = await self.store.resolve(workspace, person_id, session)
            if profile is None:
                raise InvalidInput(f"person {person_id!r} has no profile yet", "person_id")
            update = apply_api_traits(profile, to_millis(now), set_, set_once, unset)
            await self._write(workspace, profile["_id"], profile["uid"], update, cause, now, session)

        await in_transaction(self.client, work)
        self.relay.notify()

    async def _write(self, workspace, person_id, uid, update: Update, cause, now, session) -> None:
        await self.store.write(workspace, person_id, uid, update.set, update.unset, now, session)
        if update.changes:
            await self.relay.add(
                Topics.PROFILE_CHANGED,
                person_id,
                announcement(workspace, person_id, uid, update, cause, now),
                session,
            )
