"""GraphQL subgraph of segment: segments, previews, members, overlap, retention and Person.segments."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated

import strawberry

from services.kit.errors import InvalidInput
from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of
from services.segment.audiences import Audiences


def _cursor(uid: int) -> str:
    return base64.urlsafe_b64encode(f"uid:{uid}".encode()).decode()


def _uid_of(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("uid:"):
            raise ValueError(text)
        return int(text[4:])
    except ValueError:
        raise InvalidInput("after is not a cursor from this connection", "after") from None


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID
    # Owned by identity; the gateway fetches it first because segments require it.
    uid: int = strawberry.federation.field(external=True)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, uid: int | None = None, **_: object) -> Person:
        return cls(id=id, uid=-1 if uid is None else uid)

    @strawberry.federation.field(requires=["uid"], description="Saved segments this person is in now.")
    async def segments(self, info: strawberry.Info) -> list[Segment]:
        if self.uid < 0:
            return []
        docs = await info.context["audiences"].segments_of(workspace_of(info), self.uid)
        return [_segment(d) for d in docs]


@strawberry.type
class MemberEdge:
    cursor: str
    node: Person


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo


@strawberry.type
class Segment:
    id: strawberry.ID
    name: str
    rule: str = strawberry.field(description="Canonical text form (what is evaluated).")
    source: str = strawberry.field(description="The rule as it was sent (text or JSON form).")
    uses: list[str]
    windowed: bool
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @strawberry.field(description="Current number of members, counted from the bitmaps.")
    async def size(self, info: strawberry.Info) -> int:
        count, _ = await info.context["audiences"].count(workspace_of(info), str(self.id))
        return count

    @strawberry.field(description="Members in a stable order (by uid), a page at a time.")
    async def members(self, info: strawberry.Info, first: int = 100, after: str | None = None) -> MemberConnection:
        page, more = await info.context["audiences"].members_page(
            workspace_of(info), str(self.id), first, _uid_of(after)
        )
        edges = [MemberEdge(cursor=_cursor(uid), node=Person(id=strawberry.ID(pid), uid=uid)) for uid, pid in page]
        return MemberConnection(
            edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)
        )

    @strawberry.field(description="A random sample of members (same seed, same sample).")
    async def sample(self, info: strawberry.Info, size: int = 10, seed: int | None = None) -> list[Person]:
        audiences = info.context["audiences"]
        workspace = workspace_of(info)
        uids = await audiences.sample(workspace, str(self.id), size, seed)
        pids = await audiences.person_ids(workspace, uids)
        return [Person(id=strawberry.ID(p), uid=u) for u, p in zip(uids, pids, strict=True)]


def _segment(doc: dict) -> Segment:
    return Segment(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        rule=doc["rule"],
        source=doc.get("source", doc["rule"]),
        uses=doc.get("uses", []),
        windowed=doc.get("windowed", False),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
    )


@strawberry.type
class Preview:
    count: int
    elapsed_ms: float


@strawberry.type
class Overlap:
    intersection: int
    union: int
    sizes: list[int]


@strawberry.type
class RetentionRow:
    cohort: str
    size: int
    shares: list[float]


@strawberry.type
class Query:
    @strawberry.field
    async def segments(self, info: strawberry.Info) -> list[Segment]:
        return [_segment(d) for d in await info.context["audiences"].store.list(workspace_of(info))]

    @strawberry.field
    async def segment(self, info: strawberry.Info, id: strawberry.ID) -> Segment:
        return _segment(await info.context["audiences"].store.get(workspace_of(info), str(id)))

    @strawberry.field(description="Count a rule (text or JSON form) without saving it.")
    async def preview_segment(self, info: strawberry.Info, rule: str) -> Preview:
        count, elapsed = await info.context["audiences"].preview(workspace_of(info), rule)
        return Preview(count=count, elapsed_ms=elapsed)

    @strawberry.field(description="Members in all, in any, and in each of two or more segments.")
    async def segment_overlap(self, info: strawberry.Info, ids: list[strawberry.ID]) -> Overlap:
        both, either, sizes = await info.context["audiences"].overlap(workspace_of(info), [str(i) for i in ids])
        return Overlap(intersection=both, union=either, sizes=sizes)

    @strawberry.field(description="Cohorts by first cohortEvent per period; share doing returnEvent later.")
    async def retention(
        self,
        info: strawberry.Info,
        cohort_event: str,
        return_event: str,
        start: dt.date,
        periods: int = 8,
        period: str = "week",
    ) -> list[RetentionRow]:
        rows = await info.context["audiences"].retention(
            workspace_of(info), cohort_event, return_event, start, periods, period
        )
        return [RetentionRow(cohort=c, size=n, shares=s) for c, n, s in rows]


@strawberry.type(description="A trait or tag rules may name: kinds declared or seen in data so far.")
class SegmentField:
    path: str
    kinds: list[str]
    declared: list[str]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_segment(
        self,
        info: strawberry.Info,
        name: str,
        rule: str,
        announce_existing: Annotated[
            bool,
            strawberry.argument(
                description="Announce an enter on segment.membership for everyone who matches now "
                "(default: they are the silent baseline)."
            ),
        ] = False,
    ) -> Segment:
        return _segment(await info.context["audiences"].create(workspace_of(info), name, rule, announce_existing))

    @strawberry.mutation(
        description="Declare a trait (path traits.<name>, kind bool/number/text/list) or a tag (tags.<name>) "
        "before any data has it, so rules may name it."
    )
    async def declare_segment_field(self, info: strawberry.Info, path: str, kind: str = "") -> SegmentField:
        doc = await info.context["audiences"].declare_field(workspace_of(info), path, kind)
        return SegmentField(path=doc["path"], kinds=sorted(doc["kinds"]), declared=sorted(doc["declared"]))

    @strawberry.mutation
    async def update_segment(
        self, info: strawberry.Info, id: strawberry.ID, name: str | None = None, rule: str | None = None
    ) -> Segment:
        return _segment(await info.context["audiences"].update(workspace_of(info), str(id), name, rule))

    @strawberry.mutation
    async def delete_segment(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await info.context["audiences"].delete(workspace_of(info), str(id))


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(audiences: Audiences):
    async def make(request) -> dict:
        return {"audiences": audiences}

    return make
