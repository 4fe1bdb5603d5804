"""Secret API keys and operators: how they are stored and how a presented one is checked.

Collections:
- `api_keys`: {_id: key id, workspace, name, scopes, hash: SHA-256 hex of the whole key,
  created_at, created_by, revoked_at, last_used_at}. The key itself,
  `cdp_sk_<key id>_<secret>`, is shown once at creation and never stored: it is
  random and long, so a fast hash is enough (PostHog does the same) and keeps a
  lookup per request cheap.
- `operators`: {_id, email (lower-cased, unique), password: {algo: "scrypt", n, r, p,
  salt, hash}, memberships: [{workspace, role}], token_version, created_at}. Passwords
  are people's, so they get a memory-hard hash (scrypt, run off the event loop).

An operator token is `cdp_op_` + an internal-keyring token {typ: operator, sub, ver}
that lives an hour; bumping `token_version` (logout, password change) ends them all.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.kit import auth
from services.kit.auth import ROLE_SCOPES, Claims
from services.kit.clock import Clock
from services.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from services.kit.mongo import IndexSpec, is_duplicate_key

INDEXES = [
    IndexSpec("api_keys", [("workspace", 1), ("created_at", -1)], name="keys_by_workspace"),
    IndexSpec("operators", [("email", 1)], unique=True, name="operator_email_unique"),
    IndexSpec("operators", [("memberships.workspace", 1)], name="operators_by_workspace"),
]

ROLES = tuple(ROLE_SCOPES)
OPERATOR_TOKEN_TTL = 3600.0
# last_used_at is "to the minute": one write per key a minute, not one per request.
LAST_USED_EVERY = dt.timedelta(minutes=1)
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # scrypt takes any length; a bound keeps a request from hashing megabytes
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_UNKNOWN_KEY = "unknown or revoked API key"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


async def hash_password(password: str) -> dict:
    salt = secrets.token_bytes(16)
    digest = await asyncio.to_thread(_scrypt, password, salt, **SCRYPT)
    return {"algo": "scrypt", **SCRYPT, "salt": _b64(salt), "hash": _b64(digest)}


async def password_matches(password: str, stored: dict) -> bool:
    digest = await asyncio.to_thread(
        _scrypt, password, base64.b64decode(stored["salt"]), stored["n"], stored["r"], stored["p"]
    )
    return hmac.compare_digest(digest, base64.b64decode(stored["hash"]))


# Checked against when the email is unknown, so that answer takes as long as a wrong password.
_DECOY = {"algo": "scrypt", **SCRYPT, "salt": _b64(b"\0" * 16), "hash": _b64(b"\0" * 32)}


def normal_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("email must be an address like name@example.com", "email")
    return email


def valid_role(role: str) -> str:
    if role not in ROLE_SCOPES:
        raise InvalidInput(f"unknown role {role!r} (known: {', '.join(ROLES)})", "role")
    return role


def valid_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", "password")
    return password


def role_in(operator: dict, workspace: str) -> str | None:
    for membership in operator.get("memberships", []):
        if membership["workspace"] == workspace:
            return membership["role"]
    return None


class Credentials:
    def __init__(self, db: AsyncDatabase, clock: Clock) -> None:
        self.keys = db["api_keys"]
        self.operators = db["operators"]
        self.clock = clock
        # key id -> when this process last wrote its last_used_at (bounded; a miss costs one write).
        self._used: OrderedDict[str, dt.datetime] = OrderedDict()

    # -- secret API keys --------------------------------------------------
    async def create_api_key(self, workspace: str, name: str, scopes, created_by: str) -> tuple[dict, str]:
        """A new key: (its stored document, the key itself, to be shown once)."""
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise InvalidInput("name must be 1-100 characters", "name")
        granted = auth.scopes_of(scopes)
        key_id = secrets.token_hex(8)
        key = f"{auth.API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        doc = {
            "_id": key_id,
            "workspace": workspace,
            "name": name,
            "scopes": sorted(granted),
            "hash": hash_key(key),
            "created_at": self.clock.now(),
            "created_by": created_by,
            "revoked_at": None,
            "last_used_at": None,
        }
        await self.keys.insert_one(doc)
        return doc, key

    async def api_keys(self, workspace: str) -> list[dict]:
        return await self.keys.find({"workspace": workspace}, {"hash": 0}).sort("created_at", -1).to_list(None)

    async def revoke_api_key(self, workspace: str, key_id: str) -> dict:
        # Revoking twice keeps the first time.
        await self.keys.update_one(
            {"_id": key_id, "workspace": workspace, "revoked_at": None}, {"$set": {"revoked_at": self.clock.now()}}
        )
        found = await self.keys.find_one({"_id": key_id, "workspace": workspace}, {"hash": 0})
        if found is None:
            raise NotFound(f"API key {key_id!r} not found", "id")
        return found

    async def api_key_claims(self, token: str, workspace: str | None) -> Claims:
        key_id, sep, secret = token[len(auth.API_KEY_PREFIX) :].partition("_")
        if not sep or not secret or not _KEY_ID.match(key_id):
            raise Unauthenticated(_UNKNOWN_KEY, "authorization")
        doc = await self.keys.find_one({"_id": key_id})
        if doc is None or not hmac.compare_digest(doc["hash"], hash_key(token)) or doc.get("revoked_at"):
            raise Unauthenticated(_UNKNOWN_KEY, "authorization")
        claims = Claims(f"key:{key_id}", doc["workspace"], frozenset(doc["scopes"]))
        claims.workspace_for(workspace)  # another workspace named: Forbidden
        await self._touch(key_id, doc.get("last_used_at"))
        return claims

    async def _touch(self, key_id: str, last_used: dt.datetime | None) -> None:
        now = self.clock.now()
        seen = self._used.get(key_id) or last_used
        if seen is not None:
            if seen.tzinfo is None:
                seen = seen.replace(tzinfo=dt.UTC)
            if now - seen < LAST_USED_EVERY:
                return
        self._used[key_id] = now
        self._used.move_to_end(key_id)
        while len(self._used) > 10_000:
            self._used.popitem(last=False)
        # Guarded, so replicas racing on the same key write once a minute between them too.
        await self.keys.update_one(
            {"_id": key_id, "$or": [{"last_used_at": None}, {"last_used_at": {"$lte": now - LAST_USED_EVERY}}]},
            {"$set": {"last_used_at": now}},
        )

    # -- operators ----------------------------------------------------------
    async def operator_by_email(self, email: str) -> dict | None:
        return await self.operators.find_one({"email": normal_email(email)})

    async def add_operator(self, workspace: str, email: str, password: str, role: str) -> tuple[dict, bool]:
        """Create an operator with a membership of `workspace`, or add it to an existing one.

        An existing operator keeps their password: the one given is for a new account only.
        Returns (operator, created).
        """
        email, role = normal_email(email), valid_role(role)
        existing = await self.operators.find_one({"email": email})
        if existing is None:
            doc = {
                "_id": secrets.token_hex(12),
                "email": email,
                "password": await hash_password(valid_password(password)),
                "memberships": [{"workspace": workspace, "role": role}],
                "token_version": 0,
                "created_at": self.clock.now(),
            }
            try:
                await self.operators.insert_one(doc)
                return doc, True
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
            # Created meanwhile by another call: join it below.
        updated = await self.operators.find_one_and_update(
            {"email": email, "memberships.workspace": {"$ne": workspace}},
            {"$push": {"memberships": {"workspace": workspace, "role": role}}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict(f"{email} is a member of this workspace already (setOperatorRole changes the role)", "email")
        return updated, False

    async def set_operator_role(self, workspace: str, email: str, role: str) -> dict:
        email, role = normal_email(email), valid_role(role)
        # Read, change, write back only if nobody changed the memberships meanwhile (the
        # embedded Mongo-wire store lacks the positional `memberships.$` update).
        for _ in range(5):
            doc = await self.operators.find_one({"email": email, "memberships.workspace": workspace})
            if doc is None:
                raise NotFound(f"no operator {email} in this workspace", "email")
            if role != "admin":
                await self._keep_an_admin(workspace, doc)
            memberships = [
                {"workspace": m["workspace"], "role": role if m["workspace"] == workspace else m["role"]}
                for m in doc["memberships"]
            ]
            updated = await self.operators.find_one_and_update(
                {"_id": doc["_id"], "memberships": doc["memberships"]},
                {"$set": {"memberships": memberships}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                return updated
        raise Conflict("the operator's memberships kept changing: try again", "email")

    async def remove_operator(self, workspace: str, email: str) -> dict:
        """Drop the operator's membership of `workspace` (their account and other memberships stay)."""
        email = normal_email(email)
        doc = await self.operators.find_one({"email": email, "memberships.workspace": workspace})
        if doc is None:
            raise NotFound(f"no operator {email} in this workspace", "email")
        await self._keep_an_admin(workspace, doc)
        updated = await self.operators.find_one_and_update(
            {"email": email, "memberships.workspace": workspace},
            {"$pull": {"memberships": {"workspace": workspace}}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise NotFound(f"no operator {email} in this workspace", "email")
        return updated

    async def _keep_an_admin(self, workspace: str, leaving: dict) -> None:
        """Refuse to demote or remove a workspace's last admin operator: nobody could add one back
        but a service (API keys with admin would still work, but people sign in as operators)."""
        if role_in(leaving, workspace) != "admin":
            return
        others = await self.operators.find(
            {"memberships.workspace": workspace, "_id": {"$ne": leaving["_id"]}}, {"memberships": 1}
        ).to_list(None)
        if not any(role_in(o, workspace) == "admin" for o in others):
            raise Conflict("this is the workspace's last admin operator: make another one admin first", "email")

    async def operators_of(self, workspace: str) -> list[dict]:
        return (
            await self.operators.find({"memberships.workspace": workspace}, {"password": 0})
            .sort("email", 1)
            .to_list(None)
        )

    async def check_password(self, email: str, password: str) -> dict | None:
        """The operator whose email and password these are; None otherwise (same time either way)."""
        try:
            email = normal_email(email)
        except InvalidInput:
            email = ""
        doc = await self.operators.find_one({"email": email}) if email else None
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            password = ""
        matches = await password_matches(password, doc["password"] if doc else _DECOY)
        return doc if doc is not None and matches else None

    def operator_token(self, operator: dict) -> tuple[str, dt.datetime]:
        now = self.clock.now().timestamp()
        payload = {"typ": "operator", "sub": operator["_id"], "ver": operator.get("token_version", 0)}
        token = auth.OPERATOR_TOKEN_PREFIX + auth.internal_keyring().sign(payload, now, OPERATOR_TOKEN_TTL)
        return token, dt.datetime.fromtimestamp(int(now + OPERATOR_TOKEN_TTL), dt.UTC)

    async def end_sessions(self, operator_id: str) -> None:
        """Every token issued so far stops working (logout, password change)."""
        await self.operators.update_one({"_id": operator_id}, {"$inc": {"token_version": 1}})

    async def operator_claims(self, token: str, workspace: str | None) -> Claims:
        try:
            payload = auth.internal_keyring().verify(
                token[len(auth.OPERATOR_TOKEN_PREFIX) :], self.clock.now().timestamp(), "authorization"
            )
        except InvalidInput as exc:
            raise Unauthenticated(f"operator {exc.message}", "authorization") from None
        if payload.get("typ") != "operator" or not isinstance(payload.get("sub"), str):
            raise Unauthenticated("not an operator token", "authorization")
        doc = await self.operators.find_one({"_id": payload["sub"]}, {"password": 0})
        if doc is None or doc.get("token_version", 0) != payload.get("ver"):
            raise Unauthenticated("operator token was ended (logged out) or its operator is gone", "authorization")
        chosen = choose_workspace(doc, workspace)
        role = role_in(doc, chosen)
        return Claims(f"operator:{doc['_id']}", chosen, ROLE_SCOPES[role], role)


def choose_workspace(operator: dict, requested: str | None) -> str:
    """The named workspace if the operator is a member; their only one when none is named."""
    requested = (requested or "").strip() or None
    workspaces = [m["workspace"] for m in operator.get("memberships", [])]
    if requested is not None:
        if requested not in workspaces:
            raise Forbidden(f"this operator is not a member of workspace {requested!r}", "workspace_id")
        return requested
    if len(workspaces) == 1:
        return workspaces[0]
    if not workspaces:
        raise Forbidden("this operator belongs to no workspace", "workspace_id")
    raise InvalidInput(
        f"this operator belongs to {len(workspaces)} workspaces: name one with {auth.WORKSPACE_HEADER}",
        auth.WORKSPACE_HEADER,
    )
