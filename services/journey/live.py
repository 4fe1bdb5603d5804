"""The journeys a process acts on: published versions, parsed once, refreshed every few seconds.

Workers ask it which journeys of a workspace listen to an event name or a
segment, and for the definition of any (journey, version) a run is on (runs
finish on the version they entered unless a publish moved them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from services.journey import definition as definitions
from services.journey.store import JourneyStore

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class LiveVersion:
    workspace_id: str
    journey_id: str
    version: int
    definition: definitions.Definition
    # active, paused, archived
    status: str
    kind: str
    name: str = ""


class LiveJourneys:
    def __init__(self, store: JourneyStore, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._versions: dict[tuple[str, int], definitions.Definition] = {}
        self._live: dict[str, list[LiveVersion]] = {}
        self._by_id: dict[str, LiveVersion] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def definition(self, journey_id: str, version: int) -> definitions.Definition | None:
        key = (journey_id, version)
        if key not in self._versions:
            doc = await self.store.version(journey_id, version)
            if doc is None:
                return None
            self._versions[key] = definitions.parse(doc["definition"])
        return self._versions[key]

    async def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.refresh_seconds:
            return
        async with self._lock:
            if not force and time.monotonic() - self._loaded_at < self.refresh_seconds:
                return
            live: dict[str, list[LiveVersion]] = {}
            by_id: dict[str, LiveVersion] = {}
            async for doc in self.store.journeys.find({"status": {"$in": ["active", "paused"]}, "version": {"$gt": 0}}):
                definition = await self.definition(doc["_id"], doc["version"])
                if definition is None:
                    continue
                version = LiveVersion(
                    doc["workspace"],
                    doc["_id"],
                    doc["version"],
                    definition,
                    doc["status"],
                    doc.get("kind", "journey"),
                    doc.get("name", ""),
                )
                live.setdefault(doc["workspace"], []).append(version)
                by_id[doc["_id"]] = version
            self._live, self._by_id = live, by_id
            self._loaded_at = time.monotonic()

    async def of_workspace(self, workspace: str) -> list[LiveVersion]:
        await self.refresh()
        return self._live.get(workspace, [])

    async def journey(self, journey_id: str) -> LiveVersion | None:
        await self.refresh()
        return self._by_id.get(journey_id)

    async def version_of(self, journey_id: str, version: int) -> LiveVersion | None:
        """The live view of a run's own version (which may be older than the journey's current one)."""
        current = await self.journey(journey_id)
        if current is None:
            return None
        if current.version == version:
            return current
        definition = await self.definition(journey_id, version)
        if definition is None:
            return None
        return LiveVersion(
            current.workspace_id, journey_id, version, definition, current.status, current.kind, current.name
        )

    def all_versions(self) -> list[LiveVersion]:
        """Every live version of every workspace, as of the last refresh."""
        return [version for versions in list(self._live.values()) for version in versions]

    def paused(self) -> list[str]:
        return [v.journey_id for v in self._by_id.values() if v.status != "active"]
