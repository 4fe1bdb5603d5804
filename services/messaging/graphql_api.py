"""GraphQL subgraph of messaging: Person.messages, message lookup, sends and webhook channels."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of
from services.messaging.channels import WEBHOOK, validate_channel
from services.messaging.messages import Content, SendCommand
from services.messaging.sending import Sender
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView

DEFAULT_PERSON_MESSAGES = 20
MAX_PERSON_MESSAGES = 500


@strawberry.type
class MessageContent:
    subject: str
    title: str
    body: str
    deep_link: str
    data: JSON


@strawberry.type
class Message:
    id: strawberry.ID
    person_id: strawberry.ID
    channel: str
    idempotency_key: str
    status: str
    status_reason: str
    category: str
    created_at: dt.datetime | None
    sent_at: dt.datetime | None
    attempts: int
    content: MessageContent
    created: bool = strawberry.field(
        default=False, description="True when this call created the message; false when its key existed."
    )


@strawberry.type
class Channel:
    name: str
    type: str
    config: JSON


@strawberry.input
class ContentInput:
    subject: str = ""
    title: str = ""
    body: str = ""
    deep_link: str = ""
    data: JSON | None = None


@strawberry.input
class SendMessageInput:
    person_id: strawberry.ID
    channel: str
    content: ContentInput
    idempotency_key: str | None = strawberry.field(
        default=None, description="Same key twice sends once; derived from campaign, step and person when omitted."
    )
    campaign_id: str | None = None
    step_id: str | None = None
    category: str | None = strawberry.field(default=None, description="transactional or marketing (default).")


def _message(view: MessageView, created: bool = False) -> Message:
    c = view.content
    return Message(
        id=strawberry.ID(view.id),
        person_id=strawberry.ID(view.person_id),
        channel=view.channel,
        idempotency_key=view.idempotency_key,
        status=view.status,
        status_reason=view.status_reason,
        category=view.category,
        created_at=view.created_at,
        sent_at=view.sent_at,
        attempts=view.attempts,
        content=MessageContent(subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=c.data),
        created=created,
    )


@strawberry.federation.type(keys=["id"])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Person:
        return cls(id=id)

    @strawberry.field(description="The person's messages, newest first.")
    async def messages(self, info: strawberry.Info, limit: int | None = DEFAULT_PERSON_MESSAGES) -> list[Message]:
        limit = DEFAULT_PERSON_MESSAGES if limit is None else limit
        if not 0 < limit <= MAX_PERSON_MESSAGES:
            raise InvalidInput(f"limit must be between 1 and {MAX_PERSON_MESSAGES}", "limit")
        docs = await info.context["messages"].load((workspace_of(info), str(self.id), limit))
        return [_message(MessageView.of(d)) for d in docs]


@strawberry.type
class Query:
    @strawberry.field(description="One message by id.")
    async def message(self, info: strawberry.Info, id: strawberry.ID) -> Message | None:
        store: MessagingStore = info.context["store"]
        doc = await store.message(workspace_of(info), str(id))
        return _message(MessageView.of(doc)) if doc else None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Queue one message; the same idempotency key returns the first message.")
    async def send_message(self, info: strawberry.Info, input: SendMessageInput) -> Message:
        sender: Sender = info.context["sender"]
        c = input.content
        if c.data is not None and not isinstance(c.data, dict):
            raise InvalidInput("content.data must be an object", "content.data")
        doc, created = await sender.send(
            SendCommand(
                workspace=workspace_of(info),
                person_id=str(input.person_id),
                channel=input.channel,
                content=Content(
                    subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=c.data or {}
                ),
                idempotency_key=input.idempotency_key or "",
                campaign_id=input.campaign_id or "",
                step_id=input.step_id or "",
                category=input.category or "",
            )
        )
        return _message(MessageView.of(doc), created)

    @strawberry.mutation(description="Create or replace a webhook channel that POSTs each message to `url`.")
    async def upsert_webhook_channel(self, info: strawberry.Info, name: str, url: str) -> Channel:
        store: MessagingStore = info.context["store"]
        clock: Clock = info.context["clock"]
        workspace = workspace_of(info)
        name, type_, config = validate_channel(name, WEBHOOK, {"url": url})
        doc = await store.upsert_channel(workspace, name, type_, config, clock.now())
        return Channel(name=doc["name"], type=doc["type"], config=doc["config"])


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(store: MessagingStore, sender: Sender, clock: Clock):
    async def load(keys: list[tuple[str, str, int]]) -> list[list[dict]]:
        # Group by (workspace, limit) so each group is one aggregation.
        out: dict[tuple[str, str, int], list[dict]] = {}
        for workspace, limit in {(w, n) for w, _, n in keys}:
            ids = sorted({p for w, p, n in keys if (w, n) == (workspace, limit)})
            by_person = await store.messages_of_persons(workspace, ids, limit)
            out.update({(workspace, pid, limit): docs for pid, docs in by_person.items()})
        return [out[k] for k in keys]

    async def make(request) -> dict:
        return {"store": store, "sender": sender, "clock": clock, "messages": DataLoader(load_fn=load)}

    return make
