"""gRPC MessagingService for partners (cdp.messaging.v1).

Templates, batches, stats and rendering are later issues; they keep the
generated base class's UNIMPLEMENTED answer until then.
"""

from __future__ import annotations

from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.kit.clock import Clock
from services.kit.errors import InvalidInput, NotFound, required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.protos import from_struct, to_struct, to_timestamp
from services.messaging.channels import validate_channel
from services.messaging.messages import Content, SendCommand
from services.messaging.sending import Sender
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def message_message(view: MessageView, created: bool = False) -> messaging_pb2.Message:
    c = view.content
    return messaging_pb2.Message(
        workspace_id=view.workspace,
        id=view.id,
        person_id=view.person_id,
        channel=view.channel,
        idempotency_key=view.idempotency_key,
        status=view.status,
        status_reason=view.status_reason,
        content=messaging_pb2.Content(
            subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=to_struct(c.data)
        ),
        campaign_id=view.campaign_id,
        created_at=to_timestamp(view.created_at),
        sent_at=to_timestamp(view.sent_at) if view.sent_at else None,
        attempts=view.attempts,
        created=created,
    )


def channel_message(doc: dict) -> messaging_pb2.Channel:
    return messaging_pb2.Channel(
        workspace_id=doc["workspace"], name=doc["name"], type=doc["type"], config=to_struct(doc["config"])
    )


def _limit(value: int) -> int:
    if value < 0:
        raise InvalidInput("limit may not be negative", "limit")
    if value > MAX_LIMIT:
        raise InvalidInput(f"limit is at most {MAX_LIMIT}", "limit")
    return value or DEFAULT_LIMIT


class MessagingGrpc(messaging_pb2_grpc.MessagingServiceServicer):
    def __init__(self, store: MessagingStore, sender: Sender, clock: Clock) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock

    @maps_errors
    async def Send(self, request, context):
        c = request.content
        cmd = SendCommand(
            workspace=request.workspace_id,
            person_id=request.person_id,
            channel=request.channel,
            content=Content(
                subject=c.subject, title=c.title, body=c.body, deep_link=c.deep_link, data=from_struct(c.data)
            ),
            idempotency_key=request.idempotency_key,
            campaign_id=request.campaign_id,
            step_id=request.step_id,
            category=request.category,
            template_id=request.template_id,
        )
        doc, created = await self.sender.send(cmd)
        return message_message(MessageView.of(doc), created)

    @maps_errors
    async def GetMessage(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self.store.message(workspace, required(request.id, "id"))
        if doc is None:
            raise NotFound(f"message {request.id!r} not found", "id")
        return message_message(MessageView.of(doc))

    @maps_errors
    async def ListMessages(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        person_id = required(request.person_id, "person_id")
        docs = await self.store.messages_of(workspace, person_id, _limit(request.limit))
        return messaging_pb2.ListMessagesResponse(messages=[message_message(MessageView.of(d)) for d in docs])

    @maps_errors
    async def UpsertChannel(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        name, type_, config = validate_channel(request.name, request.type, from_struct(request.config))
        doc = await self.store.upsert_channel(workspace, name, type_, config, self.clock.now())
        return channel_message(doc)


def grpc_service(store: MessagingStore, sender: Sender, clock: Clock) -> GrpcService:
    return GrpcService(
        messaging_pb2_grpc.add_MessagingServiceServicer_to_server,
        MessagingGrpc(store, sender, clock),
        messaging_pb2.DESCRIPTOR.services_by_name["MessagingService"].full_name,
    )
