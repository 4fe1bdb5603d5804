import datetime

from cdp.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Person(_message.Message):
    __slots__ = ("workspace_id", "id", "uid", "identifiers", "created_at", "merged_into")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    uid: int
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    created_at: _timestamp_pb2.Timestamp
    merged_into: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., uid: _Optional[int] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., merged_into: _Optional[str] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("workspace_id", "identifiers")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, workspace_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("person", "created")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    person: Person
    created: bool
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class IdentifierSet(_message.Message):
    __slots__ = ("identifiers",)
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class ResolveBatchRequest(_message.Message):
    __slots__ = ("workspace_id", "items")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    items: _containers.RepeatedCompositeFieldContainer[IdentifierSet]
    def __init__(self, workspace_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[IdentifierSet, _Mapping]]] = ...) -> None: ...

class ResolveResult(_message.Message):
    __slots__ = ("person", "created", "error")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    person: Person
    created: bool
    error: str
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., created: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class ResolveBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ResolveResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ResolveResult, _Mapping]]] = ...) -> None: ...

class LookupRequest(_message.Message):
    __slots__ = ("workspace_id", "identifier")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    identifier: _common_pb2.Identifier
    def __init__(self, workspace_id: _Optional[str] = ..., identifier: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ...) -> None: ...

class GetPersonRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ...) -> None: ...

class MergeRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id_a", "person_id_b", "reason")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_A_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_B_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id_a: str
    person_id_b: str
    reason: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id_a: _Optional[str] = ..., person_id_b: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MergeRecord(_message.Message):
    __slots__ = ("workspace_id", "id", "winner_id", "loser_id", "moved", "cause_message_id", "rule", "reason", "at", "undone")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    WINNER_ID_FIELD_NUMBER: _ClassVar[int]
    LOSER_ID_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    CAUSE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    UNDONE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    winner_id: str
    loser_id: str
    moved: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    cause_message_id: str
    rule: str
    reason: str
    at: _timestamp_pb2.Timestamp
    undone: bool
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., winner_id: _Optional[str] = ..., loser_id: _Optional[str] = ..., moved: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., cause_message_id: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., undone: _Optional[bool] = ...) -> None: ...

class UnmergeRequest(_message.Message):
    __slots__ = ("workspace_id", "merge_id", "reason")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MERGE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    merge_id: str
    reason: str
    def __init__(self, workspace_id: _Optional[str] = ..., merge_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UnmergeResponse(_message.Message):
    __slots__ = ("winner", "restored")
    WINNER_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FIELD_NUMBER: _ClassVar[int]
    winner: Person
    restored: Person
    def __init__(self, winner: _Optional[_Union[Person, _Mapping]] = ..., restored: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ListMergesRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListMergesResponse(_message.Message):
    __slots__ = ("merges",)
    MERGES_FIELD_NUMBER: _ClassVar[int]
    merges: _containers.RepeatedCompositeFieldContainer[MergeRecord]
    def __init__(self, merges: _Optional[_Iterable[_Union[MergeRecord, _Mapping]]] = ...) -> None: ...

class ForgetRequest(_message.Message):
    __slots__ = ("workspace_id", "person_id", "reason")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    person_id: str
    reason: str
    def __init__(self, workspace_id: _Optional[str] = ..., person_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ForgetResponse(_message.Message):
    __slots__ = ("person_id", "identifiers_removed")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifiers_removed: int
    def __init__(self, person_id: _Optional[str] = ..., identifiers_removed: _Optional[int] = ...) -> None: ...

class CreateWorkspaceRequest(_message.Message):
    __slots__ = ("id", "name", "write_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WRITE_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    write_key: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., write_key: _Optional[str] = ...) -> None: ...

class GetWorkspaceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Workspace(_message.Message):
    __slots__ = ("id", "name", "write_keys")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WRITE_KEYS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    write_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., write_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class IdentityRules(_message.Message):
    __slots__ = ("workspace_id", "priority", "limits", "blocked", "blocked_patterns", "custom_types", "default_region")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_TYPES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    priority: _containers.RepeatedScalarFieldContainer[str]
    limits: _containers.ScalarMap[str, int]
    blocked: _containers.RepeatedScalarFieldContainer[str]
    blocked_patterns: _containers.RepeatedScalarFieldContainer[str]
    custom_types: _containers.RepeatedScalarFieldContainer[str]
    default_region: str
    def __init__(self, workspace_id: _Optional[str] = ..., priority: _Optional[_Iterable[str]] = ..., limits: _Optional[_Mapping[str, int]] = ..., blocked: _Optional[_Iterable[str]] = ..., blocked_patterns: _Optional[_Iterable[str]] = ..., custom_types: _Optional[_Iterable[str]] = ..., default_region: _Optional[str] = ...) -> None: ...

class GetIdentityRulesRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "workspace_id", "name", "scopes", "created_at", "created_by", "revoked_at", "last_used_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    revoked_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "scopes")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class NewApiKey(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    secret: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class AddOperatorRequest(_message.Message):
    __slots__ = ("workspace_id", "email", "password", "role")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    email: str
    password: str
    role: str
    def __init__(self, workspace_id: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class Operator(_message.Message):
    __slots__ = ("id", "email", "workspace_id", "role", "created_at", "created")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    email: str
    workspace_id: str
    role: str
    created_at: _timestamp_pb2.Timestamp
    created: bool
    def __init__(self, id: _Optional[str] = ..., email: _Optional[str] = ..., workspace_id: _Optional[str] = ..., role: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...
