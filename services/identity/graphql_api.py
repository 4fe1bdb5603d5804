"""GraphQL subgraph of identity: the Person entity, its identities, lookups."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader

from services.identity.people import PersonView, load_persons
from services.identity.store import IdentityStore
from services.kit.errors import InvalidInput
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


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID
    uid: int
    created_at: dt.datetime | None
    identities: list[Identity]
    merged_into: strawberry.ID | None = None

    @classmethod
    async def resolve_reference(cls, info: strawberry.Info, id: strawberry.ID) -> "Person | None":
        return await info.context["persons"].load((workspace_of(info), str(id)))


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
class Query:
    @strawberry.field(description="A person by ONE_ID, or by any identifier it holds.")
    async def person(
        self, info: strawberry.Info, id: strawberry.ID | None = None, identity: IdentityInput | None = None
    ) -> Person | None:
        workspace = workspace_of(info)
        if (id is None) == (identity is None):
            raise InvalidInput("give exactly one of id or identity", "id")
        if identity is not None:
            store: IdentityStore = info.context["store"]
            key = (identity.type, identity.value.strip())
            owners = await store.owners(workspace, [key])
            if key not in owners:
                return None
            id = owners[key]
        return await info.context["persons"].load((workspace, str(id)))


def build_schema() -> strawberry.Schema:
    return make_schema(Query, types=[Person])


def context_factory(store: IdentityStore):
    async def load(keys: list[tuple[str, str]]) -> list[Person | None]:
        # One request is one workspace, but keep keys honest and group anyway.
        out: dict[tuple[str, str], Person | None] = {}
        for workspace in {w for w, _ in keys}:
            ids = [p for w, p in keys if w == workspace]
            for pid, view in zip(ids, await load_persons(store, workspace, ids), strict=True):
                out[(workspace, pid)] = _person(view)
        return [out[k] for k in keys]

    async def make(request) -> dict:
        return {"store": store, "persons": DataLoader(load_fn=load)}

    return make
