"""Each workspace's identity rules, read from the store and kept for a while.

One cache per process, handed to both the resolver and the graph (merges
check the same limits), so a rules change forgotten here is forgotten for
both.
"""

from __future__ import annotations

import time

from services.identity.rules import Rules
from services.identity.store import IdentityStore

# Other replicas pick up a rules change within this many seconds.
RULES_CACHE_SECONDS = 30.0


class RulesCache:
    def __init__(self, store: IdentityStore, seconds: float = RULES_CACHE_SECONDS) -> None:
        self.store = store
        self.seconds = seconds
        self._rules: dict[str, tuple[Rules, float]] = {}

    async def of(self, workspace: str) -> Rules:
        cached = self._rules.get(workspace)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        rules = Rules.from_document(await self.store.rules_document(workspace))
        self._rules[workspace] = (rules, time.monotonic() + self.seconds)
        return rules

    def forget(self, workspace: str) -> None:
        """Drop the cached rules after a change."""
        self._rules.pop(workspace, None)
