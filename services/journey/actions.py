"""Carrying out a step's effects: sends and webhooks through messaging, profile updates through profile.

Messaging stays the one place that delivers, caps and counts: a journey send
is a SendBatch with the step's idempotency key, so a replayed action (the
worker died after messaging accepted, before the offset was committed) finds
its message and sends nothing twice. A send with fallback channels tries the
next channel when messaging skipped the message (no address on that
channel, opted out), under a key derived from the first one.
"""

from __future__ import annotations

import logging

import grpc

from cdp.journey.v1 import journey_pb2
from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.journey.metrics import ACTIONS_REFUSED as REFUSED
from services.kit import grpc_client

log = logging.getLogger(__name__)

_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]


def _send_request(action: journey_pb2.JourneyAction, channel: str, key: str) -> messaging_pb2.SendRequest:
    send = action.send
    return messaging_pb2.SendRequest(
        workspace_id=action.workspace_id,
        person_id=action.person_id,
        channel=channel,
        template_id=send.templates.get(channel) or send.template_id,
        idempotency_key=key,
        campaign_id=action.campaign_id,
        step_id=action.node,
        category=send.category or "marketing",
        vars=send.vars,
    )


def _webhook_request(action: journey_pb2.JourneyAction) -> messaging_pb2.SendRequest:
    return messaging_pb2.SendRequest(
        workspace_id=action.workspace_id,
        person_id=action.person_id,
        channel=action.webhook.channel,
        content=messaging_pb2.Content(data=action.webhook.body),
        idempotency_key=action.idempotency_key,
        campaign_id=action.campaign_id,
        step_id=action.node,
        category="transactional",
    )


class Actions:
    def __init__(self, messaging_target: str, profile_target: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._channels = [grpc_client.channel(t, options=_RECONNECT) for t in (messaging_target, profile_target)]
        self.messaging = messaging_pb2_grpc.MessagingServiceStub(self._channels[0])
        self.profile = profile_pb2_grpc.ProfileServiceStub(self._channels[1])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def handle(self, key: str, action: journey_pb2.JourneyAction) -> None:
        await self.handle_batch([(key, action)])

    async def handle_batch(self, items: list[tuple[str, journey_pb2.JourneyAction]]) -> None:
        actions = [a for _, a in items]
        sends = [a for a in actions if a.WhichOneof("action") == "send"]
        hooks = [a for a in actions if a.WhichOneof("action") == "webhook"]
        updates = [a for a in actions if a.WhichOneof("action") == "update_profile"]
        if sends:
            await self._sends(sends)
        if hooks:
            await self._batch([_webhook_request(a) for a in hooks], "webhook")
        for action in updates:
            await self._update(action)

    async def _batch(self, requests: list[messaging_pb2.SendRequest], kind: str) -> list[messaging_pb2.Message]:
        """SendBatch per workspace; a batch refused as invalid goes again one by one, so one bad step does not hold the rest."""
        by_workspace: dict[str, list] = {}
        for r in requests:
            by_workspace.setdefault(r.workspace_id, []).append(r)
        out: list[messaging_pb2.Message] = []
        for batch in by_workspace.values():
            try:
                response = await self.messaging.SendBatch(
                    messaging_pb2.SendBatchRequest(requests=batch), timeout=self.timeout
                )
                out.extend(response.messages)
                continue
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT or len(batch) == 1:
                    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                        REFUSED.labels(kind).inc()
                        log.warning(
                            "journey action refused by messaging",
                            extra={"error": exc.details(), "key": batch[0].idempotency_key},
                        )
                        continue
                    raise
            for request in batch:
                out.extend(await self._batch([request], kind))
        return out

    async def _sends(self, actions: list[journey_pb2.JourneyAction]) -> None:
        pending = [(a, 0) for a in actions]
        while pending:
            requests = []
            for action, attempt in pending:
                channels = [action.send.channel, *action.send.fallback]
                key = action.idempotency_key if attempt == 0 else f"{action.idempotency_key}:fallback{attempt}"
                requests.append(_send_request(action, channels[attempt], key))
            results = {m.idempotency_key: m for m in await self._batch(requests, "send")}
            retry = []
            for (action, attempt), request in zip(pending, requests, strict=True):
                message = results.get(request.idempotency_key)
                if message is not None and message.status == "skipped" and attempt < len(action.send.fallback):
                    retry.append((action, attempt + 1))
            pending = retry

    async def _update(self, action: journey_pb2.JourneyAction) -> None:
        update = action.update_profile
        try:
            if update.traits.fields:
                await self.profile.UpsertTraits(
                    profile_pb2.UpsertTraitsRequest(
                        workspace_id=action.workspace_id, person_id=action.person_id, set=update.traits
                    ),
                    timeout=self.timeout,
                )
            if update.tags:
                tags = [
                    profile_pb2.TagAssignment(name=n, value=v, source="own") for n, v in sorted(update.tags.items())
                ]
                await self.profile.AssignTags(
                    profile_pb2.AssignTagsRequest(
                        workspace_id=action.workspace_id, person_ids=[action.person_id], tags=tags
                    ),
                    timeout=self.timeout,
                )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            REFUSED.labels("update_profile").inc()
            log.warning("journey profile update refused", extra={"error": exc.details(), "key": action.idempotency_key})
