import datetime

from cdp.profile.v1 import computed_pb2 as _computed_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TagAssignment(_message.Message):
    __slots__ = ("name", "value", "source", "confidence", "assigned_at", "expires_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    source: str
    confidence: float
    assigned_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., source: _Optional[str] = ..., confidence: _Optional[float] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("workspace_id", "person_id", "uid", "traits", "tags", "computed", "updated_at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    uid: int
    traits: _struct_pb2.Struct
    tags: _containers.RepeatedCompositeFieldContainer[TagAssignment]
    computed: _computed_pb2.Computed
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., uid: _Optional[int] = ..., traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tags: _Optional[_Iterable[_Union[TagAssignment, _Mapping]]] = ..., computed: _Optional[_Union[_computed_pb2.Computed, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ...) -> None: ...

class BatchGetProfilesRequest(_message.Message):
    __slots__ = ("workspace_id", "person_ids")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_IDS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., person_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetProfilesResponse(_message.Message):
    __slots__ = ("profiles",)
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ...) -> None: ...

class UpsertTraitsRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "set", "set_once", "unset")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    SET_ONCE_FIELD_NUMBER: _ClassVar[int]
    UNSET_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    set: _struct_pb2.Struct
    set_once: _struct_pb2.Struct
    unset: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., set: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., set_once: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., unset: _Optional[_Iterable[str]] = ...) -> None: ...

class AssignTagsRequest(_message.Message):
    __slots__ = ("workspace_id", "person_ids", "segment_id", "tags")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_IDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_ids: _containers.RepeatedScalarFieldContainer[str]
    segment_id: str
    tags: _containers.RepeatedCompositeFieldContainer[TagAssignment]
    def __init__(self, workspace_id: _Optional[str] = ..., person_ids: _Optional[_Iterable[str]] = ..., segment_id: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[TagAssignment, _Mapping]]] = ...) -> None: ...

class AssignTagsResponse(_message.Message):
    __slots__ = ("profiles", "job")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    job: TagJob
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ..., job: _Optional[_Union[TagJob, _Mapping]] = ...) -> None: ...

class TagJob(_message.Message):
    __slots__ = ("id", "state", "total", "done", "tagged", "segment_id", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TAGGED_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: str
    total: int
    done: int
    tagged: int
    segment_id: str
    error: str
    def __init__(self, id: _Optional[str] = ..., state: _Optional[str] = ..., total: _Optional[int] = ..., done: _Optional[int] = ..., tagged: _Optional[int] = ..., segment_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class GetTagJobRequest(_message.Message):
    __slots__ = ("workspace_id", "job_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    job_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class RemoveTagsRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "names")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class TagDefinition(_message.Message):
    __slots__ = ("workspace_id", "name", "display_name_zh", "display_name_en", "category", "source", "value_kind", "description", "rule")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_ZH_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_EN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    display_name_zh: str
    display_name_en: str
    category: str
    source: str
    value_kind: str
    description: str
    rule: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., display_name_zh: _Optional[str] = ..., display_name_en: _Optional[str] = ..., category: _Optional[str] = ..., source: _Optional[str] = ..., value_kind: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[str] = ...) -> None: ...

class ListTagDefinitionsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ListTagDefinitionsResponse(_message.Message):
    __slots__ = ("definitions",)
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    definitions: _containers.RepeatedCompositeFieldContainer[TagDefinition]
    def __init__(self, definitions: _Optional[_Iterable[_Union[TagDefinition, _Mapping]]] = ...) -> None: ...

class GetTimelineRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "limit", "before", "after", "event_type")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    limit: int
    before: _timestamp_pb2.Timestamp
    after: str
    event_type: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., limit: _Optional[int] = ..., before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after: _Optional[str] = ..., event_type: _Optional[str] = ...) -> None: ...

