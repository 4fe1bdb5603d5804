"""gRPC IdentityService for partners (cdp.identity.v1)."""

from __future__ import annotations

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.credentials import Credentials, role_in
from services.identity.graph import IdentityGraph
from services.identity.people import PersonView, load_persons
from services.identity.resolver import ResolveItem, Resolver
from services.identity.rules import validate_rules_document
from services.identity.store import IdentityStore
from services.kit.audit import Audit, audited_call
from services.kit.auth import Scope, needs
from services.kit.clock import Clock
from services.kit.errors import InvalidInput, NotFound, required
from services.kit.grpc_server import GrpcService, caller, maps_errors
from services.kit.protos import to_timestamp

MAX_BATCH = 1000


def person_message(view: PersonView) -> identity_pb2.Person:
    return identity_pb2.Person(
        workspace_id=view.workspace,
        id=view.id,
        uid=view.uid,
        identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in view.identifiers],
        created_at=to_timestamp(view.created_at),
        merged_into=view.merged_into,
    )


def merge_message(doc: dict) -> identity_pb2.MergeRecord:
    return identity_pb2.MergeRecord(
        workspace_id=doc["workspace"],
        id=doc["_id"],
        winner_id=doc["winner"],
        loser_id=doc["loser"],
        moved=[common_pb2.Identifier(type=t, value=v) for t, v in doc.get("moved", [])],
        cause_message_id=doc.get("cause_message_id", ""),
        rule=doc.get("rule", ""),
        reason=doc.get("reason", ""),
        at=to_timestamp(doc.get("at")),
        undone=doc.get("undone", False),
    )


def api_key_message(doc: dict) -> identity_pb2.ApiKey:
    # Times left unset when absent, so HasField("revoked_at") tells a live key from a revoked one.
    times = {f: to_timestamp(doc[f]) for f in ("created_at", "revoked_at", "last_used_at") if doc.get(f)}
    return identity_pb2.ApiKey(
        id=doc["_id"],
        workspace_id=doc["workspace"],
        name=doc["name"],
        scopes=doc["scopes"],
        created_by=doc.get("created_by", ""),
        **times,
    )


