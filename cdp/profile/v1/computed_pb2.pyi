import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Computed(_message.Message):
    __slots__ = ("order_count", "revenue", "average_order_value", "first_order_at", "last_order_at", "last_active_at", "event_count", "refund_count", "refunded_amount", "categories", "acquisition_channel", "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_group", "lifecycle_stage", "ltv", "first_seen_at", "coupon_order_count", "next_order_at", "next_order_category", "reorder_interval_days")
    ORDER_COUNT_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    FIRST_ORDER_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ORDER_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFUND_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    ACQUISITION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RFM_RECENCY_FIELD_NUMBER: _ClassVar[int]
    RFM_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    RFM_MONETARY_FIELD_NUMBER: _ClassVar[int]
    RFM_GROUP_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_STAGE_FIELD_NUMBER: _ClassVar[int]
    LTV_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    COUPON_ORDER_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ORDER_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ORDER_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    REORDER_INTERVAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    order_count: int
    revenue: float
    average_order_value: float
    first_order_at: _timestamp_pb2.Timestamp
    last_order_at: _timestamp_pb2.Timestamp
    last_active_at: _timestamp_pb2.Timestamp
    event_count: int
    refund_count: int
    refunded_amount: float
    categories: _containers.RepeatedScalarFieldContainer[str]
    acquisition_channel: str
    rfm_recency: int
    rfm_frequency: int
    rfm_monetary: int
    rfm_group: str
    lifecycle_stage: str
    ltv: float
    first_seen_at: _timestamp_pb2.Timestamp
    coupon_order_count: int
    next_order_at: _timestamp_pb2.Timestamp
    next_order_category: str
    reorder_interval_days: float
    def __init__(self, order_count: _Optional[int] = ..., revenue: _Optional[float] = ..., average_order_value: _Optional[float] = ..., first_order_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_order_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_active_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_count: _Optional[int] = ..., refund_count: _Optional[int] = ..., refunded_amount: _Optional[float] = ..., categories: _Optional[_Iterable[str]] = ..., acquisition_channel: _Optional[str] = ..., rfm_recency: _Optional[int] = ..., rfm_frequency: _Optional[int] = ..., rfm_monetary: _Optional[int] = ..., rfm_group: _Optional[str] = ..., lifecycle_stage: _Optional[str] = ..., ltv: _Optional[float] = ..., first_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., coupon_order_count: _Optional[int] = ..., next_order_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_order_category: _Optional[str] = ..., reorder_interval_days: _Optional[float] = ...) -> None: ...
