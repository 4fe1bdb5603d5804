"""gRPC MessagingService for partners (cdp.messaging.v1)."""

from __future__ import annotations

from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.kit.audit import Audit, audited_call
from services.kit.auth import Scope, needs
from services.kit.errors import InvalidInput, NotFound, required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.netguard import OutboundGuard
from services.kit.protos import from_struct, to_struct, to_timestamp
from services.messaging.channels import shown, validate_channel
from services.messaging.messages import Content, SendCommand
from services.messaging.operations import Context
from services.messaging.policy import Cap, Policy
from services.messaging.views import MessageView

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _ts(value):
    return to_timestamp(value) if value else None


def content_message(c: Content) -> messaging_pb2.Content:
    return messaging_pb2.Content(
        subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=to_struct(c.data)
    )


def content_of(c: messaging_pb2.Content) -> Content:
    return Content(subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=from_struct(c.data))


def message_message(view: MessageView, created: bool = False) -> messaging_pb2.Message:
    return messaging_pb2.Message(
        workspace_id=view.workspace,
        id=view.id,
        person_id=view.person_id,
        channel=view.channel,
        idempotency_key=view.idempotency_key,
        status=view.status,
        status_reason=view.status_reason,
        content=content_message(view.content),
        campaign_id=view.campaign_id,
        created_at=to_timestamp(view.created_at),
        sent_at=_ts(view.sent_at),
        attempts=view.attempts,
        created=created,
        category=view.category,
        template_id=view.template_id,
        due_at=_ts(view.due_at),
        delivered_at=_ts(view.delivered_at),
        opened_at=_ts(view.opened_at),
        clicked_at=_ts(view.clicked_at),
        converted=view.converted,
        revenue=view.revenue,
    )


def channel_message(doc: dict) -> messaging_pb2.Channel:
    return messaging_pb2.Channel(
        workspace_id=doc["workspace"],
        name=doc["name"],
        type=doc["type"],
        config=to_struct(shown(doc["type"], doc["config"])),
    )


def template_message(doc: dict) -> messaging_pb2.Template:
    return messaging_pb2.Template(
        workspace_id=doc["workspace"],
        id=doc["_id"],
        name=doc["name"],
        channel=doc["channel"],
        content=content_message(Content.of(doc["content"])),
        updated_at=to_timestamp(doc.get("updated_at")),
    )


def policy_message(workspace: str, p: Policy) -> messaging_pb2.Policy:
    return messaging_pb2.Policy(
        workspace_id=workspace,
        quiet_start=p.quiet_start,
        quiet_end=p.quiet_end,
        default_timezone=p.default_timezone,
        caps=[messaging_pb2.Cap(channel=c.channel, category=c.category, limit=c.limit, days=c.days) for c in p.caps],
        conversion_event=p.conversion_event,
        attribution_hours=p.attribution_hours,
    )


def send_command(request: messaging_pb2.SendRequest) -> SendCommand:
    return SendCommand(
        workspace=request.workspace_id,
        person_id=request.person_id,
        channel=request.channel,
        content=content_of(request.content),
        idempotency_key=request.idempotency_key,
        campaign_id=request.campaign_id,
        step_id=request.step_id,
        category=request.category,
        template_id=request.template_id,
        vars=from_struct(request.vars),
        to=request.to,
        timezone=request.timezone,
        topic=request.topic,
    )


def _limit(value: int) -> int:
    if value < 0:
        raise InvalidInput("limit may not be negative", "limit")
    if value > MAX_LIMIT:
        raise InvalidInput(f"limit is at most {MAX_LIMIT}", "limit")
    return value or DEFAULT_LIMIT


