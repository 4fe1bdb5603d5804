"""The audit trail: who did which admin operation on which workspace, when, and how it ended.

Records go to the `audit` collection of the database the services share by default
(CDP_MONGO_DB), so each service writes its own operations and identity's `auditLog`
reads them all. A record never holds trait values, identifiers' values, passwords or
keys: `target` names the thing acted on by id, `detail` holds counts and names.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from pymongo import DESCENDING

from services.kit.auth import Claims
from services.kit.clock import Clock
from services.kit.errors import Forbidden, Unauthenticated
from services.kit.mongo import IndexSpec

log = logging.getLogger(__name__)

OUTCOMES = frozenset({"ok", "refused", "failed"})
# Who a record names when nobody authenticated (a failed login).
ANONYMOUS = "anonymous"

INDEXES = [
    IndexSpec("audit", [("workspace", 1), ("at", DESCENDING)], name="by_workspace"),
    IndexSpec("audit", [("workspace", 1), ("action", 1), ("at", DESCENDING)], name="by_action"),
]


@dataclass
class Entry:
    """The record an `Audit.around` block fills in as it learns more (the id of what it created)."""

    target: str
    detail: dict = field(default_factory=dict)
    workspace: str = ""


class Audit:
    def __init__(self, db, clock: Clock) -> None:
        self.records = db["audit"]
        self.clock = clock

    async def record(
        self,
        claims: Claims | None,
        action: str,
        workspace: str,
        target: str,
        outcome: str,
        detail: dict | None = None,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
        doc = {
            "who": claims.subject if claims is not None else ANONYMOUS,
            "action": action,
            "workspace": workspace,
            "target": target,
            "outcome": outcome,
            "at": self.clock.now(),
        }
        if detail:
            doc["detail"] = detail
        await self.records.insert_one(doc)

    async def recent(self, workspace: str, limit: int = 50, action: str | None = None) -> list[dict]:
        """A workspace's records, newest first."""
        query = {"workspace": workspace}
        if action:
            query["action"] = action
        cursor = self.records.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return await cursor.to_list(limit)

    @contextlib.asynccontextmanager
    async def around(self, claims: Claims | None, action: str, workspace: str, target: str = ""):
        """Record the operation in the block: `ok` when it returns, `refused` when the caller may not,
        `failed` on any other error (which goes on unchanged)."""
        entry = Entry(target)
        try:
            yield entry
        except (Forbidden, Unauthenticated) as exc:
            await self.record(claims, action, workspace, entry.target, "refused", {"reason": exc.message})
            raise
        except Exception as exc:
            await self.record(claims, action, workspace, entry.target, "failed", {"error": type(exc).__name__})
            raise
        await self.record(claims, action, workspace, entry.target, "ok", entry.detail or None)


@contextlib.asynccontextmanager
async def audited(info, action: str, target: str = "", scope=None):
    """An admin GraphQL operation, recorded: yields the entry, whose `workspace` the operation acts on.

    Needs `audit` (an Audit) in the GraphQL context. The caller must be authenticated
    (no record names nobody); one without the scope (admin unless `scope` says
    otherwise: a marketer publishes and stops journeys), or naming a workspace
    their credential does not cover, is recorded as `refused` in the workspace named.
    """
    from services.kit.auth import WORKSPACE_HEADER, Scope
    from services.kit.graphql import caller_of, workspace_of

    claims = caller_of(info)
    named = info.context["request"].headers.get(WORKSPACE_HEADER, "").strip()[:64] or claims.workspace
    async with info.context["audit"].around(claims, action, named, target) as entry:
        entry.workspace = workspace_of(info, scope or Scope.ADMIN)
        yield entry


@contextlib.asynccontextmanager
async def audited_call(audit: Audit, action: str, workspace: str, target: str = ""):
    """An admin gRPC operation, recorded under the caller the interceptor checked."""
    from services.kit.grpc_server import caller

    async with audit.around(caller(), action, workspace, target) as entry:
        entry.workspace = workspace
        yield entry
