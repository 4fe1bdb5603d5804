"""inapp: the message is stored in the person's inbox (`Person.inbox`), delivered the moment it is stored."""

from __future__ import annotations

from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.messages import SENT
from services.messaging.providers import Outcome
from services.messaging.views import MessageView


class InboxProvider:
    """Keyed by message id, so a repeat stores once (a crash-left "sending" message is safely sent again)."""

    def __init__(self, store, clock) -> None:
        self.store = store
        self.clock = clock

    async def deliver(self, channel: dict, message: MessageView) -> Outcome:
        c = message.content
        await self.store.put_in_inbox(
            {
                "_id": message.id,
                "workspace": message.workspace,
                "person_id": message.person_id,
                "title": c.title,
                "body": c.body,
                "deep_link": c.deep_link,
                "data": c.data,
                "category": message.category,
                "created_at": self.clock.now(),
                "read_at": None,
            }
        )
        return Outcome(SENT, delivered=True)


def provider(deps: ProviderDeps) -> InboxProvider:
    return InboxProvider(deps.store, deps.clock)


TYPE = ChannelType(
    name="inapp",
    settings=(),
    check=lambda config: {},
    provider=provider,
    example={"rate": 100, "max_attempts": 3},
    template_fields=("title",),
)
