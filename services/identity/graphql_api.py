"""GraphQL subgraph of identity: the Person entity, identities, merges, erasure; credentials (access_api)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader

from services.identity.access_api import AccessMutation, AccessQuery
from services.identity.graph import IdentityGraph
from services.identity.people import PersonView, load_persons
from services.identity.resolver import Resolver
from services.identity.store import IdentityStore
from services.kit.audit import audited
from services.kit.clock import Clock
from services.kit.errors import InvalidInput, NotFound
from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of


@strawberry.type
class Identity:
    type: str
    value: str


@strawberry.input
class IdentityInput:
    type: str
    value: str


@strawberry.type
class Merge:
    id: strawberry.ID
    winner_id: strawberry.ID
    loser_id: strawberry.ID
    moved: list[Identity]
    cause_message_id: str
    rule: str
    reason: str
    at: dt.datetime | None
    undone: bool


def _merge(doc: dict) -> Merge:
    return Merge(
        id=strawberry.ID(doc["_id"]),
        winner_id=strawberry.ID(doc["winner"]),
        loser_id=strawberry.ID(doc["loser"]),
        moved=[Identity(type=t, value=v) for t, v in doc.get("moved", [])],
        cause_message_id=doc.get("cause_message_id", ""),
        rule=doc.get("rule", ""),
        reason=doc.get("reason", ""),
        at=doc.get("at"),
        undone=doc.get("undone", False),
    )


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID
    uid: int
    created_at: dt.datetime | None
    identities: list[Identity]
    merged_into: strawberry.ID | None = None

    @classmethod
    async def resolve_reference(cls, info: strawberry.Info, id: strawberry.ID) -> Person | None:
        return await info.context["persons"].load((workspace_of(info), str(id)))

    @strawberry.field(description="Merges this person won or lost, newest first.")
    async def merge_history(self, info: strawberry.Info, limit: int = 20) -> list[Merge]:
        docs = await info.context["store"].merges_of(workspace_of(info), str(self.id), max(1, min(limit, 500)))
        return [_merge(d) for d in docs]


def _person(view: PersonView | None) -> Person | None:
    if view is None:
        return None
    return Person(
        id=strawberry.ID(view.id),
        uid=view.uid,
        created_at=view.created_at,
        identities=[Identity(type=t, value=v) for t, v in view.identifiers],
        merged_into=strawberry.ID(view.merged_into) if view.merged_into else None,
    )


@strawberry.type
class ForgetResult:
    person_id: strawberry.ID
    identifiers_removed: int


@strawberry.type
class Query(AccessQuery):
    @strawberry.field(description="A person by ONE_ID (an id merged away resolves to the winner) or by identifier.")
    async def person(
        self, info: strawberry.Info, id: strawberry.ID | None = None, identity: IdentityInput | None = None
    ) -> Person | None:
        workspace = workspace_of(info)
        if (id is None) == (identity is None):
            raise InvalidInput("give exactly one of id or identity", "id")
        if identity is not None:
            resolver: Resolver = info.context["resolver"]
            found, _ = await resolver.resolve(
                workspace, [(identity.type, identity.value)], info.context["clock"].now(), create=False
            )
            if found is None:
                return None
            id = found["_id"]
        live = await info.context["store"].live_target(workspace, str(id))
        return await info.context["persons"].load((workspace, live))


@strawberry.type
class Mutation(AccessMutation):
    @strawberry.mutation(description="Merge two persons by hand; the older one is kept.")
    async def merge_persons(
        self, info: strawberry.Info, person_id_a: strawberry.ID, person_id_b: strawberry.ID, reason: str
    ) -> Merge:
        async with audited(info, "person.merge", f"{person_id_a},{person_id_b}") as entry:
            workspace = entry.workspace
            store: IdentityStore = info.context["store"]
            a, b = [await store.live_target(workspace, str(p)) for p in (person_id_a, person_id_b)]
            docs = await store.persons_by_ids(workspace, [a, b])
            for pid, field in ((a, "personIdA"), (b, "personIdB")):
                if pid not in docs:
                    raise NotFound(f"person {pid!r} not found", field)
            if a == b:
                raise InvalidInput("both ids are the same person already", "personIdB")
            winner, loser = sorted([docs[a], docs[b]], key=lambda d: (d.get("created_at"), d["_id"]))
            graph: IdentityGraph = info.context["graph"]
            record = await graph.merge(
                workspace, winner["_id"], loser["_id"], cause="manual", rule="manual", reason=reason
            )
            entry.target, entry.detail = f"merge:{record['_id']}", {"winner": winner["_id"], "loser": loser["_id"]}
        return _merge(record)

    @strawberry.mutation(description="Reverse a merge from its log entry.")
    async def unmerge_persons(self, info: strawberry.Info, merge_id: strawberry.ID, reason: str) -> Merge:
        async with audited(info, "person.unmerge", f"merge:{merge_id}") as entry:
            record = await info.context["graph"].unmerge(entry.workspace, str(merge_id), reason)
        return _merge(record)

    @strawberry.mutation(description="Erase a person (PIPL/GDPR): identifiers, merges, and downstream data.")
    async def forget_person(self, info: strawberry.Info, person_id: strawberry.ID) -> ForgetResult:
        async with audited(info, "person.forget", f"person:{person_id}") as entry:
            person, removed = await info.context["graph"].forget(entry.workspace, str(person_id))
            entry.detail = {"identifiers_removed": removed}
        return ForgetResult(person_id=strawberry.ID(person), identifiers_removed=removed)

    @strawberry.mutation(
        description="Let a forgotten identifier identify someone again (a deliberate re-registration). "
        "Forgetting a person suppresses its identifiers, so replayed or late events cannot recreate it; "
        "this lifts that for one identifier. Returns false when it was not suppressed."
    )
    async def allow_identifier(self, info: strawberry.Info, identity: IdentityInput) -> bool:
        # Admin only and audited, as forgetPerson; the record names the type, never the value.
        async with audited(info, "identifier.allow", f"identifier:{identity.type}") as entry:
            prepared = await info.context["resolver"].prepare(entry.workspace, [(identity.type, identity.value)])
            if not prepared:
                raise InvalidInput("not a usable identifier: empty, blocked or of an unknown type", "identity")
            lifted = await info.context["store"].lift_suppression(entry.workspace, *prepared[0])
            entry.detail = {"lifted": lifted}
        return lifted


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(store: IdentityStore, resolver: Resolver, graph: IdentityGraph, clock: Clock, **access):
    """`access`: credentials, login and audit (access_api's fields use them)."""

    async def load(keys: list[tuple[str, str]]) -> list[Person | None]:
        out: dict[tuple[str, str], Person | None] = {}
        for workspace in {w for w, _ in keys}:
            ids = [p for w, p in keys if w == workspace]
            for pid, view in zip(ids, await load_persons(store, workspace, ids), strict=True):
                out[(workspace, pid)] = _person(view)
        return [out[k] for k in keys]

    async def make(request) -> dict:
        return {
            "store": store,
            "resolver": resolver,
            "graph": graph,
            "clock": clock,
            "persons": DataLoader(load_fn=load),
            **access,
        }

    return make
