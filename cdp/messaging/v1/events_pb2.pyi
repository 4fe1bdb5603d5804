import datetime

from cdp.messaging.v1 import messaging_pb2 as _messaging_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutboundMessage(_message.Message):
    __slots__ = ("workspace_id", "message_id", "person_id", "channel", "idempotency_key", "content", "category", "not_before", "generation", "campaign_id", "timezone", "template_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    message_id: str
    person_id: str
    channel: str
    idempotency_key: str
    content: _messaging_pb2.Content
    category: str
    not_before: _timestamp_pb2.Timestamp
    generation: int
    campaign_id: str
    timezone: str
    template_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., message_id: _Optional[str] = ..., person_id: _Optional[str] = ..., channel: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., content: _Optional[_Union[_messaging_pb2.Content, _Mapping]] = ..., category: _Optional[str] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generation: _Optional[int] = ..., campaign_id: _Optional[str] = ..., timezone: _Optional[str] = ..., template_id: _Optional[str] = ...) -> None: ...

class MessageStatus(_message.Message):
    __slots__ = ("workspace_id", "message_id", "person_id", "status", "reason", "at", "campaign_id", "channel")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    message_id: str
    person_id: str
    status: str
    reason: str
    at: _timestamp_pb2.Timestamp
    campaign_id: str
    channel: str
    def __init__(self, workspace_id: _Optional[str] = ..., message_id: _Optional[str] = ..., person_id: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign_id: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...
