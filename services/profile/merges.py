"""Identity changes applied to profiles: merge, unmerge and forget.

Every combined or restored profile is a recompute (changes.recompute) over the
stored events of the person and of everyone merged into it, plus their recorded
API trait writes, so a merge and its unmerge give exactly what applying the
same events one by one to separate persons would have given. Each operation is
one transaction with its profile.changed announcements (outbox), and each is
idempotent by merge id (forget: by the person being gone).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from cdp.identity.v1 import events_pb2 as identity_events
from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.profile.changes import Update, apply_update, combine_api_traits, diff, recompute
from services.profile.derived import settle
from services.profile.rulebook import Rulebook
from services.profile.store import ProfileStore
from services.profile.tags import stronger
from services.profile.updates import announcement

log = logging.getLogger(__name__)

MERGED, UNMERGED = "merged", "unmerged"


class MergeApplier:
    def __init__(self, client: Any, store: ProfileStore, relay: OutboxRelay, clock: Clock, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock

    async def _run(self, work) -> bool:
        changed = await in_transaction(self.client, work)
        if changed:
            self.relay.notify()
        return bool(changed)

    async def merge(self, msg: identity_events.IdentityMerged) -> bool:
        """The winner absorbs the loser; False when there was nothing (more) to do."""
        ws, winner, loser = msg.workspace_id, msg.winner_id, msg.loser_id
        now = self.clock.now()

        async def work(session) -> bool:
            if await self.store.merge_record(ws, msg.merge_id, session) is not None:
                return False  # applied before, or its unmerge overtook it
            if await self.store.any_forgotten([(ws, winner), (ws, loser)], session):
                return False
            await self.store.put_merge_record(ws, msg.merge_id, winner, loser, MERGED, session)
            loser_doc = await self.store.get(ws, loser, session)
            if loser_doc is not None and loser_doc.get("merged_into"):
                if loser_doc["merged_into"] != winner:
                    log.warning("loser already merged elsewhere; merge skipped", extra=_ids(msg, loser_doc))
                return False
            if winner == loser or winner in {d["_id"] for d in await self.store.subtree(ws, loser, session)}:
                log.warning("merge would make a cycle; skipped", extra=_ids(msg, loser_doc))
                return False
            root_before = await self.store.resolve(ws, winner, session)
            await self.store.attach(ws, winner, msg.winner_uid, loser, now, session)
            await self.store.tombstone(ws, loser, msg.loser_uid, winner, now, session)
            # The winner may itself have been merged on meanwhile: the profile to rebuild is its chain's end.
            root = await self.store.resolve(ws, winner, session)
            await self._rebuild(ws, root, root_before, f"merge:{msg.merge_id}", now, session)
            return True

        return await self._run(work)

    async def unmerge(self, msg: identity_events.IdentityUnmerged) -> bool:
        """The winner gives the restored person back; both are recomputed from their own events."""
        ws, restored = msg.workspace_id, msg.restored_id
        now = self.clock.now()
        cause = f"unmerge:{msg.merge_id}"

        async def work(session) -> bool:
            record = await self.store.merge_record(ws, msg.merge_id, session)
            if record is not None and record["state"] == UNMERGED:
                return False
            # Recorded even when the merge has not arrived yet, so that it is a no-op when it does.
            await self.store.put_merge_record(ws, msg.merge_id, msg.winner_id, restored, UNMERGED, session)
            if record is None or await self.store.any_forgotten([(ws, msg.winner_id), (ws, restored)], session):
                return False
            restored_doc = await self.store.get(ws, restored, session)
            parent = (restored_doc or {}).get("merged_into")
            if not parent:
                return False
            await self.store.detach(ws, parent, restored, now, session)
            root_before = await self.store.resolve(ws, parent, session)
            if root_before is not None:
                await self._rebuild(ws, root_before, root_before, cause, now, session)
            # The restored person keeps whoever had been merged into it before.
            uid = msg.restored_uid or restored_doc["uid"]
            await self._rebuild(ws, {**restored_doc, "uid": uid}, None, cause, now, session)
            return True

        return await self._run(work)

    async def forget(self, msg: identity_events.PersonForgotten) -> bool:
        """Erase the person: profile, tombstones merged into it, and all their events.

        Any id of the person erases all of it: a merged (loser) id stands for the
        same person as its winner. The one announcement names every trait,
        computed value and tag path with null after, so that indexes built from
        profile.changed (the segment bitmaps) drop the person. Its `before` is
        null too: an erasure must not copy the erased values onto a topic (they
        would outlive the erasure there); receivers clear by path and uid.
        """
        ws = msg.workspace_id
        now = self.clock.now()

        async def work(session) -> bool:
            root = await self.store.resolve(ws, msg.person_id, session)
            if root is None:
                # Nothing live (erased before, or never seen): still make sure nothing can come back.
                await self.store.erase(ws, [msg.person_id], now, session)
                return False
            ids = sorted({msg.person_id} | {d["_id"] for d in await self.store.subtree(ws, root["_id"], session)})
            await self.store.erase(ws, ids, now, session)
            paths_only = Update(changes=[(path, None, None) for path, _, _ in diff(root, None).changes])
            await self._announce(ws, root["_id"], root["uid"], paths_only, f"forget:{msg.person_id}", now, session)
            return True

        return await self._run(work)

    async def _rebuild(self, ws: str, doc: dict, before: dict | None, cause: str, now: dt.datetime, session) -> None:
        """Recompute a live profile from its subtree's events and API writes; announce what changed."""
        tree = await self.store.subtree(ws, doc["_id"], session)
        members = [d["_id"] for d in tree]
        events = await self.store.events_of(ws, members, session)
        # The person's own API writes first: they win ties against absorbed persons' writes.
        api = combine_api_traits([d.get("api_traits") for d in sorted(tree, key=lambda d: d["_id"] != doc["_id"])])
        after = recompute(events, api, [d.get("archive") for d in tree])
        # Tags: the person's own assignments, plus the stronger of what those merged into it
        # brought (higher confidence wins); then everything derived, at the clock's time.
        own = next((d.get("own_tags") or {} for d in tree if d["_id"] == doc["_id"]), {})
        brought: dict[str, dict] = {}
        for member in tree:
            if member["_id"] != doc["_id"]:
                for name, value in (member.get("own_tags") or {}).items():
                    brought[name] = stronger(brought.get(name), value)
        after |= {"own_tags": own, "merged_tags": brought, "tags": (before or {}).get("tags") or {}}
        rules = await self.rulebook.of(ws)
        apply_update(after, settle(after, now, rules.rules))
        seq = max([doc.get("seq", 0), *(e.get("seq", 0) for e in events)])
        merged_from = next((d.get("merged_from") or [] for d in tree if d["_id"] == doc["_id"]), [])
        await self.store.write_live(ws, doc["_id"], doc["uid"], after, seq, now, session, merged_from)
        await self._announce(ws, doc["_id"], doc["uid"], diff(before, after), cause, now, session)

    async def _announce(self, ws: str, person_id: str, uid: int, update: Update, cause, now, session) -> None:
        if update.changes:
            await self.relay.add(
                Topics.PROFILE_CHANGED,
                person_id,
                announcement(ws, person_id, uid, update, cause, now),
                session,
            )


def _ids(msg, loser_doc: dict | None) -> dict:
    return {
        "workspace": msg.workspace_id,
        "merge_id": msg.merge_id,
        "winner": msg.winner_id,
        "loser": msg.loser_id,
        "merged_into": (loser_doc or {}).get("merged_into"),
    }
