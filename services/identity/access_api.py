"""GraphQL for credentials and the audit trail: login, logout, me, API keys, operators, auditLog.

`login` is the one field anyone may call; everything else takes the caller from
the signed claims like every other field, and the credential operations need `admin`
and write an audit record each.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from services.identity.credentials import Credentials, role_in
from services.identity.login import Login
from services.kit.audit import Audit, audited
from services.kit.auth import Scope
from services.kit.errors import InvalidInput
from services.kit.graphql import caller_of, workspace_of


@strawberry.type
class Membership:
    workspace: str
    role: str


@strawberry.type
class Session:
    token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`; it lives an hour.")
    expires_at: dt.datetime
    operator_id: strawberry.ID
    email: str
    workspace: str | None = strawberry.field(
        description="The workspace named, or the only one; null when there are several (name one with x-workspace-id)."
    )
    role: str | None
    memberships: list[Membership]


@strawberry.type
class Caller:
    subject: str
    workspace: str
    scopes: list[str]
    role: str | None


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str
    scopes: list[str]
    created_at: dt.datetime | None
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@strawberry.type
class NewApiKey:
    key: ApiKey
    secret: str = strawberry.field(description="The whole key, shown this once: it is stored only as a hash.")


@strawberry.type
class Operator:
    id: strawberry.ID
    email: str
    role: str | None = strawberry.field(description="The role in this workspace; null once removed from it.")
    created_at: dt.datetime | None


@strawberry.type
class AuditRecord:
    who: str
    action: str
    workspace: str
    target: str
    outcome: str
    at: dt.datetime
    detail: JSON | None


def api_key(doc: dict) -> ApiKey:
    return ApiKey(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        scopes=list(doc["scopes"]),
        created_at=doc.get("created_at"),
        created_by=doc.get("created_by", ""),
        revoked_at=doc.get("revoked_at"),
        last_used_at=doc.get("last_used_at"),
    )


def operator(doc: dict, workspace: str) -> Operator:
    return Operator(
        id=strawberry.ID(doc["_id"]), email=doc["email"], role=role_in(doc, workspace), created_at=doc.get("created_at")
    )


def _credentials(info) -> Credentials:
    return info.context["credentials"]


@strawberry.type
class AccessQuery:
    @strawberry.field(description="Who this credential is: subject, workspace, scopes, role.")
    def me(self, info: strawberry.Info) -> Caller:
        workspace = workspace_of(info)
        claims = caller_of(info)
        return Caller(subject=claims.subject, workspace=workspace, scopes=sorted(claims.scopes), role=claims.role)

    @strawberry.field(description="The workspace's secret API keys (never the key or its hash). Needs admin.")
    async def api_keys(self, info: strawberry.Info) -> list[ApiKey]:
        return [api_key(d) for d in await _credentials(info).api_keys(workspace_of(info, Scope.ADMIN))]

    @strawberry.field(description="The workspace's operators. Needs admin.")
    async def operators(self, info: strawberry.Info) -> list[Operator]:
        workspace = workspace_of(info, Scope.ADMIN)
        return [operator(d, workspace) for d in await _credentials(info).operators_of(workspace)]

    @strawberry.field(description="Admin operations on this workspace, newest first. Needs admin.")
    async def audit_log(self, info: strawberry.Info, limit: int = 50, action: str | None = None) -> list[AuditRecord]:
        workspace = workspace_of(info, Scope.ADMIN)
        if not 0 < limit <= 500:
            raise InvalidInput("limit must be between 1 and 500", "limit")
        if action is not None and len(action) > 64:
            raise InvalidInput("action is longer than 64 characters", "action")
        audit: Audit = info.context["audit"]
        return [
            AuditRecord(
                who=d["who"],
                action=d["action"],
                workspace=d["workspace"],
                target=d.get("target", ""),
                outcome=d["outcome"],
                at=d["at"],
                detail=d.get("detail"),
            )
            for d in await audit.recent(workspace, limit, action)
        ]


@strawberry.type
class AccessMutation:
    @strawberry.mutation(description="Sign in an operator; the one field that needs no credential.")
    async def login(self, info: strawberry.Info, email: str, password: str, workspace: str | None = None) -> Session:
        login: Login = info.context["login"]
        session = await login.sign_in(email, password, workspace)
        doc = session["operator"]
        return Session(
            token=session["token"],
            expires_at=session["expires_at"],
            operator_id=strawberry.ID(doc["_id"]),
            email=doc["email"],
            workspace=session["workspace"],
            role=session["role"],
            memberships=[Membership(workspace=m["workspace"], role=m["role"]) for m in doc["memberships"]],
        )

    @strawberry.mutation(description="End every token of the signed-in operator.")
    async def logout(self, info: strawberry.Info) -> bool:
        kind, _, operator_id = caller_of(info).subject.partition(":")
        if kind != "operator":
            workspace_of(info)  # checked as any mutation, so a refusal looks like every other one
            raise InvalidInput("only an operator signs out; an API key is revoked instead", "authorization")
        workspace_of(info, Scope.READ)  # a viewer may sign out too
        await _credentials(info).end_sessions(operator_id)
        return True

    @strawberry.mutation(description="A new secret API key; the key is in the answer this once. Needs admin.")
    async def create_api_key(self, info: strawberry.Info, name: str, scopes: list[str]) -> NewApiKey:
        async with audited(info, "api_key.create") as entry:
            doc, key = await _credentials(info).create_api_key(entry.workspace, name, scopes, caller_of(info).subject)
            entry.target, entry.detail = f"key:{doc['_id']}", {"name": doc["name"], "scopes": doc["scopes"]}
        return NewApiKey(key=api_key(doc), secret=key)

    @strawberry.mutation(description="Revoke a secret API key (it stops within 30 seconds). Needs admin.")
    async def revoke_api_key(self, info: strawberry.Info, id: strawberry.ID) -> ApiKey:
        async with audited(info, "api_key.revoke", f"key:{id}") as entry:
            doc = await _credentials(info).revoke_api_key(entry.workspace, str(id))
        return api_key(doc)

    @strawberry.mutation(
        description="Add an operator to this workspace: a new account, or a membership for an existing one "
        "(whose password is left as it is). Needs admin."
    )
    async def add_operator(self, info: strawberry.Info, email: str, password: str, role: str) -> Operator:
        async with audited(info, "operator.add") as entry:
            doc, created = await _credentials(info).add_operator(entry.workspace, email, password, role)
            entry.target, entry.detail = f"operator:{doc['_id']}", {"role": role, "new_account": created}
        return operator(doc, entry.workspace)

    @strawberry.mutation(description="Change an operator's role in this workspace. Needs admin.")
    async def set_operator_role(self, info: strawberry.Info, email: str, role: str) -> Operator:
        async with audited(info, "operator.role") as entry:
            doc = await _credentials(info).set_operator_role(entry.workspace, email, role)
            entry.target, entry.detail = f"operator:{doc['_id']}", {"role": role}
        return operator(doc, entry.workspace)

    @strawberry.mutation(description="Remove an operator from this workspace (their account stays). Needs admin.")
    async def remove_operator(self, info: strawberry.Info, email: str) -> Operator:
        async with audited(info, "operator.remove") as entry:
            doc = await _credentials(info).remove_operator(entry.workspace, email)
            entry.target = f"operator:{doc['_id']}"
        return operator(doc, entry.workspace)
