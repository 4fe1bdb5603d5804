"""Ask identity who a bearer token is (API keys and operator tokens live there)."""

from __future__ import annotations

import httpx

from services.kit import auth, grpc_client
from services.kit.auth import Claims, Lookup
from services.kit.errors import Forbidden, InvalidInput, Unauthenticated

_REFUSALS = {401: Unauthenticated, 403: Forbidden, 400: InvalidInput}


def identity_lookup(identity_http: str) -> Lookup:
    """A lookup over identity's `POST /internal/authenticate`, sent with this process's service credential."""
    client = httpx.AsyncClient(base_url=identity_http, timeout=5.0)

    async def lookup(token: str, workspace: str | None) -> Claims:
        resp = await client.post(
            "/internal/authenticate",
            json={"token": token, "workspace": workspace},
            headers={"authorization": f"Bearer {grpc_client.credential().token()}"},
        )
        if resp.status_code in _REFUSALS:
            body = resp.json()
            raise _REFUSALS[resp.status_code](body.get("message", "refused"), body.get("field", "authorization"))
        resp.raise_for_status()
        return auth.verify_claims(resp.json()["claims"])

    return lookup