class MessagingGrpc(messaging_pb2_grpc.MessagingServiceServicer):
    def __init__(self, ctx: Context, guard: OutboundGuard, audit: Audit) -> None:
        self.ctx = ctx
        self.audit = audit
        self.store = ctx.store
        self.guard = guard

    @needs(Scope.WRITE)
    @maps_errors
    async def Send(self, request, context):
        doc, created = await self.ctx.sender.send(send_command(request))
        return message_message(MessageView.of(doc), created)

    @needs(Scope.WRITE, workspace_field="requests")
    @maps_errors
    async def SendBatch(self, request, context):
        results = await self.ctx.sender.send_batch([send_command(r) for r in request.requests])
        return messaging_pb2.SendBatchResponse(messages=[message_message(MessageView.of(d), c) for d, c in results])

    @needs(Scope.READ)
    @maps_errors
    async def GetMessage(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self.store.message(workspace, required(request.id, "id"))
        if doc is None:
            raise NotFound(f"message {request.id!r} not found", "id")
        return message_message(MessageView.of(doc))

    @needs(Scope.READ)
    @maps_errors
    async def ListMessages(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        person_id = required(request.person_id, "person_id")
        docs = await self.store.messages_of(workspace, person_id, _limit(request.limit))
        return messaging_pb2.ListMessagesResponse(messages=[message_message(MessageView.of(d)) for d in docs])

    @needs(Scope.READ)
    @maps_errors
    async def GetStats(self, request, context):
        s = await self.ctx.stats(request.workspace_id, request.campaign_id, request.template_id)
        return messaging_pb2.Stats(**s)

    @needs(Scope.ADMIN)
    @maps_errors
    async def UpsertChannel(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        async with audited_call(self.audit, "channel.upsert", workspace, f"channel:{request.name}") as entry:
            name, type_, config = validate_channel(request.name, request.type, from_struct(request.config), self.guard)
            doc = await self.store.upsert_channel(workspace, name, type_, config, self.ctx.clock.now())
            entry.detail = {"type": type_}
        return channel_message(doc)

    @needs(Scope.WRITE)
    @maps_errors
    async def CreateTemplate(self, request, context):
        if request.id:
            raise InvalidInput("id is assigned by the service; leave it empty", "id")
        doc = await self.ctx.create_template(
            request.workspace_id, request.name, request.channel, content_of(request.content)
        )
        return template_message(doc)

    @needs(Scope.WRITE)
    @maps_errors
    async def UpdateTemplate(self, request, context):
        doc = await self.ctx.update_template(
            request.workspace_id, request.id, request.name, request.channel, content_of(request.content)
        )
        return template_message(doc)

    @needs(Scope.READ)
    @maps_errors
    async def GetTemplate(self, request, context):
        return template_message(await self.ctx.template(request.workspace_id, request.id))

    @needs(Scope.READ)
    @maps_errors
    async def ListTemplates(self, request, context):
        docs = await self.store.list_templates(required(request.workspace_id, "workspace_id"))
        return messaging_pb2.ListTemplatesResponse(templates=[template_message(d) for d in docs])

    @needs(Scope.WRITE)
    @maps_errors
    async def DeleteTemplate(self, request, context):
        deleted = await self.store.delete_template(
            required(request.workspace_id, "workspace_id"), required(request.id, "id")
        )
        return messaging_pb2.DeleteTemplateResponse(deleted=deleted)

    @needs(Scope.READ)
    @maps_errors
    async def Render(self, request, context):
        content = content_of(request.content) if request.HasField("content") else None
        rendered = await self.ctx.render_preview(
            request.workspace_id, request.template_id, request.person_id, content, from_struct(request.vars)
        )
        return messaging_pb2.RenderResponse(content=content_message(rendered))

    @needs(Scope.ADMIN)
    @maps_errors
    async def SetPolicy(self, request, context):
        policy = Policy(
            quiet_start=request.quiet_start or "22:00",
            quiet_end=request.quiet_end or "08:00",
            default_timezone=request.default_timezone or "Asia/Shanghai",
            caps=tuple(Cap(c.channel, c.category, c.limit, c.days) for c in request.caps),
            conversion_event=request.conversion_event or "Order Completed",
            attribution_hours=request.attribution_hours or 72,
        )
        async with audited_call(self.audit, "messaging.policy", request.workspace_id, "policy"):
            saved = await self.ctx.set_policy(request.workspace_id, policy)
        return policy_message(request.workspace_id, saved)

    @needs(Scope.READ)
    @maps_errors
    async def GetPolicy(self, request, context):
        return policy_message(request.workspace_id, await self.ctx.policy(request.workspace_id))


def grpc_service(ctx: Context, guard: OutboundGuard, audit: Audit) -> GrpcService:
    return GrpcService(
        messaging_pb2_grpc.add_MessagingServiceServicer_to_server,
        MessagingGrpc(ctx, guard, audit),
        messaging_pb2.DESCRIPTOR.services_by_name["MessagingService"].full_name,
    )
