"""The scheduled sweep: what changes with time alone, with no event arriving.

Every profile carries `next_sweep_at`, the earliest moment at which time alone
changes it (a tag expires, the lifecycle stage turns silent or churned, an RFM
recency score decays); `settle` maintains it on every write. The sweep asks
for the profiles whose moment has come (an indexed range query), settles each
at the clock's time in a transaction with its announcements, and so sets the
next moment. It also deletes stored events past a workspace's retention,
after folding them into the persons' archives (see retention.py).

Announcements are split by kind, with the causes the contract names:
`sweep:expiry:<person>:<expiry time>` for an expired tag,
`sweep:rfm:<person>:<day>` for RFM scores and the rfm_group tag,
`sweep:lifecycle:<person>:<day>` for the lifecycle stage and every other rule tag;
and, for a profile made due by a change of rules or thresholds (Rulebook.resettle),
`sweep:rules:<person>:<change id>` for everything but expiries, since such a change
may come on a day whose time-driven changes were already announced.
A re-run of the same sweep on the same day finds nothing left to do, and
downstream receivers dedupe a re-published record by that cause.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import due_by, in_transaction
from services.kit.outbox import OutboxRelay
from services.profile.changes import Update
from services.profile.derived import settle
from services.profile.retention import Retention
from services.profile.rulebook import RESETTLE_AT, Rulebook
from services.profile.store import ProfileStore
from services.profile.updates import announcement

log = logging.getLogger(__name__)


def kind_of(path: str, before: Any, after: Any) -> tuple[str, str | None]:
    """(kind, expiry ISO time or None) of one change made by the sweep."""
    if path.startswith("tags.") and after is None and isinstance(before, dict) and before.get("expires_at"):
        return "expiry", before["expires_at"]
    if path.startswith("computed.rfm_") or path == "tags.rfm_group":
        return "rfm", None
    return "lifecycle", None


class Sweeper:
    def __init__(
        self,
        client: Any,
        store: ProfileStore,
        relay: OutboxRelay,
        clock: Clock,
        rulebook: Rulebook,
        interval: float = 60.0,
        batch: int = 500,
    ) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.rulebook = rulebook
        self.interval = interval
        self.batch = batch
        self.retention = Retention(client, store, clock, rulebook)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                while await self.run_once() >= self.batch and not stopping.is_set():
                    pass
                await self.retention.run_once()
            except Exception:
                log.exception("profile sweep failed; retrying")
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    async def run_once(self, workspace: str | None = None) -> int:
        """Settle every profile due at the clock's time; returns how many were due."""
        now = self.clock.now()
        query: dict = {"next_sweep_at": due_by(now)}
        if workspace is not None:
            query["workspace"] = workspace
        due = await self.store.profiles.find(query, {"_id": 1, "workspace": 1}).limit(self.batch).to_list(None)
        # A profile made due by a settings change (Rulebook.resettle) must be settled under the new
        # settings, which this process may not have read yet when another replica made the change.
        for workspace_ in {doc["workspace"] for doc in due}:
            self.rulebook.forget_cache(workspace_)
        for doc in due:
            await self.settle_one(doc["workspace"], doc["_id"], now)
        if due:
            self.relay.notify()
        return len(due)

    async def settle_one(self, workspace: str, person_id: str, now: dt.datetime) -> None:
        rules = await self.rulebook.of(workspace)
        day = now.date().isoformat()

        async def work(session) -> None:
            profile = await self.store.get(workspace, person_id, session)
            if profile is None or profile.get("merged_into"):
                return
            update = settle(profile, now, rules.rules)
            # Due because the rules changed (not because time passed): announced under that change's own cause.
            rederive = profile.get("rederive") if profile.get("next_sweep_at") == RESETTLE_AT else None
            if "rederive" in profile:
                update.unset.append("rederive")
            await self.store.write(workspace, person_id, profile["uid"], update.set, update.unset, now, session)
            groups: dict[str, Update] = {}
            for path, before, after in update.changes:
                kind, expiry = kind_of(path, before, after)
                if rederive and kind != "expiry":
                    cause = f"sweep:rules:{person_id}:{rederive}"
                else:
                    cause = f"sweep:{kind}:{person_id}:{expiry or day}"
                groups.setdefault(cause, Update()).changes.append((path, before, after))
            for cause, group in sorted(groups.items()):
                await self.relay.add(
                    Topics.PROFILE_CHANGED,
                    person_id,
                    announcement(workspace, person_id, profile["uid"], group, cause, now),
                    session,
                )

        await in_transaction(self.client, work)
