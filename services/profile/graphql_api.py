"""GraphQL subgraph of profile: Person.traits and Person.computed.

A merged (loser) person id resolves through its tombstone to the winner's
profile, so a frontend holding an old id still sees the person's values.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of
from services.profile.store import ProfileStore
from services.profile.views import ComputedView


@strawberry.type
class Computed:
    order_count: int
    revenue: float
    average_order_value: float
    first_order_at: dt.datetime | None
    last_order_at: dt.datetime | None
    last_active_at: dt.datetime | None
    event_count: int


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "Person":
        return cls(id=id)

    @strawberry.field(description="Identify traits (set, set-once, unset semantics).")
    async def traits(self, info: strawberry.Info) -> JSON:
        profile = await info.context["profiles"].load((workspace_of(info), str(self.id)))
        return (profile or {}).get("traits") or {}

    @strawberry.field(description="Traits computed from the person's events.")
    async def computed(self, info: strawberry.Info) -> Computed:
        profile = await info.context["profiles"].load((workspace_of(info), str(self.id)))
        return Computed(**vars(ComputedView.of(profile)))


@strawberry.type
class Query:
    @strawberry.field(description="Profile of one person by ONE_ID.")
    async def profile(self, info: strawberry.Info, person_id: strawberry.ID) -> Person | None:
        found = await info.context["profiles"].load((workspace_of(info), str(person_id)))
        return Person(id=person_id) if found else None


def build_schema() -> strawberry.Schema:
    return make_schema(Query, types=[Person])


def context_factory(store: ProfileStore):
    async def load(keys: list[tuple[str, str]]) -> list[dict | None]:
        out: dict[tuple[str, str], dict] = {}
        for workspace in {w for w, _ in keys}:
            docs = await store.resolve_many(workspace, [p for w, p in keys if w == workspace])
            out.update({(workspace, pid): doc for pid, doc in docs.items()})
        return [out.get(k) for k in keys]

    async def make(request) -> dict:
        return {"profiles": DataLoader(load_fn=load)}

    return make
