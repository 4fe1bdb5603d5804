import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(_message.Message):
    __slots__ = ("workspace_id", "name", "type", "config")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    type: str
    config: _struct_pb2.Struct
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Content(_message.Message):
    __slots__ = ("subject", "title", "body", "deep_link", "data")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    DEEP_LINK_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    subject: str
    title: str
    body: str
    deep_link: str
    data: _struct_pb2.Struct
    def __init__(self, subject: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., deep_link: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SendRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "channel", "content", "template_id", "idempotency_key", "campaign_id", "step_id", "category", "vars", "to", "timezone", "topic")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    channel: str
    content: Content
    template_id: str
    idempotency_key: str
    campaign_id: str
    step_id: str
    category: str
    vars: _struct_pb2.Struct
    to: str
    timezone: str
    topic: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., channel: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., template_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., campaign_id: _Optional[str] = ..., step_id: _Optional[str] = ..., category: _Optional[str] = ..., vars: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., to: _Optional[str] = ..., timezone: _Optional[str] = ..., topic: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("workspace_id", "id", "person_id", "channel", "idempotency_key", "status", "status_reason", "content", "campaign_id", "created_at", "sent_at", "attempts", "created", "category", "template_id", "due_at", "delivered_at", "opened_at", "clicked_at", "converted", "revenue")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    CLICKED_AT_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    person_id: str
    channel: str
    idempotency_key: str
    status: str
    status_reason: str
    content: Content
    campaign_id: str
    created_at: _timestamp_pb2.Timestamp
    sent_at: _timestamp_pb2.Timestamp
    attempts: int
    created: bool
    category: str
    template_id: str
    due_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    opened_at: _timestamp_pb2.Timestamp
    clicked_at: _timestamp_pb2.Timestamp
    converted: bool
    revenue: float
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., person_id: _Optional[str] = ..., channel: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., status: _Optional[str] = ..., status_reason: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., campaign_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., created: _Optional[bool] = ..., category: _Optional[str] = ..., template_id: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clicked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., converted: _Optional[bool] = ..., revenue: _Optional[float] = ...) -> None: ...

class SendBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SendRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[SendRequest, _Mapping]]] = ...) -> None: ...

class SendBatchResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("workspace_id", "campaign_id", "template_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    campaign_id: str
    template_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., template_id: _Optional[str] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("sent", "delivered", "opened", "clicked", "converted", "revenue", "failed", "skipped", "delivery_rate", "open_rate", "click_rate", "conversion_rate", "total")
    SENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    CLICKED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_RATE_FIELD_NUMBER: _ClassVar[int]
    OPEN_RATE_FIELD_NUMBER: _ClassVar[int]
    CLICK_RATE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    sent: int
    delivered: int
    opened: int
    clicked: int
    converted: int
    revenue: float
    failed: int
    skipped: int
    delivery_rate: float
    open_rate: float
    click_rate: float
    conversion_rate: float
    total: int
    def __init__(self, sent: _Optional[int] = ..., delivered: _Optional[int] = ..., opened: _Optional[int] = ..., clicked: _Optional[int] = ..., converted: _Optional[int] = ..., revenue: _Optional[float] = ..., failed: _Optional[int] = ..., skipped: _Optional[int] = ..., delivery_rate: _Optional[float] = ..., open_rate: _Optional[float] = ..., click_rate: _Optional[float] = ..., conversion_rate: _Optional[float] = ..., total: _Optional[int] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("workspace_id", "id", "name", "channel", "content", "updated_at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    name: str
    channel: str
    content: Content
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., channel: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    def __init__(self, templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ...) -> None: ...

class DeleteTemplateResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class RenderRequest(_message.Message):
    __slots__ = ("workspace_id", "template_id", "person_id", "content", "vars")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    template_id: str
    person_id: str
    content: Content
    vars: _struct_pb2.Struct
    def __init__(self, workspace_id: _Optional[str] = ..., template_id: _Optional[str] = ..., person_id: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., vars: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Cap(_message.Message):
    __slots__ = ("channel", "category", "limit", "days")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    category: str
    limit: int
    days: int
    def __init__(self, channel: _Optional[str] = ..., category: _Optional[str] = ..., limit: _Optional[int] = ..., days: _Optional[int] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("workspace_id", "quiet_start", "quiet_end", "default_timezone", "caps", "conversion_event", "attribution_hours")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    QUIET_START_FIELD_NUMBER: _ClassVar[int]
    QUIET_END_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CAPS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_EVENT_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_HOURS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    quiet_start: str
    quiet_end: str
    default_timezone: str
    caps: _containers.RepeatedCompositeFieldContainer[Cap]
    conversion_event: str
    attribution_hours: int
    def __init__(self, workspace_id: _Optional[str] = ..., quiet_start: _Optional[str] = ..., quiet_end: _Optional[str] = ..., default_timezone: _Optional[str] = ..., caps: _Optional[_Iterable[_Union[Cap, _Mapping]]] = ..., conversion_event: _Optional[str] = ..., attribution_hours: _Optional[int] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class RenderResponse(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: Content
    def __init__(self, content: _Optional[_Union[Content, _Mapping]] = ...) -> None: ...
