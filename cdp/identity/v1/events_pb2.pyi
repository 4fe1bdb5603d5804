import datetime

from cdp.common.v1 import common_pb2 as _common_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RawEvent(_message.Message):
    __slots__ = ("workspace_id", "message_id", "type", "anonymous_id", "user_id", "event", "properties", "traits", "context", "timestamp", "received_at", "previous_id", "identifiers")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    message_id: str
    type: str
    anonymous_id: str
    user_id: str
    event: str
    properties: _struct_pb2.Struct
    traits: _struct_pb2.Struct
    context: _struct_pb2.Struct
    timestamp: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    previous_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, workspace_id: _Optional[str] = ..., message_id: _Optional[str] = ..., type: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., user_id: _Optional[str] = ..., event: _Optional[str] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class ResolvedEvent(_message.Message):
    __slots__ = ("event", "person_id", "uid", "person_created")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    PERSON_CREATED_FIELD_NUMBER: _ClassVar[int]
    event: RawEvent
    person_id: str
    uid: int
    person_created: bool
    def __init__(self, event: _Optional[_Union[RawEvent, _Mapping]] = ..., person_id: _Optional[str] = ..., uid: _Optional[int] = ..., person_created: _Optional[bool] = ...) -> None: ...

class IdentityMerged(_message.Message):
    __slots__ = ("workspace_id", "merge_id", "winner_id", "winner_uid", "loser_id", "loser_uid", "moved", "cause_message_id", "rule", "at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MERGE_ID_FIELD_NUMBER: _ClassVar[int]
    WINNER_ID_FIELD_NUMBER: _ClassVar[int]
    WINNER_UID_FIELD_NUMBER: _ClassVar[int]
    LOSER_ID_FIELD_NUMBER: _ClassVar[int]
    LOSER_UID_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    CAUSE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    merge_id: str
    winner_id: str
    winner_uid: int
    loser_id: str
    loser_uid: int
    moved: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    cause_message_id: str
    rule: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., merge_id: _Optional[str] = ..., winner_id: _Optional[str] = ..., winner_uid: _Optional[int] = ..., loser_id: _Optional[str] = ..., loser_uid: _Optional[int] = ..., moved: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., cause_message_id: _Optional[str] = ..., rule: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IdentityUnmerged(_message.Message):
    __slots__ = ("workspace_id", "merge_id", "winner_id", "winner_uid", "restored_id", "restored_uid", "moved_back", "at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MERGE_ID_FIELD_NUMBER: _ClassVar[int]
    WINNER_ID_FIELD_NUMBER: _ClassVar[int]
    WINNER_UID_FIELD_NUMBER: _ClassVar[int]
    RESTORED_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORED_UID_FIELD_NUMBER: _ClassVar[int]
    MOVED_BACK_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    merge_id: str
    winner_id: str
    winner_uid: int
    restored_id: str
    restored_uid: int
    moved_back: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., merge_id: _Optional[str] = ..., winner_id: _Optional[str] = ..., winner_uid: _Optional[int] = ..., restored_id: _Optional[str] = ..., restored_uid: _Optional[int] = ..., moved_back: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PersonForgotten(_message.Message):
    __slots__ = ("workspace_id", "person_id", "uid", "at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    uid: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., uid: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
