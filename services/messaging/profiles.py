"""Reads persons' profiles from the profile service (gRPC BatchGetProfiles) for templates and addresses."""

from __future__ import annotations

import grpc

from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit import grpc_client
from services.kit.errors import CdpError
from services.kit.protos import from_struct, message_dict

BATCH = 1000


class ProfileUnavailable(CdpError):
    code = "UNAVAILABLE"


def profile_dict(profile: profile_pb2.Profile) -> dict:
    """The profile as templates read it: every computed trait present (unset ones at their default)."""
    return {
        "traits": from_struct(profile.traits),
        "computed": message_dict(profile.computed, with_defaults=True),
        "tags": {t.name: t.value for t in profile.tags},
    }


class ProfileClient:
    def __init__(self, target: str, timeout: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        # gRPC backs off up to two minutes between reconnects by default: a profile service that
        # was down (or started after messaging) would keep failing sends that need a profile
        # long after it is back. Retry the connection at least every 2 s instead.
        options = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]
        self._channel = grpc_client.channel(target, options=options) if target else None
        self._stub = profile_pb2_grpc.ProfileServiceStub(self._channel) if self._channel else None

    async def profiles(self, workspace: str, person_ids: list[str]) -> dict[str, dict]:
        """person id -> {traits, computed, tags}; persons without a profile are absent."""
        if self._stub is None:
            raise ProfileUnavailable("no profile service configured (CDP_PROFILE_GRPC)")
        out: dict[str, dict] = {}
        unique = sorted(set(person_ids))
        for i in range(0, len(unique), BATCH):
            request = profile_pb2.BatchGetProfilesRequest(workspace_id=workspace, person_ids=unique[i : i + BATCH])
            try:
                response = await self._stub.BatchGetProfiles(request, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                raise ProfileUnavailable(f"profile service: {exc.code().name}: {exc.details()}") from None
            for profile in response.profiles:
                out[profile.person_id] = profile_dict(profile)
        return out

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
