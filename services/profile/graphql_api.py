"""GraphQL subgraph of profile: Person.traits/tags/computed/events, tag definitions, LTV report.

A merged (loser) person id resolves through its tombstone to the winner's
profile, so a frontend holding an old id still sees the person's values.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from services.kit.audit import Audit, audited
from services.kit.catalog import COMPUTED
from services.kit.errors import InvalidInput, NotFound
from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of
from services.profile import reports
from services.profile.jobs import TagJobs, job_view
from services.profile.rulebook import Rulebook, WorkspaceRules
from services.profile.standing import Thresholds
from services.profile.store import ProfileStore
from services.profile.tags import TagDefinition as Definition
from services.profile.traits import check_write
from services.profile.updates import ProfileUpdater, request_cause
from services.profile.views import TagView, computed_values

_GRAPHQL_TYPES = {"int": int, "float": float, "time": dt.datetime, "text": str, "enum": str, "list": list[str]}


def _describe(trait) -> str:
    if trait.values:
        return f"{trait.description} One of: {', '.join(trait.codes)}."
    return trait.description


def _computed_type() -> type:
    """The Computed type, one field per catalog entry (non-null where the catalog gives a default)."""
    annotations, fields = {}, {}
    for trait in COMPUTED.values():
        kind = _GRAPHQL_TYPES[trait.type]
        annotations[trait.name] = kind if trait.default is not None else kind | None
        fields[trait.name] = strawberry.field(description=_describe(trait))
    cls = type("Computed", (), {"__annotations__": annotations, **fields})
    return strawberry.type(cls, description="Traits computed from the person's events (the computed-trait catalog).")


Computed = _computed_type()


@strawberry.type
class ProfileTag:
    name: str
    value: str
    source: str
    confidence: float
    assigned_at: dt.datetime
    expires_at: dt.datetime | None


@strawberry.type
class PersonEvent:
    message_id: str
    type: str
    event: str | None
    timestamp: dt.datetime
    properties: JSON


@strawberry.type
class PersonEventConnection:
    nodes: list[PersonEvent]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class TagDefinition:
    name: str
    display_name_zh: str
    display_name_en: str
    category: str
    source: str
    value_kind: str
    description: str
    rule: str


@strawberry.type
class ChannelLtv:
    channel: str
    persons: int
    revenue: float
    mean_ltv: float


@strawberry.type
class TagJob:
    id: strawberry.ID
    state: str
    total: int
    done: int
    tagged: int
    segment_id: str | None
    error: str | None


@strawberry.type
class ProfileThresholds:
    recency_days: list[float]
    frequency_orders: list[float]
    monetary: list[float]
    high_score: int
    silent_days: float
    churned_days: float
    growing_orders: int
    loyal_orders: int


@strawberry.type
class ProfileSettings:
    thresholds: ProfileThresholds
    trait_schema: JSON
    retention_days: int
    contact_traits_server_only: bool = strawberry.field(
        description="Contact traits (email, phone, push_token, wechat_openid, wechat_unionid) only from "
        "upsertTraits / UpsertTraits, never from identify events of the collection API."
    )


@strawberry.input
class TagInput:
    name: str
    value: str = ""
    confidence: float | None = None
    source: str = "own"
    expires_at: dt.datetime | None = None


@strawberry.input
class TagDefinitionInput:
    name: str
    display_name_zh: str = ""
    display_name_en: str = ""
    category: str = "custom"
    source: str = "own"
    value_kind: str = "flag"
    description: str = ""
    rule: str = ""


@strawberry.input
class ProfileThresholdsInput:
    recency_days: list[float] | None = None
    frequency_orders: list[float] | None = None
    monetary: list[float] | None = None
    high_score: int | None = None
    silent_days: float | None = None
    churned_days: float | None = None
    growing_orders: int | None = None
    loyal_orders: int | None = None


@strawberry.type
class AssignTagsResult:
    persons: list["Person"]
    job: TagJob | None


def _definition(d: Definition) -> TagDefinition:
    return TagDefinition(**d.as_dict())


def _job(job: dict) -> TagJob:
    v = job_view(job)
    return TagJob(
        id=strawberry.ID(v["_id"]),
        state=v["state"],
        total=v["total"] or 0,
        done=v["done"] or 0,
        tagged=v["tagged"] or 0,
        segment_id=v["segment_id"] or None,
        error=v["error"],
    )


def _settings(found: WorkspaceRules) -> ProfileSettings:
    return ProfileSettings(
        thresholds=ProfileThresholds(**found.rules.thresholds.as_dict()),
        trait_schema=found.trait_schema,
        retention_days=found.retention_days,
        contact_traits_server_only=found.contact_traits_server_only,
    )


async def _load(info: strawberry.Info, person_id) -> dict | None:
    return await info.context["profiles"].load((workspace_of(info), str(person_id)))


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "Person":
        return cls(id=id)

    @strawberry.field(description="Identify traits (set, set-once, unset semantics).")
    async def traits(self, info: strawberry.Info) -> JSON:
        return ((await _load(info, self.id)) or {}).get("traits") or {}

    @strawberry.field(description="Traits computed from the person's events (orders, RFM, lifecycle, LTV).")
    async def computed(self, info: strawberry.Info) -> Computed:
        return Computed(**computed_values(await _load(info, self.id)))

    @strawberry.field(description="Tags in force: assigned (not expired) and computed by rules.")
    async def tags(self, info: strawberry.Info) -> list[ProfileTag]:
        return [ProfileTag(**vars(t)) for t in TagView.all_of(await _load(info, self.id))]

    @strawberry.field(description="The person's path through the shop: stored events, newest first.")
    async def events(
        self, info: strawberry.Info, first: int = 20, after: str | None = None, type: str | None = None
    ) -> PersonEventConnection:
        doc = await _load(info, self.id)
        if doc is None:
            return PersonEventConnection(nodes=[], end_cursor=None, has_next_page=False)
        store: ProfileStore = info.context["store"]
        workspace = workspace_of(info)
        members = [d["_id"] for d in await store.subtree(workspace, doc["_id"])]
        events, cursor = await reports.timeline(store, workspace, members, first, after or "", type or "")
        nodes = [
            PersonEvent(
                message_id=e["message_id"],
                type=e["type"],
                event=e.get("event") or None,
                timestamp=e["timestamp"],
                properties=e.get("properties") or {},
            )
            for e in events
        ]
        end = reports.encode_cursor(events[-1]) if events else None
        return PersonEventConnection(nodes=nodes, end_cursor=end, has_next_page=bool(cursor))


@strawberry.type
class Query:
    @strawberry.field(description="Profile of one person by ONE_ID.")
    async def profile(self, info: strawberry.Info, person_id: strawberry.ID) -> Person | None:
        found = await _load(info, person_id)
        return Person(id=person_id) if found else None

    @strawberry.field(description="The workspace's tag definitions, template library included.")
    async def tag_definitions(self, info: strawberry.Info) -> list[TagDefinition]:
        found = await info.context["rulebook"].of(workspace_of(info))
        return [_definition(d) for _, d in sorted(found.definitions.items())]

    @strawberry.field(description="Per first-touch channel: persons, revenue net of refunds, mean LTV.")
    async def ltv_by_channel(self, info: strawberry.Info) -> list[ChannelLtv]:
        return [ChannelLtv(**r) for r in await reports.ltv_by_channel(info.context["store"], workspace_of(info))]

    @strawberry.field(description="Progress of a bulk tagging job.")
    async def tag_job(self, info: strawberry.Info, id: strawberry.ID) -> TagJob:
        return _job(await info.context["jobs"].get(workspace_of(info), str(id)))

    @strawberry.field(description="RFM and lifecycle thresholds, trait schema and event retention.")
    async def profile_settings(self, info: strawberry.Info) -> ProfileSettings:
        return _settings(await info.context["rulebook"].of(workspace_of(info)))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Set, set-once and unset traits of a person.")
    async def upsert_traits(
        self,
        info: strawberry.Info,
        person_id: strawberry.ID,
        set: JSON | None = None,
        set_once: JSON | None = None,
        unset: list[str] | None = None,
    ) -> Person:
        workspace = workspace_of(info)
        updater: ProfileUpdater = info.context["updater"]
        schema = (await info.context["rulebook"].of(workspace)).trait_schema
        set_, once, removed = check_write(_object(set, "set"), _object(set_once, "set_once"), unset, schema)
        await updater.upsert_traits(
            workspace, str(person_id), set_, once, removed, request_cause("graphql:upsertTraits")
        )
        return await _person(info, person_id)

    @strawberry.mutation(description="Tag persons (up to 100 at once) or, as a job, more persons or a segment.")
    async def assign_tags(
        self,
        info: strawberry.Info,
        tags: list[TagInput],
        person_ids: list[strawberry.ID] | None = None,
        segment_id: strawberry.ID | None = None,
    ) -> AssignTagsResult:
        workspace = workspace_of(info)
        updater: ProfileUpdater = info.context["updater"]
        checked = await updater.check_assignments(workspace, [vars(t) for t in tags])
        persons = [str(p) for p in person_ids or []]
        cause = request_cause("graphql:assignTags")
        tagged, job = await info.context["jobs"].tag(
            workspace, persons, str(segment_id or ""), checked, cause, "personIds"
        )
        if job is not None:
            return AssignTagsResult(persons=[], job=_job(job))
        info.context["profiles"].clear_all()
        return AssignTagsResult(persons=[Person(id=strawberry.ID(p)) for p in dict.fromkeys(tagged)], job=None)

    @strawberry.mutation(description="Remove assigned tags from a person.")
    async def remove_tags(self, info: strawberry.Info, person_id: strawberry.ID, names: list[str]) -> Person:
        workspace = workspace_of(info)
        await info.context["updater"].remove_tags(workspace, str(person_id), names, request_cause("graphql:removeTags"))
        return await _person(info, person_id)

    @strawberry.mutation(description="Create or change a tag definition.")
    async def define_tag(self, info: strawberry.Info, definition: TagDefinitionInput) -> TagDefinition:
        made = await info.context["rulebook"].define(workspace_of(info), Definition(**vars(definition)))
        return _definition(made)

    @strawberry.mutation(
        description="Change thresholds, trait schema, retention or where contact traits may come from; "
        "what is not given stays."
    )
    async def update_profile_settings(
        self,
        info: strawberry.Info,
        thresholds: ProfileThresholdsInput | None = None,
        trait_schema: JSON | None = None,
        retention_days: int | None = None,
        contact_traits_server_only: bool | None = None,
    ) -> ProfileSettings:
        rulebook: Rulebook = info.context["rulebook"]
        async with audited(info, "profile.settings", "settings") as entry:
            workspace = entry.workspace
            merged = None
            if thresholds is not None:
                current = (await rulebook.of(workspace)).rules.thresholds.as_dict()
                merged = Thresholds(**{k: v if v is not None else current[k] for k, v in vars(thresholds).items()})
            schema = _object(trait_schema, "traitSchema") if trait_schema is not None else None
            saved = await rulebook.update_settings(
                workspace, merged, schema, retention_days, contact_traits_server_only
            )
        return _settings(saved)


def _object(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object", field)
    return value


async def _person(info: strawberry.Info, person_id) -> Person:
    # The mutation changed it: later fields of this request must read it afresh.
    info.context["profiles"].clear_all()
    doc = await _load(info, person_id)
    if doc is None:
        raise NotFound(f"no profile for person {person_id!r}", "personId")
    return Person(id=person_id)


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(store: ProfileStore, updater: ProfileUpdater, rulebook: Rulebook, jobs: TagJobs, audit: Audit):
    async def load(keys: list[tuple[str, str]]) -> list[dict | None]:
        out: dict[tuple[str, str], dict] = {}
        for workspace in {w for w, _ in keys}:
            docs = await store.resolve_many(workspace, [p for w, p in keys if w == workspace])
            out.update({(workspace, pid): doc for pid, doc in docs.items()})
        return [out.get(k) for k in keys]

    async def make(request) -> dict:
        return {
            "profiles": DataLoader(load_fn=load),
            "store": store,
            "updater": updater,
            "rulebook": rulebook,
            "jobs": jobs,
            "audit": audit,
        }

    return make
