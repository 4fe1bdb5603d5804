"""Each workspace's identity rules, read from the store and kept for a while.

One cache per process, handed to both the resolver and the graph (merges
check the same limits), so a rules change forgotten here is forgotten for
both.
"""

from __future__ import annotations

from services.identity.rules import Rules
from services.identity.store import IdentityStore
from services.kit.ttl_cache import TtlLru

# Other replicas pick up a rules change within this many seconds.
RULES_CACHE_SECONDS = 30.0
# Workspaces whose rules one process keeps; beyond, the least recently used are read again.
RULES_CACHE_ENTRIES = 10_000


class RulesCache:
    def __init__(
        self, store: IdentityStore, seconds: float = RULES_CACHE_SECONDS, entries: int = RULES_CACHE_ENTRIES
    ) -> None:
        self.store = store
        self.seconds = seconds
        self._rules: TtlLru[Rules] = TtlLru(entries)

    async def of(self, workspace: str) -> Rules:
        cached = self._rules.get(workspace)
        if cached is not None:
            return cached
        rules = Rules.from_document(await self.store.rules_document(workspace))
        self._rules.put(workspace, rules, self.seconds)
        return rules

    def forget(self, workspace: str) -> None:
        """Drop the cached rules after a change."""
        self._rules.pop(workspace)