class TimelineEvent(_message.Message):
    __slots__ = ("message_id", "type", "event", "timestamp", "properties")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    type: str
    event: str
    timestamp: _timestamp_pb2.Timestamp
    properties: _struct_pb2.Struct
    def __init__(self, message_id: _Optional[str] = ..., type: _Optional[str] = ..., event: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetTimelineResponse(_message.Message):
    __slots__ = ("events", "next_cursor")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[TimelineEvent]
    next_cursor: str
    def __init__(self, events: _Optional[_Iterable[_Union[TimelineEvent, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class LtvByChannelRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ChannelLtv(_message.Message):
    __slots__ = ("channel", "persons", "revenue", "mean_ltv")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    MEAN_LTV_FIELD_NUMBER: _ClassVar[int]
    channel: str
    persons: int
    revenue: float
    mean_ltv: float
    def __init__(self, channel: _Optional[str] = ..., persons: _Optional[int] = ..., revenue: _Optional[float] = ..., mean_ltv: _Optional[float] = ...) -> None: ...

class LtvByChannelResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[ChannelLtv]
    def __init__(self, channels: _Optional[_Iterable[_Union[ChannelLtv, _Mapping]]] = ...) -> None: ...

class Thresholds(_message.Message):
    __slots__ = ("recency_days", "frequency_orders", "monetary", "high_score", "silent_days", "churned_days", "growing_orders", "loyal_orders")
    RECENCY_DAYS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_ORDERS_FIELD_NUMBER: _ClassVar[int]
    MONETARY_FIELD_NUMBER: _ClassVar[int]
    HIGH_SCORE_FIELD_NUMBER: _ClassVar[int]
    SILENT_DAYS_FIELD_NUMBER: _ClassVar[int]
    CHURNED_DAYS_FIELD_NUMBER: _ClassVar[int]
    GROWING_ORDERS_FIELD_NUMBER: _ClassVar[int]
    LOYAL_ORDERS_FIELD_NUMBER: _ClassVar[int]
    recency_days: _containers.RepeatedScalarFieldContainer[float]
    frequency_orders: _containers.RepeatedScalarFieldContainer[float]
    monetary: _containers.RepeatedScalarFieldContainer[float]
    high_score: int
    silent_days: float
    churned_days: float
    growing_orders: int
    loyal_orders: int
    def __init__(self, recency_days: _Optional[_Iterable[float]] = ..., frequency_orders: _Optional[_Iterable[float]] = ..., monetary: _Optional[_Iterable[float]] = ..., high_score: _Optional[int] = ..., silent_days: _Optional[float] = ..., churned_days: _Optional[float] = ..., growing_orders: _Optional[int] = ..., loyal_orders: _Optional[int] = ...) -> None: ...

class TraitSchema(_message.Message):
    __slots__ = ("types",)
    class TypesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.ScalarMap[str, str]
    def __init__(self, types: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProfileSettings(_message.Message):
    __slots__ = ("workspace_id", "thresholds", "trait_schema", "retention_days", "contact_traits_server_only")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    TRAIT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_TRAITS_SERVER_ONLY_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    thresholds: Thresholds
    trait_schema: TraitSchema
    retention_days: int
    contact_traits_server_only: bool
    def __init__(self, workspace_id: _Optional[str] = ..., thresholds: _Optional[_Union[Thresholds, _Mapping]] = ..., trait_schema: _Optional[_Union[TraitSchema, _Mapping]] = ..., retention_days: _Optional[int] = ..., contact_traits_server_only: _Optional[bool] = ...) -> None: ...

class GetSettingsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class UpdateSettingsRequest(_message.Message):
    __slots__ = ("workspace_id", "thresholds", "trait_schema", "retention_days", "contact_traits_server_only")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    TRAIT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_TRAITS_SERVER_ONLY_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    thresholds: Thresholds
    trait_schema: TraitSchema
    retention_days: int
    contact_traits_server_only: bool
    def __init__(self, workspace_id: _Optional[str] = ..., thresholds: _Optional[_Union[Thresholds, _Mapping]] = ..., trait_schema: _Optional[_Union[TraitSchema, _Mapping]] = ..., retention_days: _Optional[int] = ..., contact_traits_server_only: _Optional[bool] = ...) -> None: ...
