"""Who a bearer token is: identity turns any credential into claims for one workspace.

Answered in-process for identity's own gRPC server and over `POST /internal/authenticate`
for the gateway and the other services (which must send a service credential):
- a claims token (a service credential, or claims already signed) is verified and
  narrowed to the workspace the caller names;
- `cdp_sk_...` is a secret API key, `cdp_op_...` an operator token (credentials.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.kit import auth
from services.kit.auth import Claims
from services.kit.errors import CdpError, Forbidden, InvalidInput, Unauthenticated

_STATUS = {Unauthenticated: 401, Forbidden: 403, InvalidInput: 400}


class Authentication:
    def __init__(self, credentials=None) -> None:
        # The store of API keys and operators; None until it exists (then only claims tokens pass).
        self.credentials = credentials

    async def claims_for(self, token: str, workspace: str | None) -> Claims:
        if auth.looks_signed(token):
            claims = auth.verify_claims(token)
            return Claims(claims.subject, claims.workspace_for(workspace), claims.scopes, claims.role)
        if self.credentials is not None:
            if token.startswith(auth.API_KEY_PREFIX):
                return await self.credentials.api_key_claims(token, workspace)
            if token.startswith(auth.OPERATOR_TOKEN_PREFIX):
                return await self.credentials.operator_claims(token, workspace)
        raise Unauthenticated("unknown credential", "authorization")

    def routes(self) -> list[Route]:
        return [Route("/internal/authenticate", self.authenticate, methods=["POST"])]

    async def authenticate(self, request: Request) -> JSONResponse:
        """{"token", "workspace"} -> {"claims": <signed claims token>, "expires_in", ...} or 401/403/400."""
        try:
            caller = auth.verify_claims(auth.bearer_of(request.headers.get("authorization")))
            if not caller.is_service:
                raise Forbidden("only services may ask who a credential is", "authorization")
            try:
                body = await request.json()
                token, workspace = body["token"], body.get("workspace")
                if not isinstance(token, str) or not (workspace is None or isinstance(workspace, str)):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise InvalidInput('body must be {"token": string, "workspace": string or null}', "body") from None
            claims = await self.claims_for(token, workspace)
        except CdpError as exc:
            return JSONResponse(exc.as_dict(), status_code=_STATUS.get(type(exc), 500))
        return JSONResponse(
            {
                "claims": auth.sign_claims(claims),
                "expires_in": int(auth.CLAIMS_TTL),
                "subject": claims.subject,
                "workspace": claims.workspace,
                "scopes": sorted(claims.scopes),
                "role": claims.role,
            }
        )
