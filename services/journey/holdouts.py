"""Holdouts and experiment assignments: who is kept out, and which variant each person saw.

A person is held out of a journey when their bucket (a salted hash into
10,000 buckets, services/kit/experiment_stats.bucket) falls below the
journey's holdout share, or below the workspace-wide holdout share for
marketing journeys. Held-out people enter runs like everyone else and pass
the same steps without being sent anything, so their conversions count
against the treated group's.

Variants are recorded at first exposure (`assignments`), and identity merges
keep them stable: the person who survives a merge keeps their own variant,
or takes the merged person's if they had none (workers.IdentityWorker).
"""

from __future__ import annotations

import time

from services.journey.live import LiveVersion
from services.journey.store import JourneyStore
from services.kit.experiment_stats import in_holdout

SETTINGS_TTL = 5.0
# The same default as messaging's policy, so a wait "until 10:00" and quiet hours agree.
DEFAULT_TIMEZONE = "Asia/Shanghai"


class Holdouts:
    def __init__(self, store: JourneyStore) -> None:
        self.store = store
        self._settings: dict[str, tuple[float, dict]] = {}

    async def settings(self, workspace: str) -> dict:
        cached = self._settings.get(workspace)
        if cached and time.monotonic() - cached[0] < SETTINGS_TTL:
            return cached[1]
        doc = await self.store.settings.find_one({"_id": workspace}) or {}
        self._settings[workspace] = (time.monotonic(), doc)
        return doc

    def forget_settings(self, workspace: str) -> None:
        self._settings.pop(workspace, None)

    async def timezone(self, workspace: str) -> str:
        return (await self.settings(workspace)).get("timezone") or DEFAULT_TIMEZONE

    async def held_out(self, version: LiveVersion, person: str) -> bool:
        if in_holdout(version.journey_id, person, version.definition.holdout_pct):
            return True
        workspace_share = (await self.settings(version.workspace_id)).get("holdout_pct", 0)
        return version.definition.marketing and in_holdout(version.workspace_id, person, workspace_share)

    async def assignments(
        self, workspace: str, experiments: list[str], persons: list[str]
    ) -> dict[str, dict[str, str]]:
        """person -> {experiment: variant} for the experiments asked (one indexed read per person)."""
        if not experiments:
            return {}
        out: dict[str, dict[str, str]] = {}
        for person in persons:
            async for doc in self.store.assignments.find({"workspace": workspace, "person_id": person}):
                if doc["experiment"] in experiments:
                    out.setdefault(person, {})[doc["experiment"]] = doc["variant"]
        return out
