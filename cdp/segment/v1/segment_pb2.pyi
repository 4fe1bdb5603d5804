import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Segment(_message.Message):
    __slots__ = ("workspace_id", "id", "name", "rule", "created_at", "updated_at", "source", "uses", "windowed")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    WINDOWED_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    name: str
    rule: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    source: str
    uses: _containers.RepeatedScalarFieldContainer[str]
    windowed: bool
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., rule: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ..., uses: _Optional[_Iterable[str]] = ..., windowed: _Optional[bool] = ...) -> None: ...

class CreateSegmentRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "rule", "announce_existing")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    rule: str
    announce_existing: bool
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., rule: _Optional[str] = ..., announce_existing: _Optional[bool] = ...) -> None: ...

class UpdateSegmentRequest(_message.Message):
    __slots__ = ("workspace_id", "id", "name", "rule")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    name: str
    rule: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., rule: _Optional[str] = ...) -> None: ...

class DeleteSegmentRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteSegmentResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ...) -> None: ...

class PreviewRequest(_message.Message):
    __slots__ = ("workspace_id", "rule")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    rule: str
    def __init__(self, workspace_id: _Optional[str] = ..., rule: _Optional[str] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("workspace_id", "segment_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    segment_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count", "elapsed_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    elapsed_ms: float
    def __init__(self, count: _Optional[int] = ..., elapsed_ms: _Optional[float] = ...) -> None: ...

class IsMemberRequest(_message.Message):
    __slots__ = ("workspace_id", "segment_id", "uid")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    segment_id: str
    uid: int
    def __init__(self, workspace_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., uid: _Optional[int] = ...) -> None: ...

class IsMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: bool
    def __init__(self, member: _Optional[bool] = ...) -> None: ...

class StreamMembersRequest(_message.Message):
    __slots__ = ("workspace_id", "segment_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    segment_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("uid", "person_id")
    UID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    uid: int
    person_id: str
    def __init__(self, uid: _Optional[int] = ..., person_id: _Optional[str] = ...) -> None: ...

class OverlapRequest(_message.Message):
    __slots__ = ("workspace_id", "segment_ids")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., segment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class OverlapResponse(_message.Message):
    __slots__ = ("intersection", "union_count", "sizes")
    INTERSECTION_FIELD_NUMBER: _ClassVar[int]
    UNION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    intersection: int
    union_count: int
    sizes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, intersection: _Optional[int] = ..., union_count: _Optional[int] = ..., sizes: _Optional[_Iterable[int]] = ...) -> None: ...

class RetentionRequest(_message.Message):
    __slots__ = ("workspace_id", "cohort_event", "return_event", "start", "periods", "period")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    COHORT_EVENT_FIELD_NUMBER: _ClassVar[int]
    RETURN_EVENT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    cohort_event: str
    return_event: str
    start: _timestamp_pb2.Timestamp
    periods: int
    period: str
    def __init__(self, workspace_id: _Optional[str] = ..., cohort_event: _Optional[str] = ..., return_event: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., periods: _Optional[int] = ..., period: _Optional[str] = ...) -> None: ...

class RetentionRow(_message.Message):
    __slots__ = ("cohort", "size", "shares")
    COHORT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    cohort: str
    size: int
    shares: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, cohort: _Optional[str] = ..., size: _Optional[int] = ..., shares: _Optional[_Iterable[float]] = ...) -> None: ...

class RetentionResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[RetentionRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[RetentionRow, _Mapping]]] = ...) -> None: ...

class SampleRequest(_message.Message):
    __slots__ = ("workspace_id", "segment_id", "size", "seed")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    segment_id: str
    size: int
    seed: int
    def __init__(self, workspace_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., size: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class SampleResponse(_message.Message):
    __slots__ = ("uids",)
    UIDS_FIELD_NUMBER: _ClassVar[int]
    uids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, uids: _Optional[_Iterable[int]] = ...) -> None: ...

class RebuildRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class RebuildResponse(_message.Message):
    __slots__ = ("persons", "elapsed_ms")
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    persons: int
    elapsed_ms: float
    def __init__(self, persons: _Optional[int] = ..., elapsed_ms: _Optional[float] = ...) -> None: ...

class DeclareFieldRequest(_message.Message):
    __slots__ = ("workspace_id", "path", "kind")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    path: str
    kind: str
    def __init__(self, workspace_id: _Optional[str] = ..., path: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class Field(_message.Message):
    __slots__ = ("path", "kinds", "declared")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    path: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    declared: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, path: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., declared: _Optional[_Iterable[str]] = ...) -> None: ...
