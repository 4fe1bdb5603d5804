"""gRPC IdentityService for partners (cdp.identity.v1)."""

from __future__ import annotations

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.graph import Resolver
from services.identity.people import PersonView, load_persons
from services.identity.store import IdentityStore
from services.kit.clock import Clock
from services.kit.errors import InvalidInput, NotFound, required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.protos import to_timestamp


def person_message(view: PersonView) -> identity_pb2.Person:
    return identity_pb2.Person(
        workspace_id=view.workspace,
        id=view.id,
        uid=view.uid,
        identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in view.identifiers],
        created_at=to_timestamp(view.created_at),
        merged_into=view.merged_into,
    )


class IdentityGrpc(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, store: IdentityStore, resolver: Resolver, clock: Clock) -> None:
        self.store = store
        self.resolver = resolver
        self.clock = clock

    async def _view(self, workspace: str, person_id: str) -> PersonView:
        (view,) = await load_persons(self.store, workspace, [person_id])
        if view is None:
            raise NotFound(f"person {person_id!r} not found", "person_id")
        return view

    @maps_errors
    async def Resolve(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        ids = [(i.type, i.value.strip()) for i in request.identifiers if i.value.strip()]
        for i in request.identifiers:
            if not i.type:
                raise InvalidInput("identifier type is required", "identifiers.type")
        person, created = await self.resolver.resolve(workspace, ids, self.clock.now())
        return identity_pb2.ResolveResponse(
            person=person_message(await self._view(workspace, person["_id"])), created=created
        )

    @maps_errors
    async def Lookup(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        ident = (request.identifier.type, request.identifier.value.strip())
        if not ident[0] or not ident[1]:
            raise InvalidInput("identifier type and value are required", "identifier")
        owners = await self.store.owners(workspace, [ident])
        if ident not in owners:
            raise NotFound(f"no person holds {ident[0]} {ident[1]!r}", "identifier")
        return person_message(await self._view(workspace, owners[ident]))

    @maps_errors
    async def GetPerson(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        if not request.person_id:
            raise InvalidInput("person_id is required", "person_id")
        return person_message(await self._view(workspace, request.person_id))

    @maps_errors
    async def CreateWorkspace(self, request, context):
        doc = await self.store.create_workspace(request.id, request.name, request.write_key or None)
        return identity_pb2.Workspace(id=doc["_id"], name=doc["name"], write_keys=doc["write_keys"])

    @maps_errors
    async def GetWorkspace(self, request, context):
        doc = await self.store.get_workspace(request.id)
        if doc is None:
            raise NotFound(f"workspace {request.id!r} not found", "id")
        return identity_pb2.Workspace(id=doc["_id"], name=doc["name"], write_keys=doc["write_keys"])


def grpc_service(store: IdentityStore, resolver: Resolver, clock: Clock) -> GrpcService:
    return GrpcService(
        identity_pb2_grpc.add_IdentityServiceServicer_to_server,
        IdentityGrpc(store, resolver, clock),
        identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
