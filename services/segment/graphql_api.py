"""GraphQL subgraph of segment: segments, previews, counts and Person.segments."""

from __future__ import annotations

import datetime as dt

import strawberry

from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of
from services.segment.audiences import Audiences


@strawberry.type
class Segment:
    id: strawberry.ID
    name: str
    rule: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @strawberry.field(description="Current number of members, counted from the bitmaps.")
    async def size(self, info: strawberry.Info) -> int:
        count, _ = await info.context["audiences"].preview(workspace_of(info), self.rule)
        return count


def _segment(doc: dict) -> Segment:
    return Segment(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        rule=doc["rule"],
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
    )


@strawberry.type
class Preview:
    count: int
    elapsed_ms: float


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID
    # Owned by identity; the gateway fetches it first because segments require it.
    uid: int = strawberry.federation.field(external=True)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, uid: int | None = None, **_: object) -> "Person":
        return cls(id=id, uid=-1 if uid is None else uid)

    @strawberry.federation.field(requires=["uid"], description="Saved segments this person is in now.")
    async def segments(self, info: strawberry.Info) -> list[Segment]:
        if self.uid < 0:
            return []
        docs = await info.context["audiences"].segments_of(workspace_of(info), self.uid)
        return [_segment(d) for d in docs]


@strawberry.type
class Query:
    @strawberry.field
    async def segments(self, info: strawberry.Info) -> list[Segment]:
        return [_segment(d) for d in await info.context["audiences"].store.list(workspace_of(info))]

    @strawberry.field
    async def segment(self, info: strawberry.Info, id: strawberry.ID) -> Segment:
        return _segment(await info.context["audiences"].store.get(workspace_of(info), str(id)))

    @strawberry.field(description="Count a rule without saving it.")
    async def preview_segment(self, info: strawberry.Info, rule: str) -> Preview:
        count, elapsed = await info.context["audiences"].preview(workspace_of(info), rule)
        return Preview(count=count, elapsed_ms=elapsed)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_segment(self, info: strawberry.Info, name: str, rule: str) -> Segment:
        return _segment(await info.context["audiences"].create(workspace_of(info), name, rule))

    @strawberry.mutation
    async def update_segment(
        self, info: strawberry.Info, id: strawberry.ID, name: str | None = None, rule: str | None = None
    ) -> Segment:
        return _segment(await info.context["audiences"].update(workspace_of(info), str(id), name, rule))

    @strawberry.mutation
    async def delete_segment(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await info.context["audiences"].store.delete(workspace_of(info), str(id))


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(audiences: Audiences):
    async def make(request) -> dict:
        return {"audiences": audiences}

    return make
