"""Signing in an operator: the password check, its rate limit and the audit of failures.

A wrong email and a wrong password get the same answer in the same time, so
the answer does not tell which emails have accounts. Failed attempts are counted
per email in Redis (shared by identity's replicas): past `limit` in `window`
seconds, that email is refused without checking until the window ends.
"""

from __future__ import annotations

import hashlib

from services.identity.credentials import Credentials, choose_workspace, role_in
from services.kit.audit import Audit
from services.kit.errors import RateLimited, Unauthenticated

WRONG = "wrong email or password"


class Login:
    def __init__(self, credentials: Credentials, redis, audit: Audit, limit: int = 10, window: int = 900) -> None:
        self.credentials = credentials
        self.redis = redis
        self.audit = audit
        self.limit, self.window = limit, window

    def _counter(self, email: str) -> str:
        # Hashed: the key names no address.
        return "login-failures:" + hashlib.sha256((email or "").strip().lower().encode()).hexdigest()

    async def sign_in(self, email: str, password: str, workspace: str | None) -> dict:
        """{token, expires_at, operator, workspace, role} for a right email and password."""
        counter = self._counter(email)
        failures = int(await self.redis.get(counter) or 0)
        if failures >= self.limit:
            wait = max(await self.redis.ttl(counter), 1)
            await self._failed(await self._known(email), "rate limited")
            raise RateLimited(f"too many failed sign-ins for this email: try again in {wait} seconds", "email")
        operator = await self.credentials.check_password(email, password)
        if operator is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, self.window, nx=True)
                await pipe.execute()
            known = await self._known(email)
            await self._failed(known, "wrong password" if known else "unknown email")
            raise Unauthenticated(WRONG, "password")
        await self.redis.delete(counter)
        chosen = choose_workspace(operator, workspace) if workspace or len(operator["memberships"]) == 1 else None
        token, expires_at = self.credentials.operator_token(operator)
        return {
            "token": token,
            "expires_at": expires_at,
            "operator": operator,
            "workspace": chosen,
            "role": role_in(operator, chosen) if chosen else None,
        }

    async def _known(self, email: str) -> dict | None:
        return await self.credentials.operators.find_one({"email": (email or "").strip().lower()}, {"memberships": 1})

    async def _failed(self, operator: dict | None, reason: str) -> None:
        """One record in each workspace the account belongs to (its admins see it); unknown emails in none."""
        if operator is None:
            await self.audit.record(None, "login", "", "unknown", "refused", {"reason": reason})
            return
        for membership in operator.get("memberships", []):
            await self.audit.record(
                None, "login", membership["workspace"], f"operator:{operator['_id']}", "refused", {"reason": reason}
            )
