"""Merge, unmerge and forget: each one MongoDB transaction with its announcement.

Merge keeps the older person (earlier created_at, then smaller id) and makes
the other an alias (`merged_into`) that still resolves to the winner; its
identifiers move to the winner. The merge log entry records what moved, what
the causing event attached, the cause and the rule, so that unmerge can put
the graph back exactly as it was before the merge.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import events_pb2
from services.identity import metrics as identity_metrics
from services.identity.cache import IdentityCache
from services.identity.rules import over_limits
from services.identity.rules_cache import RulesCache
from services.identity.store import IdentityStore
from services.kit.clock import Clock
from services.kit.errors import Conflict, InvalidInput, NotFound
from services.kit.kafka import Topics
from services.kit.mongo import find_each, in_transaction
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_timestamp

Identifier = tuple[str, str]


class StalePlan(Exception):
    """A person changed (merged or forgotten) since the plan was made: plan again."""


def _ids(items: list[Identifier]) -> list[common_pb2.Identifier]:
    return [common_pb2.Identifier(type=t, value=v) for t, v in items]


class IdentityGraph:
    def __init__(
        self,
        client: Any,
        store: IdentityStore,
        cache: IdentityCache,
        relay: OutboxRelay,
        clock: Clock,
        rules: RulesCache,
    ) -> None:
        self.client = client
        self.rules = rules
        self.store = store
        self.cache = cache
        self.relay = relay
        self.clock = clock

    async def merge(
        self,
        workspace: str,
        winner: str,
        loser: str,
        *,
        cause: str = "",
        rule: str = "",
        reason: str = "",
        attached: list[Identifier] | None = None,
    ) -> dict:
        if winner == loser:
            raise InvalidInput("cannot merge a person with itself", "person_id_b")
        now = self.clock.now()
        record = {
            "_id": f"m_{secrets.token_hex(8)}",
            "workspace": workspace,
            "winner": winner,
            "loser": loser,
            "attached": [list(i) for i in attached or []],
            "cause_message_id": cause,
            "rule": rule,
            "reason": reason,
            "at": now,
            "undone": False,
        }

        async def work(session) -> None:
            docs = [
                d
                for found in await find_each(
                    self.store.persons, [{"_id": p, "workspace": workspace} for p in (winner, loser)], session=session
                )
                for d in found
            ]
            found = {d["_id"]: d for d in docs}
            if len(found) < 2 or any(d.get("merged_into") for d in docs):
                raise StalePlan
            holdings = await self.store.holdings(workspace, [winner, loser], session=session)
            over = over_limits(holdings[winner] + holdings[loser], await self.rules.of(workspace))
            if over:
                raise Conflict(f"merging would break the identity rules: {over}", "person_id_b")
            record["moved"] = [list(i) for i in holdings[loser]]
            await self.store.identities.update_many(
                {"workspace": workspace, "person_id": loser}, {"$set": {"person_id": winner}}, session=session
            )
            await self.store.persons.update_one(
                {"_id": loser}, {"$set": {"merged_into": winner, "merged_at": now}}, session=session
            )
            await self.store.merges.insert_one(record, session=session)
            event = events_pb2.IdentityMerged(
                workspace_id=workspace,
                merge_id=record["_id"],
                winner_id=winner,
                winner_uid=found[winner]["uid"],
                loser_id=loser,
                loser_uid=found[loser]["uid"],
                moved=_ids([tuple(i) for i in record["moved"]]),
                cause_message_id=cause,
                rule=rule,
                at=to_timestamp(now),
            )
            await self.relay.add(Topics.IDENTITY_MERGED, winner, event, session)

        await in_transaction(self.client, work)
        identity_metrics.MERGES.labels("manual" if rule == "manual" else "event").inc()
        self.relay.notify()
        await self.cache.invalidate(workspace, [tuple(i) for i in record["moved"]])
        return record

    async def unmerge(self, workspace: str, merge_id: str, reason: str = "") -> dict:
        now = self.clock.now()

        async def work(session) -> dict:
            record = await self.store.merges.find_one({"_id": merge_id, "workspace": workspace}, session=session)
            if record is None:
                raise NotFound(f"merge {merge_id!r} not found", "merge_id")
            if record["undone"]:
                return record
            winner, loser = record["winner"], record["loser"]
            docs = [
                d
                for found in await find_each(
                    self.store.persons, [{"_id": p, "workspace": workspace} for p in (winner, loser)], session=session
                )
                for d in found
            ]
            found = {d["_id"]: d for d in docs}
            if winner not in found or loser not in found:
                raise Conflict("a person of this merge was forgotten; nothing to split", "merge_id")
            if found[winner].get("merged_into"):
                raise Conflict(
                    f"{winner} was merged into {found[winner]['merged_into']} later; unmerge that merge first",
                    "merge_id",
                )
            for id_type, value in record["moved"]:
                await self.store.identities.update_one(
                    {"workspace": workspace, "type": id_type, "value": value, "person_id": winner},
                    {"$set": {"person_id": loser}},
                    session=session,
                )
            for id_type, value in record["attached"]:
                await self.store.identities.delete_one(
                    {"workspace": workspace, "type": id_type, "value": value, "person_id": winner}, session=session
                )
            await self.store.persons.update_one(
                {"_id": loser}, {"$unset": {"merged_into": "", "merged_at": ""}}, session=session
            )
            changes = {"undone": True, "undone_at": now, "undo_reason": reason}
            await self.store.merges.update_one({"_id": merge_id}, {"$set": changes}, session=session)
            event = events_pb2.IdentityUnmerged(
                workspace_id=workspace,
                merge_id=merge_id,
                winner_id=winner,
                winner_uid=found[winner]["uid"],
                restored_id=loser,
                restored_uid=found[loser]["uid"],
                moved_back=_ids([tuple(i) for i in record["moved"]]),
                at=to_timestamp(now),
            )
            await self.relay.add(Topics.IDENTITY_UNMERGED, winner, event, session)
            return {**record, **changes}

        record = await in_transaction(self.client, work)
        identity_metrics.UNMERGES.inc()
        self.relay.notify()
        await self.cache.invalidate(workspace, [tuple(i) for i in record["moved"] + record["attached"]])
        return record

    async def forget(self, workspace: str, person_id: str) -> tuple[str, int]:
        """Erase a person (and the aliases merged into it); returns (person id, identifiers removed)."""
        person_id = await self.store.live_target(workspace, person_id)
        now = self.clock.now()
        removed: list[Identifier] = []

        async def work(session) -> int:
            person = await self.store.persons.find_one({"_id": person_id, "workspace": workspace}, session=session)
            if person is None:
                raise NotFound(f"person {person_id!r} not found", "person_id")
            everyone = [person_id]
            frontier = [person_id]
            while frontier:
                aliases = await self.store.persons.find(
                    {"workspace": workspace, "merged_into": {"$in": frontier}}, {"_id": 1}, session=session
                ).to_list(None)
                frontier = [a["_id"] for a in aliases]
                everyone += frontier
            held = await self.store.identities.find(
                {"workspace": workspace, "person_id": person_id}, {"type": 1, "value": 1}, session=session
            ).to_list(None)
            removed[:] = [(d["type"], d["value"]) for d in held]
            await self.store.identities.delete_many({"workspace": workspace, "person_id": person_id}, session=session)
            # In the same transaction: no moment where the identifiers are free and not yet suppressed.
            await self.store.suppress(workspace, removed, now, session)
            await self.store.persons.delete_many({"_id": {"$in": everyone}}, session=session)
            await self.store.merges.delete_many(
                {"workspace": workspace, "$or": [{"winner": {"$in": everyone}}, {"loser": {"$in": everyone}}]},
                session=session,
            )
            event = events_pb2.PersonForgotten(
                workspace_id=workspace, person_id=person_id, uid=person["uid"], at=to_timestamp(now)
            )
            await self.relay.add(Topics.PERSON_FORGOTTEN, person_id, event, session)
            return len(held)

        count = await in_transaction(self.client, work)
        self.relay.notify()
        await self.cache.invalidate(workspace, removed)
        return person_id, count


def merge_rule(linking: list[Identifier]) -> str:
    """Names the identifier types that tied the loser to the event, for the log."""
    return "shared " + ", ".join(sorted({t for t, _ in linking}))


def older(doc: dict) -> tuple[dt.datetime, str]:
    return (doc.get("created_at") or dt.datetime.max.replace(tzinfo=dt.UTC), doc["_id"])
