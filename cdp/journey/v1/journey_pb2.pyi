import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnterPersonRequest(_message.Message):
    __slots__ = ("workspace_id", "journey_id", "person_id", "key", "properties", "request_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    journey_id: str
    person_id: str
    key: str
    properties: _struct_pb2.Struct
    request_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., person_id: _Optional[str] = ..., key: _Optional[str] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EnterPersonResponse(_message.Message):
    __slots__ = ("entered", "reason", "run")
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    entered: bool
    reason: str
    run: Run
    def __init__(self, entered: _Optional[bool] = ..., reason: _Optional[str] = ..., run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("workspace_id", "run_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    run_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("workspace_id", "id", "journey_id", "version", "person_id", "key", "status", "node", "entered_at", "due_at", "ended_at", "end_reason", "holdout", "variants", "converted_at", "seq")
    class VariantsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ENTERED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    journey_id: str
    version: int
    person_id: str
    key: str
    status: str
    node: str
    entered_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    end_reason: str
    holdout: bool
    variants: _containers.ScalarMap[str, str]
    converted_at: _timestamp_pb2.Timestamp
    seq: int
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., journey_id: _Optional[str] = ..., version: _Optional[int] = ..., person_id: _Optional[str] = ..., key: _Optional[str] = ..., status: _Optional[str] = ..., node: _Optional[str] = ..., entered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_reason: _Optional[str] = ..., holdout: _Optional[bool] = ..., variants: _Optional[_Mapping[str, str]] = ..., converted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seq: _Optional[int] = ...) -> None: ...

class GetCampaignStatusRequest(_message.Message):
    __slots__ = ("workspace_id", "journey_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    journey_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., journey_id: _Optional[str] = ...) -> None: ...

class CampaignStatus(_message.Message):
    __slots__ = ("workspace_id", "journey_id", "launch_id", "state", "audience", "handed", "sent", "skipped", "failed", "cancelled", "pending", "holdout", "started_at", "finished_at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    HANDED_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    journey_id: str
    launch_id: str
    state: str
    audience: int
    handed: int
    sent: int
    skipped: int
    failed: int
    cancelled: int
    pending: int
    holdout: int
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., launch_id: _Optional[str] = ..., state: _Optional[str] = ..., audience: _Optional[int] = ..., handed: _Optional[int] = ..., sent: _Optional[int] = ..., skipped: _Optional[int] = ..., failed: _Optional[int] = ..., cancelled: _Optional[int] = ..., pending: _Optional[int] = ..., holdout: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RunDue(_message.Message):
    __slots__ = ("workspace_id", "run_id", "seq", "person_id", "due_at", "run")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    run_id: str
    seq: int
    person_id: str
    due_at: _timestamp_pb2.Timestamp
    run: bytes
    def __init__(self, workspace_id: _Optional[str] = ..., run_id: _Optional[str] = ..., seq: _Optional[int] = ..., person_id: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run: _Optional[bytes] = ...) -> None: ...

class JourneyAction(_message.Message):
    __slots__ = ("workspace_id", "person_id", "journey_id", "version", "run_id", "node", "idempotency_key", "send", "update_profile", "webhook", "campaign_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SEND_FIELD_NUMBER: _ClassVar[int]
    UPDATE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    journey_id: str
    version: int
    run_id: str
    node: str
    idempotency_key: str
    send: SendAction
    update_profile: UpdateProfileAction
    webhook: WebhookAction
    campaign_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., version: _Optional[int] = ..., run_id: _Optional[str] = ..., node: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., send: _Optional[_Union[SendAction, _Mapping]] = ..., update_profile: _Optional[_Union[UpdateProfileAction, _Mapping]] = ..., webhook: _Optional[_Union[WebhookAction, _Mapping]] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class SendAction(_message.Message):
    __slots__ = ("channel", "template_id", "fallback", "category", "vars", "templates")
    class TemplatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    channel: str
    template_id: str
    fallback: _containers.RepeatedScalarFieldContainer[str]
    category: str
    vars: _struct_pb2.Struct
    templates: _containers.ScalarMap[str, str]
    def __init__(self, channel: _Optional[str] = ..., template_id: _Optional[str] = ..., fallback: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., vars: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., templates: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UpdateProfileAction(_message.Message):
    __slots__ = ("traits", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    traits: _struct_pb2.Struct
    tags: _containers.ScalarMap[str, str]
    def __init__(self, traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WebhookAction(_message.Message):
    __slots__ = ("channel", "body")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    channel: str
    body: _struct_pb2.Struct
    def __init__(self, channel: _Optional[str] = ..., body: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RunStepped(_message.Message):
    __slots__ = ("workspace_id", "journey_id", "version", "run_id", "person_id", "change", "node", "variant", "at", "seq", "reason", "holdout", "value", "visited")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VISITED_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    journey_id: str
    version: int
    run_id: str
    person_id: str
    change: str
    node: str
    variant: str
    at: _timestamp_pb2.Timestamp
    seq: int
    reason: str
    holdout: bool
    value: float
    visited: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., version: _Optional[int] = ..., run_id: _Optional[str] = ..., person_id: _Optional[str] = ..., change: _Optional[str] = ..., node: _Optional[str] = ..., variant: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seq: _Optional[int] = ..., reason: _Optional[str] = ..., holdout: _Optional[bool] = ..., value: _Optional[float] = ..., visited: _Optional[_Iterable[str]] = ...) -> None: ...
