"""gRPC ProfileService for partners (cdp.profile.v1).

A person id that identity merged into another (a loser) answers with the
winner's profile: its `person_id` is the winner's, which tells the caller about
the merge, and the caller gets the values it asked for instead of an error it
would have to follow up. BatchGetProfiles does the same and returns each
profile once, however many of its ids were asked for.
"""

from __future__ import annotations

from cdp.profile.v1 import computed_pb2, profile_pb2, profile_pb2_grpc
from services.kit.audit import Audit, audited_call
from services.kit.auth import Scope, needs
from services.kit.catalog import COMPUTED
from services.kit.errors import InvalidInput, NotFound, required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.protos import from_struct, from_timestamp, to_struct, to_timestamp
from services.profile import reports
from services.profile.jobs import TagJobs, job_view
from services.profile.rulebook import Rulebook, WorkspaceRules
from services.profile.standing import Thresholds
from services.profile.store import ProfileStore
from services.profile.tags import TagDefinition
from services.profile.traits import check_write
from services.profile.updates import ProfileUpdater, request_cause
from services.profile.views import TagView, computed_values

MAX_BATCH = 1000


def computed_message(doc: dict) -> computed_pb2.Computed:
    """The Computed message (generated from the catalog), field by field from the catalog."""
    fields = {}
    for name, value in computed_values(doc).items():
        if COMPUTED[name].type == "time":
            fields[name] = to_timestamp(value)
        elif value is not None:
            fields[name] = value
    return computed_pb2.Computed(**fields)


def profile_message(workspace: str, doc: dict) -> profile_pb2.Profile:
    return profile_pb2.Profile(
        workspace_id=workspace,
        person_id=doc["_id"],
        uid=doc.get("uid", 0),
        traits=to_struct(doc.get("traits") or {}),
        tags=[
            profile_pb2.TagAssignment(
                name=t.name,
                value=t.value,
                source=t.source,
                confidence=t.confidence,
                assigned_at=to_timestamp(t.assigned_at),
                expires_at=to_timestamp(t.expires_at),
            )
            for t in TagView.all_of(doc)
        ],
        computed=computed_message(doc),
        updated_at=to_timestamp(doc.get("updated_at")),
    )


def definition_message(workspace: str, d: TagDefinition) -> profile_pb2.TagDefinition:
    return profile_pb2.TagDefinition(workspace_id=workspace, **d.as_dict())


def settings_message(workspace: str, found: WorkspaceRules) -> profile_pb2.ProfileSettings:
    return profile_pb2.ProfileSettings(
        workspace_id=workspace,
        thresholds=profile_pb2.Thresholds(**found.rules.thresholds.as_dict()),
        trait_schema=profile_pb2.TraitSchema(types=found.trait_schema),
        retention_days=found.retention_days,
        contact_traits_server_only=found.contact_traits_server_only,
    )


def job_message(job: dict) -> profile_pb2.TagJob:
    view = job_view(job)
    return profile_pb2.TagJob(
        id=view["_id"],
        state=view["state"],
        total=view["total"] or 0,
        done=view["done"] or 0,
        tagged=view["tagged"] or 0,
        segment_id=view["segment_id"] or "",
        error=view["error"] or "",
    )


def tags_from(request_tags) -> list[dict]:
    return [
        {
            "name": t.name,
            "value": t.value,
            "confidence": t.confidence if t.HasField("confidence") else None,
            "source": t.source,
            "expires_at": from_timestamp(t.expires_at),
        }
        for t in request_tags
    ]


