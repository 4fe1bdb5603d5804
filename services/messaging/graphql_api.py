"""GraphQL subgraph of messaging: Person.messages and inbox, sends, channels, templates, stats, policy."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from services.kit.audit import Audit, audited
from services.kit.clock import Clock
from services.kit.errors import InvalidInput, NotFound
from services.kit.graphql import schema as make_schema
from services.kit.graphql import workspace_of
from services.kit.netguard import OutboundGuard
from services.messaging.channel_types import TYPES
from services.messaging.channels import WEBHOOK, shown, validate_channel
from services.messaging.messages import Content, SendCommand
from services.messaging.operations import Context
from services.messaging.policy import Cap, Policy
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
    template_id: str
    due_at: dt.datetime | None
    delivered_at: dt.datetime | None
    opened_at: dt.datetime | None
    clicked_at: dt.datetime | None
    converted: bool
    revenue: float
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
    template_id: str | None = None
    vars: JSON | None = None
    to: str | None = strawberry.field(default=None, description="Address; default: the profile's trait.")
    timezone: str | None = strawberry.field(default=None, description="IANA zone; default: the profile's trait.")


@strawberry.type
class InboxItem:
    id: strawberry.ID
    title: str
    body: str
    deep_link: str
    data: JSON
    category: str
    created_at: dt.datetime
    read_at: dt.datetime | None


@strawberry.type
class Template:
    id: strawberry.ID
    name: str
    channel: str
    content: MessageContent
    updated_at: dt.datetime | None


@strawberry.input
class TemplateInput:
    name: str
    channel: str = strawberry.field(description=f"Channel type: {', '.join(TYPES)}.")
    content: ContentInput


@strawberry.type
class MessageStats:
    total: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    converted: int
    revenue: float
    failed: int
    skipped: int
    delivery_rate: float = strawberry.field(description="送达率: delivered / sent")
    open_rate: float = strawberry.field(description="打开率: opened / delivered")
    click_rate: float = strawberry.field(description="点击率: clicked / delivered")
    conversion_rate: float = strawberry.field(description="转化率: converted / sent")


@strawberry.type
class CapRule:
    channel: str
    category: str
    limit: int
    days: int


@strawberry.input
class CapInput:
    channel: str = ""
    category: str = ""
    limit: int = 1
    days: int = 1


@strawberry.type
class MessagingPolicy:
    quiet_start: str
    quiet_end: str
    default_timezone: str
    caps: list[CapRule]
    conversion_event: str
    attribution_hours: int


@strawberry.input
class MessagingPolicyInput:
    quiet_start: str = "22:00"
    quiet_end: str = "08:00"
    default_timezone: str = "Asia/Shanghai"
    caps: list[CapInput] = strawberry.field(default_factory=list)
    conversion_event: str = "Order Completed"
    attribution_hours: int = 72


def _content(c: Content) -> MessageContent:
    return MessageContent(subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=c.data)


def _content_in(c: ContentInput) -> Content:
    if c.data is not None and not isinstance(c.data, dict):
        raise InvalidInput("content.data must be an object", "content.data")
    return Content(subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=c.data or {})


def _template(doc: dict) -> Template:
    return Template(
        id=strawberry.ID(doc["_id"]),
        name=doc["name"],
        channel=doc["channel"],
        content=_content(Content.of(doc["content"])),
        updated_at=doc.get("updated_at"),
    )


def _policy(p: Policy) -> MessagingPolicy:
    return MessagingPolicy(
        quiet_start=p.quiet_start,
        quiet_end=p.quiet_end,
        default_timezone=p.default_timezone,
        caps=[CapRule(channel=c.channel, category=c.category, limit=c.limit, days=c.days) for c in p.caps],
        conversion_event=p.conversion_event,
        attribution_hours=p.attribution_hours,
    )


def _inbox(doc: dict) -> InboxItem:
    return InboxItem(
        id=strawberry.ID(doc["_id"]),
        title=doc.get("title", ""),
        body=doc.get("body", ""),
        deep_link=doc.get("deep_link", ""),
        data=doc.get("data") or {},
        category=doc.get("category", ""),
        created_at=doc["created_at"],
        read_at=doc.get("read_at"),
    )


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
        template_id=view.template_id,
        due_at=view.due_at,
        delivered_at=view.delivered_at,
        opened_at=view.opened_at,
        clicked_at=view.clicked_at,
        converted=view.converted,
        revenue=view.revenue,
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

    @strawberry.field(description="The person's in-app inbox, newest first.")
    async def inbox(
        self, info: strawberry.Info, limit: int | None = DEFAULT_PERSON_MESSAGES, unread_only: bool = False
    ) -> list[InboxItem]:
        limit = DEFAULT_PERSON_MESSAGES if limit is None else limit
        if not 0 < limit <= MAX_PERSON_MESSAGES:
            raise InvalidInput(f"limit must be between 1 and {MAX_PERSON_MESSAGES}", "limit")
        store: MessagingStore = info.context["store"]
        docs = await store.inbox_of(workspace_of(info), str(self.id), limit, unread_only)
        return [_inbox(d) for d in docs]


@strawberry.type
class Query:
    @strawberry.field(description="One message by id.")
    async def message(self, info: strawberry.Info, id: strawberry.ID) -> Message | None:
        store: MessagingStore = info.context["store"]
        doc = await store.message(workspace_of(info), str(id))
        return _message(MessageView.of(doc)) if doc else None

    @strawberry.field(description="Channels of the workspace, by name; credentials masked.")
    async def channels(self, info: strawberry.Info) -> list[Channel]:
        store: MessagingStore = info.context["store"]
        docs = await store.list_channels(workspace_of(info))
        return [Channel(name=d["name"], type=d["type"], config=shown(d["type"], d["config"])) for d in docs]

    @strawberry.field(description="Templates of the workspace, by name.")
    async def templates(self, info: strawberry.Info) -> list[Template]:
        store: MessagingStore = info.context["store"]
        return [_template(d) for d in await store.list_templates(workspace_of(info))]

    @strawberry.field(description="One template by id.")
    async def template(self, info: strawberry.Info, id: strawberry.ID) -> Template:
        ctx: Context = info.context["ctx"]
        return _template(await ctx.template(workspace_of(info), str(id)))

    @strawberry.field(description="Preview: a stored template (or unsaved content) rendered for a person.")
    async def render_template(
        self,
        info: strawberry.Info,
        person_id: strawberry.ID | None = None,
        template_id: strawberry.ID | None = None,
        content: ContentInput | None = None,
        vars: JSON | None = None,
    ) -> MessageContent:
        ctx: Context = info.context["ctx"]
        if vars is not None and not isinstance(vars, dict):
            raise InvalidInput("vars must be an object", "vars")
        rendered = await ctx.render_preview(
            workspace_of(info),
            str(template_id or ""),
            str(person_id or ""),
            _content_in(content) if content else None,
            vars or {},
        )
        return _content(rendered)

    @strawberry.field(description="Sent, delivered, opened, clicked, converted, revenue and rates.")
    async def message_stats(
        self, info: strawberry.Info, campaign_id: str | None = None, template_id: str | None = None
    ) -> MessageStats:
        ctx: Context = info.context["ctx"]
        s = await ctx.stats(workspace_of(info), campaign_id or "", template_id or "")
        return MessageStats(**s)

    @strawberry.field(description="Quiet hours, caps and conversion settings of the workspace.")
    async def messaging_policy(self, info: strawberry.Info) -> MessagingPolicy:
        ctx: Context = info.context["ctx"]
        return _policy(await ctx.policy(workspace_of(info)))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Queue one message; the same idempotency key returns the first message.")
    async def send_message(self, info: strawberry.Info, input: SendMessageInput) -> Message:
        sender: Sender = info.context["sender"]
        if input.vars is not None and not isinstance(input.vars, dict):
            raise InvalidInput("vars must be an object", "vars")
        doc, created = await sender.send(
            SendCommand(
                workspace=workspace_of(info),
                person_id=str(input.person_id),
                channel=input.channel,
                content=_content_in(input.content),
                idempotency_key=input.idempotency_key or "",
                campaign_id=input.campaign_id or "",
                step_id=input.step_id or "",
                category=input.category or "",
                template_id=input.template_id or "",
                vars=input.vars or {},
                to=input.to or "",
                timezone=input.timezone or "",
            )
        )
        return _message(MessageView.of(doc), created)

    @strawberry.mutation(description="Create or replace a channel of any type (see README for each type's config).")
    async def upsert_channel(self, info: strawberry.Info, name: str, type: str, config: JSON) -> Channel:
        store: MessagingStore = info.context["store"]
        clock: Clock = info.context["clock"]
        async with audited(info, "channel.upsert", f"channel:{name}") as entry:
            if not isinstance(config, dict):
                raise InvalidInput("config must be an object", "config")
            name, type_, config = validate_channel(name, type, config, info.context["guard"])
            doc = await store.upsert_channel(entry.workspace, name, type_, config, clock.now())
            entry.detail = {"type": type_}
        return Channel(name=doc["name"], type=doc["type"], config=shown(doc["type"], doc["config"]))

    @strawberry.mutation(description="Create a template; an unknown variable fails with its name.")
    async def create_template(self, info: strawberry.Info, input: TemplateInput) -> Template:
        ctx: Context = info.context["ctx"]
        doc = await ctx.create_template(workspace_of(info), input.name, input.channel, _content_in(input.content))
        return _template(doc)

    @strawberry.mutation
    async def update_template(self, info: strawberry.Info, id: strawberry.ID, input: TemplateInput) -> Template:
        ctx: Context = info.context["ctx"]
        doc = await ctx.update_template(
            workspace_of(info), str(id), input.name, input.channel, _content_in(input.content)
        )
        return _template(doc)

    @strawberry.mutation
    async def delete_template(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        store: MessagingStore = info.context["store"]
        return await store.delete_template(workspace_of(info), str(id))

    @strawberry.mutation(description="Mark an in-app message read; returns it.")
    async def mark_inbox_read(self, info: strawberry.Info, id: strawberry.ID) -> InboxItem:
        store: MessagingStore = info.context["store"]
        clock: Clock = info.context["clock"]
        doc = await store.mark_read(workspace_of(info), str(id), clock.now())
        if doc is None:
            raise NotFound(f"inbox message {id!r} not found", "id")
        return _inbox(doc)

    @strawberry.mutation(description="Quiet hours, caps and conversion settings (replaces the previous ones).")
    async def set_messaging_policy(self, info: strawberry.Info, input: MessagingPolicyInput) -> MessagingPolicy:
        ctx: Context = info.context["ctx"]
        policy = Policy(
            quiet_start=input.quiet_start,
            quiet_end=input.quiet_end,
            default_timezone=input.default_timezone,
            caps=tuple(Cap(c.channel, c.category, c.limit, c.days) for c in input.caps),
            conversion_event=input.conversion_event,
            attribution_hours=input.attribution_hours,
        )
        async with audited(info, "messaging.policy", "policy") as entry:
            saved = await ctx.set_policy(entry.workspace, policy)
        return _policy(saved)

    @strawberry.mutation(description='Opt a person out of a channel for a category ("*": every category).')
    async def unsubscribe(self, info: strawberry.Info, person_id: strawberry.ID, channel: str, category: str) -> bool:
        clock: Clock = info.context["clock"]
        workspace = workspace_of(info)
        if category not in ("marketing", "transactional", "*"):
            raise InvalidInput("category must be marketing, transactional or *", "category")
        await info.context["ctx"].optouts.add(workspace, str(person_id), channel, category, clock.now())
        return True

    @strawberry.mutation
    async def resubscribe(self, info: strawberry.Info, person_id: strawberry.ID, channel: str, category: str) -> bool:
        return await info.context["ctx"].optouts.remove(workspace_of(info), str(person_id), channel, category)

    @strawberry.mutation(description="Create or replace a webhook channel that POSTs each message to `url`.")
    async def upsert_webhook_channel(self, info: strawberry.Info, name: str, url: str) -> Channel:
        store: MessagingStore = info.context["store"]
        clock: Clock = info.context["clock"]
        async with audited(info, "channel.upsert", f"channel:{name}") as entry:
            name, type_, config = validate_channel(name, WEBHOOK, {"url": url}, info.context["guard"])
            doc = await store.upsert_channel(entry.workspace, name, type_, config, clock.now())
            entry.detail = {"type": type_}
        return Channel(name=doc["name"], type=doc["type"], config=shown(doc["type"], doc["config"]))


def build_schema() -> strawberry.Schema:
    return make_schema(Query, Mutation, types=[Person])


def context_factory(ctx: Context, guard: OutboundGuard, audit: Audit):
    store, sender, clock = ctx.store, ctx.sender, ctx.clock

    async def load(keys: list[tuple[str, str, int]]) -> list[list[dict]]:
        # Group by (workspace, limit) so each group is one aggregation.
        out: dict[tuple[str, str, int], list[dict]] = {}
        for workspace, limit in {(w, n) for w, _, n in keys}:
            ids = sorted({p for w, p, n in keys if (w, n) == (workspace, limit)})
            by_person = await store.messages_of_persons(workspace, ids, limit)
            out.update({(workspace, pid, limit): docs for pid, docs in by_person.items()})
        return [out[k] for k in keys]

    async def make(request) -> dict:
        return {
            "store": store,
            "sender": sender,
            "clock": clock,
            "ctx": ctx,
            "guard": guard,
            "audit": audit,
            "messages": DataLoader(load_fn=load),
        }

    return make
