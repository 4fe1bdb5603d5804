"""Webhook provider: one HTTP POST per message, carrying its idempotency key.

The receiver gets the key both in the body and as the `Idempotency-Key`
header, so it can drop a repeat if one ever reaches it.
"""

from __future__ import annotations

import httpx

from services.messaging.delivery import Outcome
from services.messaging.messages import FAILED, SENT, UNKNOWN
from services.messaging.views import MessageView

MAX_REASON = 300
# Failures that happen before any byte of the request left: the receiver has nothing.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def payload(message: MessageView) -> dict:
    content = message.content
    return {
        "messageId": message.id,
        "workspaceId": message.workspace,
        "personId": message.person_id,
        "channel": message.channel,
        "idempotencyKey": message.idempotency_key,
        "content": {
            "subject": content.subject,
            "title": content.title,
            "body": content.body,
            "deepLink": content.deep_link,
            "data": content.data,
        },
        "category": message.category,
    }


class WebhookProvider:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def deliver(self, channel: dict, message: MessageView) -> Outcome:
        url = channel["config"]["url"]
        try:
            response = await self.client.post(
                url, json=payload(message), headers={"Idempotency-Key": message.idempotency_key}
            )
        except NOT_SENT as exc:
            return Outcome(FAILED, f"webhook unreachable: {type(exc).__name__}: {exc}"[:MAX_REASON])
        except httpx.HTTPError as exc:
            return Outcome(UNKNOWN, f"webhook outcome unknown: {type(exc).__name__}: {exc}"[:MAX_REASON])
        if 200 <= response.status_code < 300:
            return Outcome(SENT)
        return Outcome(FAILED, f"webhook answered HTTP {response.status_code}: {response.text[:200]}"[:MAX_REASON])
