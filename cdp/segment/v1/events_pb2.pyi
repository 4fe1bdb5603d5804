import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentMembershipChanged(_message.Message):
    __slots__ = ("workspace_id", "segment_id", "person_id", "uid", "change", "at", "cause_message_id", "transition_id", "reason")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CAUSE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    segment_id: str
    person_id: str
    uid: int
    change: str
    at: _timestamp_pb2.Timestamp
    cause_message_id: str
    transition_id: str
    reason: str
    def __init__(self, workspace_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., person_id: _Optional[str] = ..., uid: _Optional[int] = ..., change: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cause_message_id: _Optional[str] = ..., transition_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
