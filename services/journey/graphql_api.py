"""GraphQL subgraph of journey: journeys and campaigns, versions, stats, preview, experiments, Person.journeys."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from services.journey.campaigns import CampaignSpec
from services.journey.holdouts import DEFAULT_TIMEZONE
from services.journey.operations import Context
from services.kit.audit import Audit, audited
from services.kit.auth import Scope
from services.kit.errors import InvalidInput, NotFound
from services.kit.graphql import caller_of, workspace_of
from services.kit.graphql import schema as make_schema

MAX_LIST = 500
DEFAULT_PERSON_RUNS = 20


@strawberry.type
class StepStats:
    node: str
    entered: int
    waiting: int
    active: int
    exited: int
    done: int
    converted: int


@strawberry.type
class JourneyVersion:
    version: int
    definition: JSON
    migration: JSON
    published_at: dt.datetime | None
    published_by: str


@strawberry.type
class CampaignStatus:
    launch_id: str
    state: str
    audience: int
    handed: int
    sent: int
    skipped: int
    failed: int
    cancelled: int
    pending: int
    holdout: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@strawberry.type
class Journey:
    id: strawberry.ID
    name: str
    kind: str
    status: str
    version: int = strawberry.field(description="The live version (0 before the first publish).")
    draft: JSON | None
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None

    @strawberry.field(description="Per step: entered, waiting now, active now, exited, done, converted.")
    async def stats(self, info: strawberry.Info, version: int | None = None) -> list[StepStats]:
        ctx: Context = info.context["ctx"]
        counts = await ctx.library.counts(workspace_of(info), str(self.id), version)
        return [StepStats(**c.__dict__) for c in counts]

    @strawberry.field(description="Published versions, newest first.")
    async def versions(self, info: strawberry.Info) -> list[JourneyVersion]:
        ctx: Context = info.context["ctx"]
        docs = await ctx.library.versions(workspace_of(info), str(self.id))
        return [
            JourneyVersion(
                version=d["version"],
                definition=d["definition"],
                migration=d.get("migration") or {},
                published_at=d.get("published_at"),
                published_by=d.get("published_by", ""),
            )  # fmt: skip
            for d in docs
        ]

    @strawberry.field(description="A campaign's latest launch and its accounting (null for journeys).")
    async def campaign(self, info: strawberry.Info) -> CampaignStatus | None:
        if self.kind != "campaign":
            return None
        ctx: Context = info.context["ctx"]
        return _status(await ctx.launcher.status(workspace_of(info), str(self.id)))


@strawberry.type
class Run:
    id: strawberry.ID
    journey_id: str
    version: int
    person_id: strawberry.ID
    key: str
    status: str
    node: str
    entered_at: dt.datetime
    due_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: str
    holdout: bool
    variants: JSON
    converted_at: dt.datetime | None


@strawberry.type
class RunPage:
    runs: list[Run]
    next_after: str | None


@strawberry.type
class PublishResult:
    version: int
    dry_run: bool
    moves: JSON = strawberry.field(description='New node (or "stay") -> how many people in flight go there.')
    moved: int
    journey: Journey | None


@strawberry.type
class EnterResult:
    entered: bool
    reason: str
    run: Run | None


@strawberry.type
class PreviewStep:
    at: dt.datetime
    node: str
    kind: str
    detail: JSON


@strawberry.type
class JourneySettings:
    holdout_pct: float
    timezone: str


@strawberry.input
class CampaignVariantInput:
    name: str
    weight: float = 1.0
    template_id: str | None = None
    channel: str | None = None


@strawberry.input
class CampaignInput:
    name: str
    segment_id: str
    channel: str
    template_id: str
    at: dt.datetime | None = strawberry.field(default=None, description="First launch; default: now.")
    every: str | None = strawberry.field(default=None, description='Repeat interval such as "7d"; default: once.')
    rate_per_second: int = 1000
    holdout_pct: float = 0.0
    local_time: str | None = strawberry.field(
        default=None, description='"HH:MM": deliver at this local time of each person.'
    )
    variants: list[CampaignVariantInput] | None = None
    goal_event: str | None = None
    goal_within: str = "7d"


def _journey(doc: dict) -> Journey:
    return Journey(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        kind=doc.get("kind", "journey"),
        status=doc["status"],
        version=doc.get("version", 0),
        draft=doc.get("draft"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        published_at=doc.get("published_at"),
    )


def _run(doc: dict) -> Run:
    return Run(
        id=strawberry.ID(doc["_id"]),
        journey_id=doc["journey_id"],
        version=doc["version"],
        person_id=strawberry.ID(doc["person_id"]),
        key=doc.get("key", ""),
        status=doc["status"],
        node=doc["node"],
        entered_at=doc["entered_at"],
        due_at=doc.get("due_at"),
        ended_at=doc.get("ended_at"),
        end_reason=doc.get("end_reason", ""),
        holdout=bool(doc.get("holdout")),
        variants=doc.get("variants") or {},
        converted_at=doc.get("converted_at"),
    )


def _status(s: dict) -> CampaignStatus:
    return CampaignStatus(
        launch_id=s["launch_id"], state=s["state"], audience=s["audience"], handed=s["handed"], sent=s["sent"],
        skipped=s["skipped"], failed=s["failed"], cancelled=s["cancelled"], pending=s["pending"], holdout=s["holdout"],
        started_at=s.get("started_at"), finished_at=s.get("finished_at"),
    )  # fmt: skip


def _limit(limit: int, default: int = 100) -> int:
    limit = default if limit is None else limit
    if not 0 < limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}", "limit")
    return limit


def _json_object(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput("expected a JSON object", field)
    return value


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Person:
        return cls(id=id)

    @strawberry.field(description="The person's journey runs, newest first.")
    async def journeys(self, info: strawberry.Info, limit: int | None = DEFAULT_PERSON_RUNS) -> list[Run]:
        ctx: Context = info.context["ctx"]
        docs = await ctx.store.runs_of(workspace_of(info), str(self.id), _limit(limit, DEFAULT_PERSON_RUNS))
        return [_run(d) for d in docs]


@strawberry.type
class Query:
    @strawberry.field(description="Journeys and campaigns of the workspace, most recently changed first.")
    async def journeys(
        self, info: strawberry.Info, kind: str | None = None, status: str | None = None, limit: int | None = 100
    ) -> list[Journey]:
        ctx: Context = info.context["ctx"]
        return [_journey(d) for d in await ctx.library.list(workspace_of(info), kind, status, _limit(limit))]

    @strawberry.field
    async def journey(self, info: strawberry.Info, id: strawberry.ID) -> Journey | None:
        ctx: Context = info.context["ctx"]
        doc = await ctx.store.journey(workspace_of(info), str(id))
        return _journey(doc) if doc else None

    @strawberry.field(description="Who is at a step now, paged by run id (pass the previous page's nextAfter).")
    async def journey_step_people(
        self, info: strawberry.Info, id: strawberry.ID, node: str, after: str | None = None, limit: int | None = 100
    ) -> RunPage:
        ctx: Context = info.context["ctx"]
        limit = _limit(limit)
        docs = await ctx.library.at_step(workspace_of(info), str(id), node, after, limit)
        return RunPage(runs=[_run(d) for d in docs], next_after=docs[-1]["_id"] if len(docs) == limit else None)

    @strawberry.field
    async def journey_run(self, info: strawberry.Info, id: strawberry.ID) -> Run | None:
        ctx: Context = info.context["ctx"]
        doc = await ctx.store.run(workspace_of(info), str(id))
        return _run(doc) if doc else None

    @strawberry.field(
        description="Play one person's path with a simulated clock: each step and message it would produce."
    )
    async def preview_journey(
        self, info: strawberry.Info, person_id: strawberry.ID, id: strawberry.ID | None = None,
        definition: JSON | None = None, events: JSON | None = None, start: dt.datetime | None = None,
        horizon_days: int = 30,
    ) -> list[PreviewStep]:  # fmt: skip
        ctx: Context = info.context["ctx"]
        workspace = workspace_of(info)
        raw = _json_object(definition, "definition") if definition is not None else None
        played = events if events is not None else []
        if not isinstance(played, list):
            raise InvalidInput("events must be a list", "events")
        steps = await ctx.preview(workspace, str(id) if id else None, raw, str(person_id), played, start, horizon_days)
        return [PreviewStep(at=s.at, node=s.node, kind=s.kind, detail=s.detail) for s in steps]

    @strawberry.field(
        description="An experiment's (or a holdout's) results: per arm exposure, conversion, revenue, lift and significance."
    )
    async def experiment_results(
        self, info: strawberry.Info, journey_id: strawberry.ID, node: str | None = None
    ) -> JSON:
        ctx: Context = info.context["ctx"]
        return await ctx.experiments.results(workspace_of(info), str(journey_id), node)

    @strawberry.field
    async def campaign_status(self, info: strawberry.Info, id: strawberry.ID) -> CampaignStatus:
        ctx: Context = info.context["ctx"]
        return _status(await ctx.launcher.status(workspace_of(info), str(id)))

    @strawberry.field
    async def journey_settings(self, info: strawberry.Info) -> JourneySettings:
        ctx: Context = info.context["ctx"]
        doc = await ctx.store.settings.find_one({"_id": workspace_of(info)}) or {}
        return JourneySettings(holdout_pct=doc.get("holdout_pct", 0.0), timezone=doc.get("timezone", DEFAULT_TIMEZONE))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A new journey (or campaign) with a draft definition; validated, errors name the JSON path."
    )
    async def create_journey(
        self, info: strawberry.Info, name: str, definition: JSON | None = None, kind: str = "journey"
    ) -> Journey:
        ctx: Context = info.context["ctx"]
        workspace = workspace_of(info)
        raw = _json_object(definition, "definition") if definition is not None else None
        return _journey(await ctx.library.create(workspace, name, kind, raw))

    @strawberry.mutation(
        description="Replace the draft (and/or the name); the live version is not touched until publish."
    )
    async def save_journey_draft(
        self, info: strawberry.Info, id: strawberry.ID, definition: JSON | None = None, name: str | None = None
    ) -> Journey:
        ctx: Context = info.context["ctx"]
        workspace = workspace_of(info)
        raw = _json_object(definition, "definition") if definition is not None else None
        return _journey(await ctx.library.save_draft(workspace, str(id), name, raw))

    @strawberry.mutation(
        description='Publish the draft as the next version. mode "finish": people in flight stay on their version; '
        '"move": they move through nodeMap {old node: new node}. dryRun only counts where they would go.'
    )
    async def publish_journey(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        mode: str = "finish",
        node_map: JSON | None = None,
        dry_run: bool = False,
    ) -> PublishResult:
        ctx: Context = info.context["ctx"]
        workspace = workspace_of(info)
        mapping = _json_object(node_map, "nodeMap") if node_map is not None else {}
        if dry_run:
            result = await ctx.library.publish(workspace, str(id), "", mode, mapping, True)
            return PublishResult(version=result["version"], dry_run=True, moves=result["moves"], moved=0, journey=None)
        async with audited(info, "journey.publish", f"journey:{id}", Scope.WRITE) as entry:
            result = await ctx.library.publish(entry.workspace, str(id), caller_of(info).subject, mode, mapping, False)
            entry.detail = {"version": result["version"], "mode": mode}
        return PublishResult(
            version=result["version"],
            dry_run=False,
            moves=result["moves"],
            moved=result["moved"],
            journey=_journey(result["journey"]),
        )

    @strawberry.mutation
    async def pause_journey(self, info: strawberry.Info, id: strawberry.ID) -> Journey:
        return await _set_status(info, id, "paused")

    @strawberry.mutation
    async def resume_journey(self, info: strawberry.Info, id: strawberry.ID) -> Journey:
        return await _set_status(info, id, "active")

    @strawberry.mutation(description="Archive: no more entries, and every run in flight ends now.")
    async def archive_journey(self, info: strawberry.Info, id: strawberry.ID) -> Journey:
        return await _set_status(info, id, "archived")

    @strawberry.mutation(description="Enter a person into a published journey (idempotent per requestId).")
    async def enter_journey(
        self, info: strawberry.Info, id: strawberry.ID, person_id: strawberry.ID, key: str = "",
        properties: JSON | None = None, request_id: str = "",
    ) -> EnterResult:  # fmt: skip
        ctx: Context = info.context["ctx"]
        workspace = workspace_of(info)
        props = _json_object(properties, "properties") if properties is not None else {}
        outcome = await ctx.enter(workspace, str(id), str(person_id), key, props, request_id)
        doc = await ctx.store.run(workspace, outcome.run_id) if outcome.run_id else None
        return EnterResult(entered=outcome.entered, reason=outcome.reason, run=_run(doc) if doc else None)

    @strawberry.mutation(
        description="A send to a segment (now, at a time, or recurring), as a journey with one send step; publish starts it."
    )
    async def create_campaign(self, info: strawberry.Info, input: CampaignInput) -> Journey:
        ctx: Context = info.context["ctx"]
        workspace = workspace_of(info)
        spec = CampaignSpec(
            segment_id=input.segment_id, channel=input.channel, template_id=input.template_id,
            at=input.at.isoformat() if input.at else "", every=input.every or "", rate_per_second=input.rate_per_second,
            holdout_pct=input.holdout_pct, local_time=input.local_time or "",
            variants=tuple({"name": v.name, "weight": v.weight, "template_id": v.template_id, "channel": v.channel} for v in input.variants or ()),
            goal_event=input.goal_event or "", goal_within=input.goal_within,
        )  # fmt: skip
        return _journey(await ctx.create_campaign(workspace, input.name, spec, input.rate_per_second))

    @strawberry.mutation
    async def pause_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignStatus:
        return await _campaign(info, id, "pause")

    @strawberry.mutation
    async def resume_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignStatus:
        return await _campaign(info, id, "resume")

    @strawberry.mutation(description="Cancel: nobody else is entered; those not yet entered count as cancelled.")
    async def cancel_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignStatus:
        return await _campaign(info, id, "cancel")

    @strawberry.mutation(
        description="Workspace-wide holdout share (percent, kept out of every marketing journey) and time zone."
    )
    async def set_journey_settings(
        self, info: strawberry.Info, holdout_pct: float | None = None, timezone: str | None = None
    ) -> JourneySettings:
        ctx: Context = info.context["ctx"]
        async with audited(info, "journey.settings", "settings") as entry:
            doc = await ctx.set_settings(entry.workspace, holdout_pct, timezone)
        return JourneySettings(holdout_pct=doc.get("holdout_pct", 0.0), timezone=doc.get("timezone", DEFAULT_TIMEZONE))


async def _set_status(info: strawberry.Info, id: strawberry.ID, status: str) -> Journey:
    ctx: Context = info.context["ctx"]
    async with audited(info, f"journey.{status}", f"journey:{id}", Scope.WRITE) as entry:
        doc = await ctx.library.set_status(entry.workspace, str(id), status)
    return _journey(doc)


async def _campaign(info: strawberry.Info, id: strawberry.ID, action: str) -> CampaignStatus:
    ctx: Context = info.context["ctx"]
    async with audited(info, f"campaign.{action}", f"journey:{id}", Scope.WRITE) as entry:
        await ctx.launcher.control(entry.workspace, str(id), action)
        status = await ctx.launcher.status(entry.workspace, str(id))
    return _status(status)


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(ctx: Context, audit: Audit):
    async def make(request) -> dict:
        return {"ctx": ctx, "audit": audit, "clock": ctx.clock}

    return make


__all__ = ["NotFound", "build_schema", "context_factory"]
