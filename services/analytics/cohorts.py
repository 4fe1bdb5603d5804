"""Saving a set of persons (a funnel step's drop-offs, a retention cell) as a segment.

Segments are rules evaluated on bitmaps; the segment service has no static
list of person ids. So the persons get a campaign tag through profile (the
bulk tagging path, which announces profile.changed), and a segment whose rule
is that tag is created through segment: both through their public gRPC APIs.
"""

from __future__ import annotations

import hashlib

import grpc

from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit import grpc_client
from services.kit.errors import CdpError, InvalidInput

MAX_NAME = 100


class PeerUnavailable(CdpError):
    code = "UNAVAILABLE"


def tag_of(name: str, persons: list[str]) -> str:
    """A tag name from the segment's name and who is in it (the same save twice is one tag)."""
    digest = hashlib.sha256("\n".join([name, *persons]).encode()).hexdigest()[:12]
    return f"analytics_{digest}"


class SegmentSaver:
    def __init__(self, profile_target: str, segment_target: str, timeout: float = 30.0) -> None:
        options = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]
        self._channels = [grpc_client.channel(t, options=options) for t in (profile_target, segment_target)]
        self.profile = profile_pb2_grpc.ProfileServiceStub(self._channels[0])
        self.segment = segment_pb2_grpc.SegmentServiceStub(self._channels[1])
        self.timeout = timeout

    async def save(self, workspace: str, name: str, persons: list[str]) -> dict:
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidInput(f"name is required (at most {MAX_NAME} characters)", "name")
        if not persons:
            raise InvalidInput("nobody is in that step or cell: there is nothing to save", "persons")
        tag = tag_of(name, persons)
        try:
            await self.profile.DefineTag(
                profile_pb2.TagDefinition(
                    workspace_id=workspace,
                    name=tag,
                    display_name_en=name,
                    category="campaign",
                    source="own",
                    value_kind="flag",
                    description="saved from an analytics insight",
                ),
                timeout=self.timeout,
            )
            await self.profile.AssignTags(
                profile_pb2.AssignTagsRequest(
                    workspace_id=workspace, person_ids=persons, tags=[profile_pb2.TagAssignment(name=tag)]
                ),
                timeout=self.timeout,
            )
            # Declared first: segment learns tags from profile.changed, which may not have arrived yet.
            await self.segment.DeclareField(
                segment_pb2.DeclareFieldRequest(workspace_id=workspace, path=f"tags.{tag}", kind="tag"),
                timeout=self.timeout,
            )
            made = await self.segment.CreateSegment(
                segment_pb2.CreateSegmentRequest(workspace_id=workspace, name=name, rule=f"tags.{tag}"),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidInput(exc.details() or "refused by a peer service", "name") from None
            raise PeerUnavailable(f"saving the segment failed: {exc.code().name}: {exc.details()}") from None
        return {"segment_id": made.id, "tag": tag, "persons": len(persons)}

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
