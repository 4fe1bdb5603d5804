"""Event retention: stored events older than a workspace's `retention_days` are deleted.

Profiles must still be recomputable after that (merge, unmerge), so before
deleting, the pruned events of a person are folded into the person's `archive`
({traits, trait_stamps, computed}: what those events made), in the same
transaction as the delete. A recompute starts from the archives of everyone
involved (changes.combine) and folds the remaining events on top; because the
pruned events are all older than the remaining ones, that equals the fold of
every event. The archive lives on the document of the person the events were
resolved to (like the events' person_id), so an unmerge gives it back too.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from services.kit.clock import Clock
from services.kit.mongo import in_transaction
from services.profile.changes import recompute
from services.profile.rulebook import Rulebook
from services.profile.store import ProfileStore

log = logging.getLogger(__name__)


class Retention:
    def __init__(self, client: Any, store: ProfileStore, clock: Clock, rulebook: Rulebook, batch: int = 2000) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.rulebook = rulebook
        self.batch = batch

    async def run_once(self) -> int:
        """Prune every workspace that has a retention setting; returns the events pruned."""
        pruned = 0
        async for settings in self.rulebook.settings.find({"retention_days": {"$gt": 0}}, {"_id": 1}):
            pruned += await self.prune(settings["_id"])
        return pruned

    async def prune(self, workspace: str) -> int:
        rules = await self.rulebook.of(workspace)
        if rules.retention_days <= 0:
            return 0
        cutoff = self.clock.now() - dt.timedelta(days=rules.retention_days)
        old = self.store.events.find({"workspace": workspace, "timestamp": {"$lt": cutoff}}, {"person_id": 1})
        persons = sorted({d["person_id"] for d in await old.limit(self.batch).to_list(None)})
        pruned = 0
        for person_id in persons:
            pruned += await self._fold(workspace, person_id, cutoff)
        if pruned:
            log.info("events pruned", extra={"workspace": workspace, "events": pruned})
        return pruned

    async def _fold(self, workspace: str, person_id: str, cutoff: dt.datetime) -> int:
        selector = {"workspace": workspace, "person_id": person_id, "timestamp": {"$lt": cutoff}}

        async def work(session) -> int:
            events = await self.store.events.find(selector, session=session).to_list(None)
            if not events:
                return 0
            doc = await self.store.get(workspace, person_id, session)
            archive = recompute(events, archives=[(doc or {}).get("archive")])
            # A version bump like every profile write: a batched apply that read the profile
            # before this fold must not write its older document back over the archive.
            await self.store.profiles.update_one(
                {"_id": person_id, "workspace": workspace},
                {"$set": {"archive": archive}, "$inc": {"version": 1}},
                session=session,
            )
            await self.store.events.delete_many(selector, session=session)
            return len(events)

        return await in_transaction(self.client, work)