class IdentityGrpc(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        store: IdentityStore,
        resolver: Resolver,
        graph: IdentityGraph,
        clock: Clock,
        credentials: Credentials,
        audit: Audit,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.graph = graph
        self.clock = clock
        self.credentials = credentials
        self.audit = audit

    async def _view(self, workspace: str, person_id: str) -> PersonView:
        """The live person; an alias left by a merge resolves to its winner."""
        live = await self.store.live_target(workspace, person_id)
        (view,) = await load_persons(self.store, workspace, [live])
        if view is None:
            raise NotFound(f"person {person_id!r} not found", "person_id")
        return view

    @needs(Scope.WRITE)
    @maps_errors
    async def Resolve(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        for i in request.identifiers:
            if not i.type:
                raise InvalidInput("identifier type is required", "identifiers.type")
        ids = [(i.type, i.value) for i in request.identifiers]
        person, created = await self.resolver.resolve(workspace, ids, self.clock.now(), cause="grpc:Resolve")
        # Id and uid only, so that a cached resolve touches no database; GetPerson has the rest.
        answer = identity_pb2.Person(workspace_id=workspace, id=person["_id"], uid=person["uid"])
        return identity_pb2.ResolveResponse(person=answer, created=created)

    @needs(Scope.WRITE)
    @maps_errors
    async def ResolveBatch(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        if len(request.items) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} items per call, got {len(request.items)}", "items")
        items = []
        for n, item in enumerate(request.items):
            if any(not i.type for i in item.identifiers):
                raise InvalidInput(f"identifier type is required (item {n})", f"items[{n}].identifiers.type")
            items.append(ResolveItem(workspace, [(i.type, i.value) for i in item.identifiers], "grpc:ResolveBatch"))
        results = []
        for result in await self.resolver.resolve_many(items, self.clock.now()):
            if isinstance(result, InvalidInput):
                results.append(identity_pb2.ResolveResult(error=str(result)))
            else:
                person, created = result
                answer = identity_pb2.Person(workspace_id=workspace, id=person["_id"], uid=person["uid"])
                results.append(identity_pb2.ResolveResult(person=answer, created=created))
        return identity_pb2.ResolveBatchResponse(results=results)

    @needs(Scope.READ)
    @maps_errors
    async def Lookup(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        ident = (request.identifier.type, request.identifier.value)
        if not ident[0] or not ident[1].strip():
            raise InvalidInput("identifier type and value are required", "identifier")
        person, _ = await self.resolver.resolve(workspace, [ident], self.clock.now(), create=False)
        if person is None:
            raise NotFound(f"no person holds {ident[0]} {ident[1]!r}", "identifier")
        return person_message(await self._view(workspace, person["_id"]))

    @needs(Scope.READ)
    @maps_errors
    async def GetPerson(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return person_message(await self._view(workspace, required(request.person_id, "person_id")))

    @needs(Scope.ADMIN)
    @maps_errors
    async def Merge(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(
            self.audit, "person.merge", workspace, f"{request.person_id_a},{request.person_id_b}"
        ) as entry:
            a = await self._view(workspace, required(request.person_id_a, "person_id_a"))
            b = await self._view(workspace, required(request.person_id_b, "person_id_b"))
            if a.id == b.id:
                raise InvalidInput("both ids are the same person already", "person_id_b")
            winner, loser = (a, b) if (a.created_at, a.id) <= (b.created_at, b.id) else (b, a)
            record = await self.graph.merge(
                workspace, winner.id, loser.id, cause="manual", rule="manual", reason=request.reason
            )
            entry.target, entry.detail = f"merge:{record['_id']}", {"winner": winner.id, "loser": loser.id}
        return merge_message(record)

    @needs(Scope.ADMIN)
    @maps_errors
    async def Unmerge(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(self.audit, "person.unmerge", workspace, f"merge:{request.merge_id}"):
            record = await self.graph.unmerge(workspace, required(request.merge_id, "merge_id"), request.reason)
        winner = await self._view(workspace, record["winner"])
        restored = await self._view(workspace, record["loser"])
        return identity_pb2.UnmergeResponse(winner=person_message(winner), restored=person_message(restored))

    @needs(Scope.READ)
    @maps_errors
    async def ListMerges(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        limit = request.limit or 50
        if not 0 < limit <= 500:
            raise InvalidInput("limit must be between 1 and 500", "limit")
        docs = await self.store.merges_of(workspace, required(request.person_id, "person_id"), limit)
        return identity_pb2.ListMergesResponse(merges=[merge_message(d) for d in docs])

    @needs(Scope.ADMIN)
    @maps_errors
    async def Forget(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(self.audit, "person.forget", workspace, f"person:{request.person_id}") as entry:
            person_id, removed = await self.graph.forget(workspace, required(request.person_id, "person_id"))
            entry.detail = {"identifiers_removed": removed}
        return identity_pb2.ForgetResponse(person_id=person_id, identifiers_removed=removed)

    @needs(Scope.ADMIN)
    @maps_errors
    async def SetIdentityRules(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = {
            "priority": list(request.priority),
            "limits": dict(request.limits),
            "blocked": list(request.blocked),
            "blocked_patterns": list(request.blocked_patterns),
            "custom_types": list(request.custom_types),
            "default_region": request.default_region,
        }
        async with audited_call(self.audit, "identity_rules.set", workspace, "identity_rules"):
            await self.store.set_rules_document(workspace, validate_rules_document(doc))
            self.resolver.forget_rules(workspace)
        return await self.GetIdentityRules(request, context)

    @needs(Scope.READ)
    @maps_errors
    async def GetIdentityRules(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        rules = await self.resolver.rules(workspace)
        return identity_pb2.IdentityRules(
            workspace_id=workspace,
            priority=list(rules.priority),
            limits=rules.limits,
            blocked=sorted(rules.blocked),
            blocked_patterns=list(rules.blocked_patterns),
            custom_types=list(rules.custom_types),
            default_region=rules.default_region,
        )

    @needs(Scope.ADMIN, workspace_field=None, service_only=True)
    @maps_errors
    async def CreateWorkspace(self, request, context):
        async with audited_call(self.audit, "workspace.create", request.id[:64], f"workspace:{request.id[:64]}"):
            doc = await self.store.create_workspace(request.id, request.name, request.write_key or None)
        return identity_pb2.Workspace(id=doc["_id"], name=doc["name"], write_keys=doc["write_keys"])

    @needs(Scope.ADMIN, workspace_field="id")
    @maps_errors
    async def GetWorkspace(self, request, context):
        doc = await self.store.get_workspace(request.id)
        if doc is None:
            raise NotFound(f"workspace {request.id!r} not found", "id")
        return identity_pb2.Workspace(id=doc["_id"], name=doc["name"], write_keys=doc["write_keys"])

    @needs(Scope.ADMIN)
    @maps_errors
    async def CreateApiKey(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(self.audit, "api_key.create", workspace) as entry:
            doc, key = await self.credentials.create_api_key(
                workspace, request.name, list(request.scopes), caller().subject
            )
            entry.target, entry.detail = f"key:{doc['_id']}", {"name": doc["name"], "scopes": doc["scopes"]}
        return identity_pb2.NewApiKey(key=api_key_message(doc), secret=key)

    @needs(Scope.ADMIN)
    @maps_errors
    async def ListApiKeys(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        docs = await self.credentials.api_keys(workspace)
        return identity_pb2.ListApiKeysResponse(keys=[api_key_message(d) for d in docs])

    @needs(Scope.ADMIN)
    @maps_errors
    async def RevokeApiKey(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(self.audit, "api_key.revoke", workspace, f"key:{request.id}"):
            doc = await self.credentials.revoke_api_key(workspace, required(request.id, "id"))
        return api_key_message(doc)

    @needs(Scope.ADMIN)
    @maps_errors
    async def AddOperator(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(self.audit, "operator.add", workspace) as entry:
            doc, created = await self.credentials.add_operator(workspace, request.email, request.password, request.role)
            entry.target, entry.detail = f"operator:{doc['_id']}", {"role": request.role, "new_account": created}
        return identity_pb2.Operator(
            id=doc["_id"],
            email=doc["email"],
            workspace_id=workspace,
            role=role_in(doc, workspace) or "",
            created_at=to_timestamp(doc.get("created_at")),
            created=created,
        )


def grpc_service(
    store: IdentityStore, resolver: Resolver, graph: IdentityGraph, clock: Clock, credentials: Credentials, audit: Audit
) -> GrpcService:
    return GrpcService(
        identity_pb2_grpc.add_IdentityServiceServicer_to_server,
        IdentityGrpc(store, resolver, graph, clock, credentials, audit),
        identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
