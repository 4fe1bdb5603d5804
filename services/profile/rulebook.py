"""Per-workspace profile settings and tag definitions, with the template library seeded on first use.

Collections:
- `profile_settings`: {_id: workspace, thresholds: {...}, trait_schema: {name: type},
  retention_days, contact_traits_server_only, templates_loaded_at}. Absent fields take the documented defaults.
- `tag_definitions`: {_id: "<workspace>:<name>", workspace, name, display_name_zh,
  display_name_en, category, source, value_kind, description, rule, updated_at}.

Workspaces are created by identity; profile loads the template library for a
workspace the first time it touches it (an event, an API call), with upserts
that only insert, so replicas doing it at once and a restart are harmless,
and a workspace's own edits of a template are never overwritten.

Every worker reads these on each change, so they are cached per process for
`ttl` seconds; writes through this process drop the cache at once, other
replicas see them within the ttl.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.kit.errors import InvalidInput
from services.kit.mongo import in_transaction
from services.profile.derived import Rules
from services.profile.standing import Thresholds
from services.profile.tags import TEMPLATES, TagDefinition, canonical_rule
from services.profile.traits import check_schema

log = logging.getLogger(__name__)

MAX_DEFINITIONS = 500
# A moment every sweep considers due.
RESETTLE_AT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_RETENTION_DAYS = 3650


@dataclass
class WorkspaceRules:
    rules: Rules
    definitions: dict[str, TagDefinition]
    trait_schema: dict[str, str]
    retention_days: int  # 0: keep events for ever
    # Contact traits only from server-side writes, never from identify events (kit/contacts.py).
    contact_traits_server_only: bool = False


class Rulebook:
    def __init__(self, db: AsyncDatabase, ttl: float = 2.0) -> None:
        self.client = db.client
        self.profiles = db["profiles"]
        self.settings = db["profile_settings"]
        self.definitions = db["tag_definitions"]
        self.ttl = ttl
        self._cache: dict[str, tuple[float, WorkspaceRules]] = {}

    async def of(self, workspace: str) -> WorkspaceRules:
        hit = self._cache.get(workspace)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        settings = await self.settings.find_one({"_id": workspace})
        if settings is None or not settings.get("templates_loaded_at"):
            settings = await self._seed(workspace)
        docs = await self.definitions.find({"workspace": workspace}).to_list(None)
        definitions = {d["name"]: TagDefinition.of(d) for d in docs}
        thresholds = Thresholds.of(settings.get("thresholds"))
        found = WorkspaceRules(
            rules=Rules.of(thresholds, list(definitions.values())),
            definitions=definitions,
            trait_schema=settings.get("trait_schema") or {},
            retention_days=int(settings.get("retention_days") or 0),
            contact_traits_server_only=bool(settings.get("contact_traits_server_only")),
        )
        self._cache[workspace] = (time.monotonic(), found)
        return found

    async def _seed(self, workspace: str) -> dict:
        now = dt.datetime.now(dt.UTC)
        seeds = [
            UpdateOne(
                {"_id": f"{workspace}:{template.name}"},
                {"$setOnInsert": {"workspace": workspace, **template.as_dict(), "updated_at": now}},
                upsert=True,
            )
            for template in TEMPLATES
        ]
        await self.definitions.bulk_write(seeds, ordered=False)
        await self.settings.update_one({"_id": workspace}, {"$set": {"templates_loaded_at": now}}, upsert=True)
        return await self.settings.find_one({"_id": workspace})

    async def migrate_rules(self) -> int:
        """Rewrite stored tag rules into today's canonical text; returns how many changed.

        Tag rules were once a language of their own (lower-case `contains`,
        `!=`, free spacing); they are now the kit's rule language, stored
        canonical like segment rules. The rewrite keeps the meaning, so no
        profile needs re-deriving; it is conditional on the text it read, so
        replicas starting together do not fight. A rule the language refuses
        is left as it is and logged (derived.Rules skips it).
        """
        changed = 0
        async for doc in self.definitions.find({"rule": {"$nin": ["", None]}}, {"rule": 1, "value_kind": 1}):
            try:
                canonical = canonical_rule(doc["rule"], doc.get("value_kind") or "flag")
            except InvalidInput as exc:
                log.warning("stored tag rule does not parse", extra={"definition": doc["_id"], "problem": exc.message})
                continue
            if canonical != doc["rule"]:
                result = await self.definitions.update_one(
                    {"_id": doc["_id"], "rule": doc["rule"]}, {"$set": {"rule": canonical}}
                )
                changed += result.modified_count
        if changed:
            self._cache.clear()
            log.info("tag rules migrated to canonical text", extra={"count": changed})
        return changed

    def forget_cache(self, workspace: str) -> None:
        self._cache.pop(workspace, None)

    async def define(self, workspace: str, definition: TagDefinition) -> TagDefinition:
        definition.check()
        known = await self.of(workspace)
        if definition.name not in known.definitions and len(known.definitions) >= MAX_DEFINITIONS:
            raise InvalidInput(f"a workspace has at most {MAX_DEFINITIONS} tag definitions", "name")
        before = known.definitions.get(definition.name)
        rederive = (before.rule if before else "") != definition.rule or (
            before is not None and before.value_kind != definition.value_kind
        )

        async def work(session) -> None:
            await self.definitions.update_one(
                {"_id": f"{workspace}:{definition.name}"},
                {"$set": {"workspace": workspace, **definition.as_dict(), "updated_at": dt.datetime.now(dt.UTC)}},
                upsert=True,
                session=session,
            )
            if rederive:
                await self.resettle(workspace, session)

        await in_transaction(self.client, work)
        self.forget_cache(workspace)
        return definition

    async def resettle(self, workspace: str, session) -> None:
        """Make every profile of the workspace due for the sweep, which re-derives it under the new settings.

        A changed rule or threshold must reach the persons who send no event
        (a new rule tag, a lifecycle stage under new thresholds); the sweep
        settles them at its next run and announces what changed under the cause
        `sweep:rules:<person>:<rederive>`, unique to this change: under the
        day's `sweep:lifecycle` cause a receiver would drop it as a repeat of
        that day's time-driven change. Called in the transaction that changes
        the settings, so a crash cannot keep the change and lose the re-derivation.
        """
        await self.profiles.update_many(
            {"workspace": workspace, "computed": {"$exists": True}},
            {"$set": {"next_sweep_at": RESETTLE_AT, "rederive": uuid.uuid4().hex}, "$inc": {"version": 1}},
            session=session,
        )

    async def update_settings(
        self,
        workspace: str,
        thresholds: Thresholds | None = None,
        trait_schema: dict[str, str] | None = None,
        retention_days: int | None = None,
        contact_traits_server_only: bool | None = None,
    ) -> WorkspaceRules:
        """Change what is given; everything is checked before anything is written."""
        fields: dict = {}
        if thresholds is not None:
            fields["thresholds"] = thresholds.check().as_dict()
        if trait_schema is not None:
            fields["trait_schema"] = check_schema(trait_schema)
        if retention_days is not None:
            if not 0 <= retention_days <= MAX_RETENTION_DAYS:
                raise InvalidInput(f"retention_days must be 0 (keep) to {MAX_RETENTION_DAYS}", "retention_days")
            fields["retention_days"] = retention_days
        if contact_traits_server_only is not None:
            fields["contact_traits_server_only"] = bool(contact_traits_server_only)
        await self.of(workspace)  # seeds a new workspace first

        async def work(session) -> None:
            if fields:
                await self.settings.update_one({"_id": workspace}, {"$set": fields}, upsert=True, session=session)
            if thresholds is not None:
                await self.resettle(workspace, session)

        await in_transaction(self.client, work)
        self.forget_cache(workspace)
        return await self.of(workspace)
