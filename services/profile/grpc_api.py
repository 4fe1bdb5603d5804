"""gRPC ProfileService for partners (cdp.profile.v1).

A person id that identity merged into another (a loser) answers with the
winner's profile: its `person_id` is the winner's, which tells the caller about
the merge, and the caller gets the values it asked for instead of an error it
would have to follow up. BatchGetProfiles does the same and returns each
profile once, however many of its ids were asked for.
"""

from __future__ import annotations

from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit.documents import check_keys
from services.kit.errors import InvalidInput, NotFound, required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.protos import from_struct, to_struct, to_timestamp
from services.profile.store import ProfileStore
from services.profile.updates import ProfileUpdater
from services.profile.views import ComputedView

MAX_BATCH = 1000


def profile_message(workspace: str, doc: dict) -> profile_pb2.Profile:
    c = ComputedView.of(doc)
    return profile_pb2.Profile(
        workspace_id=workspace,
        person_id=doc["_id"],
        uid=doc.get("uid", 0),
        traits=to_struct(doc.get("traits") or {}),
        computed=profile_pb2.Computed(
            order_count=c.order_count,
            revenue=c.revenue,
            average_order_value=c.average_order_value,
            first_order_at=to_timestamp(c.first_order_at),
            last_order_at=to_timestamp(c.last_order_at),
            last_active_at=to_timestamp(c.last_active_at),
            event_count=c.event_count,
        ),
        updated_at=to_timestamp(doc.get("updated_at")),
    )


class ProfileGrpc(profile_pb2_grpc.ProfileServiceServicer):
    def __init__(self, store: ProfileStore, updater: ProfileUpdater) -> None:
        self.store = store
        self.updater = updater

    @maps_errors
    async def GetProfile(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self.store.resolve(workspace, required(request.person_id, "person_id"))
        if doc is None:
            raise NotFound(f"no profile for person {request.person_id!r}", "person_id")
        return profile_message(workspace, doc)

    @maps_errors
    async def BatchGetProfiles(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        if len(request.person_ids) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} person ids per call", "person_ids")
        docs = await self.store.resolve_many(workspace, list(request.person_ids))
        unique = {docs[p]["_id"]: docs[p] for p in request.person_ids if p in docs}
        return profile_pb2.BatchGetProfilesResponse(profiles=[profile_message(workspace, d) for d in unique.values()])

    @maps_errors
    async def UpsertTraits(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        person_id = required(request.person_id, "person_id")
        set_, set_once = from_struct(request.set), from_struct(request.set_once)
        check_keys(set_, "set")
        check_keys(set_once, "set_once")
        check_keys({k: None for k in request.unset}, "unset")
        await self.updater.upsert_traits(workspace, person_id, set_, set_once, list(request.unset), "grpc:UpsertTraits")
        return profile_message(workspace, await self.store.resolve(workspace, person_id))


def grpc_service(store: ProfileStore, updater: ProfileUpdater) -> GrpcService:
    return GrpcService(
        profile_pb2_grpc.add_ProfileServiceServicer_to_server,
        ProfileGrpc(store, updater),
        profile_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name,
    )