class ProfileGrpc(profile_pb2_grpc.ProfileServiceServicer):
    def __init__(
        self, store: ProfileStore, updater: ProfileUpdater, rulebook: Rulebook, jobs: TagJobs, audit: Audit
    ) -> None:
        self.audit = audit
        self.store = store
        self.updater = updater
        self.rulebook = rulebook
        self.jobs = jobs

    async def _profile(self, workspace: str, person_id: str) -> dict:
        doc = await self.store.resolve(workspace, person_id)
        if doc is None:
            raise NotFound(f"no profile for person {person_id!r}", "person_id")
        return doc

    @needs(Scope.READ)
    @maps_errors
    async def GetProfile(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return profile_message(workspace, await self._profile(workspace, required(request.person_id, "person_id")))

    @needs(Scope.READ)
    @maps_errors
    async def BatchGetProfiles(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        if len(request.person_ids) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} person ids per call", "person_ids")
        docs = await self.store.resolve_many(workspace, list(request.person_ids))
        unique = {docs[p]["_id"]: docs[p] for p in request.person_ids if p in docs}
        return profile_pb2.BatchGetProfilesResponse(profiles=[profile_message(workspace, d) for d in unique.values()])

    @needs(Scope.WRITE)
    @maps_errors
    async def UpsertTraits(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        person_id = required(request.person_id, "person_id")
        schema = (await self.rulebook.of(workspace)).trait_schema
        set_, set_once, unset = check_write(
            from_struct(request.set), from_struct(request.set_once), list(request.unset), schema
        )
        await self.updater.upsert_traits(
            workspace, person_id, set_, set_once, unset, request_cause("grpc:UpsertTraits")
        )
        return profile_message(workspace, await self._profile(workspace, person_id))

    @needs(Scope.WRITE)
    @maps_errors
    async def AssignTags(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        tags = await self.updater.check_assignments(workspace, tags_from(request.tags))
        tagged, job = await self.jobs.tag(
            workspace,
            list(request.person_ids),
            request.segment_id,
            tags,
            request_cause("grpc:AssignTags"),
            "person_ids",
        )
        if job is not None:
            return profile_pb2.AssignTagsResponse(job=job_message(job))
        docs = await self.store.resolve_many(workspace, list(dict.fromkeys(tagged)))
        return profile_pb2.AssignTagsResponse(profiles=[profile_message(workspace, d) for d in docs.values()])

    @needs(Scope.READ)
    @maps_errors
    async def GetTagJob(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return job_message(await self.jobs.get(workspace, required(request.job_id, "job_id")))

    @needs(Scope.WRITE)
    @maps_errors
    async def RemoveTags(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        person_id = required(request.person_id, "person_id")
        if not request.names:
            raise InvalidInput("at least one tag name is required", "names")
        await self.updater.remove_tags(workspace, person_id, list(request.names), request_cause("grpc:RemoveTags"))
        return profile_message(workspace, await self._profile(workspace, person_id))

    @needs(Scope.WRITE)
    @maps_errors
    async def DefineTag(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        # Empty fields (proto3 defaults) take the definition's defaults (custom, own, flag).
        fields = {k: getattr(request, k) for k in TagDefinition.__dataclass_fields__ if getattr(request, k)}
        definition = await self.rulebook.define(workspace, TagDefinition(**{"name": "", **fields}))
        return definition_message(workspace, definition)

    @needs(Scope.READ)
    @maps_errors
    async def ListTagDefinitions(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        found = await self.rulebook.of(workspace)
        return profile_pb2.ListTagDefinitionsResponse(
            definitions=[definition_message(workspace, d) for _, d in sorted(found.definitions.items())]
        )

    @needs(Scope.READ)
    @maps_errors
    async def GetTimeline(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self._profile(workspace, required(request.person_id, "person_id"))
        members = [d["_id"] for d in await self.store.subtree(workspace, doc["_id"])]
        events, cursor = await reports.timeline(
            self.store,
            workspace,
            members,
            request.limit,
            request.after,
            request.event_type,
            from_timestamp(request.before),
        )
        return profile_pb2.GetTimelineResponse(
            events=[
                profile_pb2.TimelineEvent(
                    message_id=e["message_id"],
                    type=e["type"],
                    event=e.get("event") or "",
                    timestamp=to_timestamp(e["timestamp"]),
                    properties=to_struct(e.get("properties") or {}),
                )
                for e in events
            ],
            next_cursor=cursor,
        )

    @needs(Scope.READ)
    @maps_errors
    async def LtvByChannel(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        rows = await reports.ltv_by_channel(self.store, workspace)
        return profile_pb2.LtvByChannelResponse(channels=[profile_pb2.ChannelLtv(**r) for r in rows])

    @needs(Scope.READ)
    @maps_errors
    async def GetSettings(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return settings_message(workspace, await self.rulebook.of(workspace))

    @needs(Scope.ADMIN)
    @maps_errors
    async def UpdateSettings(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        thresholds = None
        if request.HasField("thresholds"):
            # Fields left empty (0, no list) keep their current values.
            current = (await self.rulebook.of(workspace)).rules.thresholds.as_dict()
            given = {name: getattr(request.thresholds, name) for name in current}
            given = {k: list(v) if not isinstance(v, (int, float)) else v for k, v in given.items()}
            thresholds = Thresholds(**{k: v if v else current[k] for k, v in given.items()})
        async with audited_call(self.audit, "profile.settings", workspace, "settings"):
            found = await self.rulebook.update_settings(
                workspace,
                thresholds=thresholds,
                trait_schema=dict(request.trait_schema.types) if request.HasField("trait_schema") else None,
                retention_days=request.retention_days if request.HasField("retention_days") else None,
                contact_traits_server_only=(
                    request.contact_traits_server_only if request.HasField("contact_traits_server_only") else None
                ),
            )
        return settings_message(workspace, found)


def grpc_service(
    store: ProfileStore, updater: ProfileUpdater, rulebook: Rulebook, jobs: TagJobs, audit: Audit
) -> GrpcService:
    return GrpcService(
        profile_pb2_grpc.add_ProfileServiceServicer_to_server,
        ProfileGrpc(store, updater, rulebook, jobs, audit),
        profile_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name,
    )
