from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PropertyFilter(_message.Message):
    __slots__ = ("property", "op", "value")
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    property: str
    op: str
    value: str
    def __init__(self, property: _Optional[str] = ..., op: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Breakdown(_message.Message):
    __slots__ = ("property", "trait", "product", "limit", "segments", "computed", "tag")
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    TRAIT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    property: str
    trait: str
    product: str
    limit: int
    segments: _containers.RepeatedScalarFieldContainer[str]
    computed: str
    tag: str
    def __init__(self, property: _Optional[str] = ..., trait: _Optional[str] = ..., product: _Optional[str] = ..., limit: _Optional[int] = ..., segments: _Optional[_Iterable[str]] = ..., computed: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class TrendsSeries(_message.Message):
    __slots__ = ("event", "math", "property", "filters")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    MATH_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    event: str
    math: str
    property: str
    filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    def __init__(self, event: _Optional[str] = ..., math: _Optional[str] = ..., property: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ...) -> None: ...

class TrendsRequest(_message.Message):
    __slots__ = ("workspace_id", "series", "interval", "date_from", "date_to", "timezone", "breakdown", "formulas")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    FORMULAS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    series: _containers.RepeatedCompositeFieldContainer[TrendsSeries]
    interval: str
    date_from: str
    date_to: str
    timezone: str
    breakdown: Breakdown
    formulas: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., series: _Optional[_Iterable[_Union[TrendsSeries, _Mapping]]] = ..., interval: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ..., formulas: _Optional[_Iterable[str]] = ...) -> None: ...

class TrendsLine(_message.Message):
    __slots__ = ("event", "math", "breakdown_value", "values", "total")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    MATH_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    event: str
    math: str
    breakdown_value: str
    values: _containers.RepeatedScalarFieldContainer[float]
    total: float
    def __init__(self, event: _Optional[str] = ..., math: _Optional[str] = ..., breakdown_value: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ..., total: _Optional[float] = ...) -> None: ...

class TrendsResponse(_message.Message):
    __slots__ = ("buckets", "series")
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedScalarFieldContainer[str]
    series: _containers.RepeatedCompositeFieldContainer[TrendsLine]
    def __init__(self, buckets: _Optional[_Iterable[str]] = ..., series: _Optional[_Iterable[_Union[TrendsLine, _Mapping]]] = ...) -> None: ...

class FunnelStep(_message.Message):
    __slots__ = ("event", "filters", "min_seconds", "max_seconds")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    MIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    event: str
    filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    min_seconds: int
    max_seconds: int
    def __init__(self, event: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., min_seconds: _Optional[int] = ..., max_seconds: _Optional[int] = ...) -> None: ...

class FunnelExclusion(_message.Message):
    __slots__ = ("event", "filters", "from_step", "to_step")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    TO_STEP_FIELD_NUMBER: _ClassVar[int]
    event: str
    filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    from_step: int
    to_step: int
    def __init__(self, event: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., from_step: _Optional[int] = ..., to_step: _Optional[int] = ...) -> None: ...

class FunnelRequest(_message.Message):
    __slots__ = ("workspace_id", "steps", "order", "window_seconds", "date_from", "date_to", "timezone", "exclusions", "hold_constant", "breakdown", "attribution", "attribution_step")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIONS_FIELD_NUMBER: _ClassVar[int]
    HOLD_CONSTANT_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_STEP_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStep]
    order: str
    window_seconds: int
    date_from: str
    date_to: str
    timezone: str
    exclusions: _containers.RepeatedCompositeFieldContainer[FunnelExclusion]
    hold_constant: str
    breakdown: Breakdown
    attribution: str
    attribution_step: int
    def __init__(self, workspace_id: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[FunnelStep, _Mapping]]] = ..., order: _Optional[str] = ..., window_seconds: _Optional[int] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., exclusions: _Optional[_Iterable[_Union[FunnelExclusion, _Mapping]]] = ..., hold_constant: _Optional[str] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ..., attribution: _Optional[str] = ..., attribution_step: _Optional[int] = ...) -> None: ...

class FunnelStepResult(_message.Message):
    __slots__ = ("event", "count", "conversion", "from_previous", "avg_seconds_from_previous", "median_seconds_from_previous")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    AVG_SECONDS_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_SECONDS_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    event: str
    count: int
    conversion: float
    from_previous: float
    avg_seconds_from_previous: float
    median_seconds_from_previous: float
    def __init__(self, event: _Optional[str] = ..., count: _Optional[int] = ..., conversion: _Optional[float] = ..., from_previous: _Optional[float] = ..., avg_seconds_from_previous: _Optional[float] = ..., median_seconds_from_previous: _Optional[float] = ...) -> None: ...

class FunnelResult(_message.Message):
    __slots__ = ("breakdown_value", "entered", "steps", "avg_seconds_to_convert", "median_seconds_to_convert", "immature", "by_day")
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    AVG_SECONDS_TO_CONVERT_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_SECONDS_TO_CONVERT_FIELD_NUMBER: _ClassVar[int]
    IMMATURE_FIELD_NUMBER: _ClassVar[int]
    BY_DAY_FIELD_NUMBER: _ClassVar[int]
    breakdown_value: str
    entered: int
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepResult]
    avg_seconds_to_convert: float
    median_seconds_to_convert: float
    immature: int
    by_day: _containers.RepeatedCompositeFieldContainer[FunnelDay]
    def __init__(self, breakdown_value: _Optional[str] = ..., entered: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[FunnelStepResult, _Mapping]]] = ..., avg_seconds_to_convert: _Optional[float] = ..., median_seconds_to_convert: _Optional[float] = ..., immature: _Optional[int] = ..., by_day: _Optional[_Iterable[_Union[FunnelDay, _Mapping]]] = ...) -> None: ...

class FunnelDay(_message.Message):
    __slots__ = ("day", "entered", "converted")
    DAY_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    day: str
    entered: int
    converted: int
    def __init__(self, day: _Optional[str] = ..., entered: _Optional[int] = ..., converted: _Optional[int] = ...) -> None: ...

class FunnelResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[FunnelResult]
    def __init__(self, results: _Optional[_Iterable[_Union[FunnelResult, _Mapping]]] = ...) -> None: ...

class RetentionRequest(_message.Message):
    __slots__ = ("workspace_id", "start_event", "start_filters", "return_event", "return_filters", "kind", "period", "periods", "date_from", "date_to", "timezone", "breakdown", "brackets", "value_property")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    START_EVENT_FIELD_NUMBER: _ClassVar[int]
    START_FILTERS_FIELD_NUMBER: _ClassVar[int]
    RETURN_EVENT_FIELD_NUMBER: _ClassVar[int]
    RETURN_FILTERS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    BRACKETS_FIELD_NUMBER: _ClassVar[int]
    VALUE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    start_event: str
    start_filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    return_event: str
    return_filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    kind: str
    period: str
    periods: int
    date_from: str
    date_to: str
    timezone: str
    breakdown: Breakdown
    brackets: _containers.RepeatedScalarFieldContainer[int]
    value_property: str
    def __init__(self, workspace_id: _Optional[str] = ..., start_event: _Optional[str] = ..., start_filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., return_event: _Optional[str] = ..., return_filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., kind: _Optional[str] = ..., period: _Optional[str] = ..., periods: _Optional[int] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ..., brackets: _Optional[_Iterable[int]] = ..., value_property: _Optional[str] = ...) -> None: ...

class RetentionRow(_message.Message):
    __slots__ = ("cohort", "breakdown_value", "size", "counts", "shares", "values")
    COHORT_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    cohort: str
    breakdown_value: str
    size: int
    counts: _containers.RepeatedScalarFieldContainer[int]
    shares: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, cohort: _Optional[str] = ..., breakdown_value: _Optional[str] = ..., size: _Optional[int] = ..., counts: _Optional[_Iterable[int]] = ..., shares: _Optional[_Iterable[float]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class RetentionResponse(_message.Message):
    __slots__ = ("period", "rows", "brackets")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BRACKETS_FIELD_NUMBER: _ClassVar[int]
    period: str
    rows: _containers.RepeatedCompositeFieldContainer[RetentionRow]
    brackets: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, period: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[RetentionRow, _Mapping]]] = ..., brackets: _Optional[_Iterable[int]] = ...) -> None: ...

class PathsRequest(_message.Message):
    __slots__ = ("workspace_id", "start_event", "end_event", "depth", "limit", "exclude", "date_from", "date_to", "timezone", "breakdown")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    START_EVENT_FIELD_NUMBER: _ClassVar[int]
    END_EVENT_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    start_event: str
    end_event: str
    depth: int
    limit: int
    exclude: _containers.RepeatedScalarFieldContainer[str]
    date_from: str
    date_to: str
    timezone: str
    breakdown: Breakdown
    def __init__(self, workspace_id: _Optional[str] = ..., start_event: _Optional[str] = ..., end_event: _Optional[str] = ..., depth: _Optional[int] = ..., limit: _Optional[int] = ..., exclude: _Optional[_Iterable[str]] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ...) -> None: ...

class Path(_message.Message):
    __slots__ = ("steps", "persons", "share")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedScalarFieldContainer[str]
    persons: int
    share: float
    def __init__(self, steps: _Optional[_Iterable[str]] = ..., persons: _Optional[int] = ..., share: _Optional[float] = ...) -> None: ...

class PathsResponse(_message.Message):
    __slots__ = ("total_persons", "paths", "hidden_paths", "hidden_persons", "hidden_share", "breakdowns")
    TOTAL_PERSONS_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_PATHS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_PERSONS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SHARE_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWNS_FIELD_NUMBER: _ClassVar[int]
    total_persons: int
    paths: _containers.RepeatedCompositeFieldContainer[Path]
    hidden_paths: int
    hidden_persons: int
    hidden_share: float
    breakdowns: _containers.RepeatedCompositeFieldContainer[PathsGroup]
    def __init__(self, total_persons: _Optional[int] = ..., paths: _Optional[_Iterable[_Union[Path, _Mapping]]] = ..., hidden_paths: _Optional[int] = ..., hidden_persons: _Optional[int] = ..., hidden_share: _Optional[float] = ..., breakdowns: _Optional[_Iterable[_Union[PathsGroup, _Mapping]]] = ...) -> None: ...

class PathsGroup(_message.Message):
    __slots__ = ("breakdown_value", "total_persons", "paths", "hidden_paths", "hidden_persons", "hidden_share")
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PERSONS_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_PATHS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_PERSONS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SHARE_FIELD_NUMBER: _ClassVar[int]
    breakdown_value: str
    total_persons: int
    paths: _containers.RepeatedCompositeFieldContainer[Path]
    hidden_paths: int
    hidden_persons: int
    hidden_share: float
    def __init__(self, breakdown_value: _Optional[str] = ..., total_persons: _Optional[int] = ..., paths: _Optional[_Iterable[_Union[Path, _Mapping]]] = ..., hidden_paths: _Optional[int] = ..., hidden_persons: _Optional[int] = ..., hidden_share: _Optional[float] = ...) -> None: ...

class LifecycleRequest(_message.Message):
    __slots__ = ("workspace_id", "event", "filters", "interval", "date_from", "date_to", "timezone", "breakdown")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    event: str
    filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    interval: str
    date_from: str
    date_to: str
    timezone: str
    breakdown: Breakdown
    def __init__(self, workspace_id: _Optional[str] = ..., event: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., interval: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ...) -> None: ...

class LifecycleGroup(_message.Message):
    __slots__ = ("breakdown_value", "new", "returning", "resurrecting", "dormant")
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    RETURNING_FIELD_NUMBER: _ClassVar[int]
    RESURRECTING_FIELD_NUMBER: _ClassVar[int]
    DORMANT_FIELD_NUMBER: _ClassVar[int]
    breakdown_value: str
    new: _containers.RepeatedScalarFieldContainer[int]
    returning: _containers.RepeatedScalarFieldContainer[int]
    resurrecting: _containers.RepeatedScalarFieldContainer[int]
    dormant: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, breakdown_value: _Optional[str] = ..., new: _Optional[_Iterable[int]] = ..., returning: _Optional[_Iterable[int]] = ..., resurrecting: _Optional[_Iterable[int]] = ..., dormant: _Optional[_Iterable[int]] = ...) -> None: ...

class LifecycleResponse(_message.Message):
    __slots__ = ("buckets", "new", "returning", "resurrecting", "dormant", "breakdowns")
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    RETURNING_FIELD_NUMBER: _ClassVar[int]
    RESURRECTING_FIELD_NUMBER: _ClassVar[int]
    DORMANT_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWNS_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedScalarFieldContainer[str]
    new: _containers.RepeatedScalarFieldContainer[int]
    returning: _containers.RepeatedScalarFieldContainer[int]
    resurrecting: _containers.RepeatedScalarFieldContainer[int]
    dormant: _containers.RepeatedScalarFieldContainer[int]
    breakdowns: _containers.RepeatedCompositeFieldContainer[LifecycleGroup]
    def __init__(self, buckets: _Optional[_Iterable[str]] = ..., new: _Optional[_Iterable[int]] = ..., returning: _Optional[_Iterable[int]] = ..., resurrecting: _Optional[_Iterable[int]] = ..., dormant: _Optional[_Iterable[int]] = ..., breakdowns: _Optional[_Iterable[_Union[LifecycleGroup, _Mapping]]] = ...) -> None: ...

class StickinessGroup(_message.Message):
    __slots__ = ("breakdown_value", "persons")
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    breakdown_value: str
    persons: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, breakdown_value: _Optional[str] = ..., persons: _Optional[_Iterable[int]] = ...) -> None: ...

class StickinessResponse(_message.Message):
    __slots__ = ("interval", "persons", "breakdowns")
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWNS_FIELD_NUMBER: _ClassVar[int]
    interval: str
    persons: _containers.RepeatedScalarFieldContainer[int]
    breakdowns: _containers.RepeatedCompositeFieldContainer[StickinessGroup]
    def __init__(self, interval: _Optional[str] = ..., persons: _Optional[_Iterable[int]] = ..., breakdowns: _Optional[_Iterable[_Union[StickinessGroup, _Mapping]]] = ...) -> None: ...

class DistributionRequest(_message.Message):
    __slots__ = ("workspace_id", "event", "filters", "date_from", "date_to", "timezone", "max_times", "breakdown")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    MAX_TIMES_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    event: str
    filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    date_from: str
    date_to: str
    timezone: str
    max_times: int
    breakdown: Breakdown
    def __init__(self, workspace_id: _Optional[str] = ..., event: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., max_times: _Optional[int] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ...) -> None: ...

class DistributionBucket(_message.Message):
    __slots__ = ("times", "or_more", "persons")
    TIMES_FIELD_NUMBER: _ClassVar[int]
    OR_MORE_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    times: int
    or_more: bool
    persons: int
    def __init__(self, times: _Optional[int] = ..., or_more: _Optional[bool] = ..., persons: _Optional[int] = ...) -> None: ...

class DistributionBreakdown(_message.Message):
    __slots__ = ("breakdown_value", "persons", "buckets")
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    breakdown_value: str
    persons: int
    buckets: _containers.RepeatedCompositeFieldContainer[DistributionBucket]
    def __init__(self, breakdown_value: _Optional[str] = ..., persons: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[DistributionBucket, _Mapping]]] = ...) -> None: ...

class DistributionResponse(_message.Message):
    __slots__ = ("persons", "buckets", "breakdowns")
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWNS_FIELD_NUMBER: _ClassVar[int]
    persons: int
    buckets: _containers.RepeatedCompositeFieldContainer[DistributionBucket]
    breakdowns: _containers.RepeatedCompositeFieldContainer[DistributionBreakdown]
    def __init__(self, persons: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[DistributionBucket, _Mapping]]] = ..., breakdowns: _Optional[_Iterable[_Union[DistributionBreakdown, _Mapping]]] = ...) -> None: ...

class IntervalRequest(_message.Message):
    __slots__ = ("workspace_id", "from_event", "to_event", "date_from", "date_to", "timezone", "window_seconds", "breakdown")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_EVENT_FIELD_NUMBER: _ClassVar[int]
    TO_EVENT_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    from_event: str
    to_event: str
    date_from: str
    date_to: str
    timezone: str
    window_seconds: int
    breakdown: Breakdown
    def __init__(self, workspace_id: _Optional[str] = ..., from_event: _Optional[str] = ..., to_event: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., window_seconds: _Optional[int] = ..., breakdown: _Optional[_Union[Breakdown, _Mapping]] = ...) -> None: ...

class IntervalBreakdown(_message.Message):
    __slots__ = ("breakdown_value", "persons", "converted", "avg_seconds", "median_seconds", "p90_seconds", "min_seconds", "max_seconds")
    BREAKDOWN_VALUE_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    AVG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    P90_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    breakdown_value: str
    persons: int
    converted: int
    avg_seconds: float
    median_seconds: float
    p90_seconds: float
    min_seconds: float
    max_seconds: float
    def __init__(self, breakdown_value: _Optional[str] = ..., persons: _Optional[int] = ..., converted: _Optional[int] = ..., avg_seconds: _Optional[float] = ..., median_seconds: _Optional[float] = ..., p90_seconds: _Optional[float] = ..., min_seconds: _Optional[float] = ..., max_seconds: _Optional[float] = ...) -> None: ...

class IntervalResponse(_message.Message):
    __slots__ = ("persons", "converted", "avg_seconds", "median_seconds", "p90_seconds", "min_seconds", "max_seconds", "breakdowns")
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    AVG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    P90_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWNS_FIELD_NUMBER: _ClassVar[int]
    persons: int
    converted: int
    avg_seconds: float
    median_seconds: float
    p90_seconds: float
    min_seconds: float
    max_seconds: float
    breakdowns: _containers.RepeatedCompositeFieldContainer[IntervalBreakdown]
    def __init__(self, persons: _Optional[int] = ..., converted: _Optional[int] = ..., avg_seconds: _Optional[float] = ..., median_seconds: _Optional[float] = ..., p90_seconds: _Optional[float] = ..., min_seconds: _Optional[float] = ..., max_seconds: _Optional[float] = ..., breakdowns: _Optional[_Iterable[_Union[IntervalBreakdown, _Mapping]]] = ...) -> None: ...

class CampaignStatsRequest(_message.Message):
    __slots__ = ("workspace_id", "campaign_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    campaign_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class StatusCount(_message.Message):
    __slots__ = ("status", "messages")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    status: str
    messages: int
    def __init__(self, status: _Optional[str] = ..., messages: _Optional[int] = ...) -> None: ...

class CampaignStats(_message.Message):
    __slots__ = ("campaign_id", "statuses")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    statuses: _containers.RepeatedCompositeFieldContainer[StatusCount]
    def __init__(self, campaign_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[StatusCount, _Mapping]]] = ...) -> None: ...

class CampaignStatsResponse(_message.Message):
    __slots__ = ("campaigns",)
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignStats]
    def __init__(self, campaigns: _Optional[_Iterable[_Union[CampaignStats, _Mapping]]] = ...) -> None: ...

class CampaignFunnelRequest(_message.Message):
    __slots__ = ("workspace_id", "campaign_id", "conversion_event", "window_days", "revenue_property", "visit_events", "join_event")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_EVENT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    VISIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    JOIN_EVENT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    campaign_id: str
    conversion_event: str
    window_days: int
    revenue_property: str
    visit_events: _containers.RepeatedScalarFieldContainer[str]
    join_event: str
    def __init__(self, workspace_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., conversion_event: _Optional[str] = ..., window_days: _Optional[int] = ..., revenue_property: _Optional[str] = ..., visit_events: _Optional[_Iterable[str]] = ..., join_event: _Optional[str] = ...) -> None: ...

class CampaignFunnelResponse(_message.Message):
    __slots__ = ("campaign_id", "sent", "delivered", "opened", "clicked", "converted_persons", "conversions", "revenue", "statuses", "visited", "joined")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    CLICKED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_PERSONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    VISITED_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    converted_persons: int
    conversions: int
    revenue: float
    statuses: _containers.RepeatedCompositeFieldContainer[StatusCount]
    visited: int
    joined: int
    def __init__(self, campaign_id: _Optional[str] = ..., sent: _Optional[int] = ..., delivered: _Optional[int] = ..., opened: _Optional[int] = ..., clicked: _Optional[int] = ..., converted_persons: _Optional[int] = ..., conversions: _Optional[int] = ..., revenue: _Optional[float] = ..., statuses: _Optional[_Iterable[_Union[StatusCount, _Mapping]]] = ..., visited: _Optional[int] = ..., joined: _Optional[int] = ...) -> None: ...

class SaveFunnelDropOffsRequest(_message.Message):
    __slots__ = ("workspace_id", "funnel", "step", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    FUNNEL_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    funnel: FunnelRequest
    step: int
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., funnel: _Optional[_Union[FunnelRequest, _Mapping]] = ..., step: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class SaveRetentionCellRequest(_message.Message):
    __slots__ = ("workspace_id", "retention", "cohort", "period", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    COHORT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    retention: RetentionRequest
    cohort: str
    period: int
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., retention: _Optional[_Union[RetentionRequest, _Mapping]] = ..., cohort: _Optional[str] = ..., period: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class SavedSegment(_message.Message):
    __slots__ = ("segment_id", "tag", "persons")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    tag: str
    persons: int
    def __init__(self, segment_id: _Optional[str] = ..., tag: _Optional[str] = ..., persons: _Optional[int] = ...) -> None: ...

class ArmWeight(_message.Message):
    __slots__ = ("arm", "weight")
    ARM_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    arm: str
    weight: float
    def __init__(self, arm: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class JourneyEvaluationRequest(_message.Message):
    __slots__ = ("workspace_id", "journey_id", "version", "node", "weights", "holdout_pct", "conversion_event", "window_days", "revenue_property", "visit_events", "join_event")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_PCT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_EVENT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    VISIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    JOIN_EVENT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    journey_id: str
    version: int
    node: str
    weights: _containers.RepeatedCompositeFieldContainer[ArmWeight]
    holdout_pct: float
    conversion_event: str
    window_days: int
    revenue_property: str
    visit_events: _containers.RepeatedScalarFieldContainer[str]
    join_event: str
    def __init__(self, workspace_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., version: _Optional[int] = ..., node: _Optional[str] = ..., weights: _Optional[_Iterable[_Union[ArmWeight, _Mapping]]] = ..., holdout_pct: _Optional[float] = ..., conversion_event: _Optional[str] = ..., window_days: _Optional[int] = ..., revenue_property: _Optional[str] = ..., visit_events: _Optional[_Iterable[str]] = ..., join_event: _Optional[str] = ...) -> None: ...

class JourneyRuns(_message.Message):
    __slots__ = ("version", "node", "variant", "entered", "waiting", "done", "exited", "converted", "conversion_value")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_VALUE_FIELD_NUMBER: _ClassVar[int]
    version: int
    node: str
    variant: str
    entered: int
    waiting: int
    done: int
    exited: int
    converted: int
    conversion_value: float
    def __init__(self, version: _Optional[int] = ..., node: _Optional[str] = ..., variant: _Optional[str] = ..., entered: _Optional[int] = ..., waiting: _Optional[int] = ..., done: _Optional[int] = ..., exited: _Optional[int] = ..., converted: _Optional[int] = ..., conversion_value: _Optional[float] = ...) -> None: ...

class JourneyResponse(_message.Message):
    __slots__ = ("variant", "step", "sent", "delivered", "opened", "clicked", "visited", "joined", "ordered_persons", "orders", "revenue")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    CLICKED_FIELD_NUMBER: _ClassVar[int]
    VISITED_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    ORDERED_PERSONS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    variant: str
    step: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    visited: int
    joined: int
    ordered_persons: int
    orders: int
    revenue: float
    def __init__(self, variant: _Optional[str] = ..., step: _Optional[str] = ..., sent: _Optional[int] = ..., delivered: _Optional[int] = ..., opened: _Optional[int] = ..., clicked: _Optional[int] = ..., visited: _Optional[int] = ..., joined: _Optional[int] = ..., ordered_persons: _Optional[int] = ..., orders: _Optional[int] = ..., revenue: _Optional[float] = ...) -> None: ...

class Bounds(_message.Message):
    __slots__ = ("low", "high")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class ExperimentArm(_message.Message):
    __slots__ = ("name", "n", "conversions", "rate", "rate_interval", "revenue_per_person")
    NAME_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    RATE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PER_PERSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    n: int
    conversions: int
    rate: float
    rate_interval: Bounds
    revenue_per_person: float
    def __init__(self, name: _Optional[str] = ..., n: _Optional[int] = ..., conversions: _Optional[int] = ..., rate: _Optional[float] = ..., rate_interval: _Optional[_Union[Bounds, _Mapping]] = ..., revenue_per_person: _Optional[float] = ...) -> None: ...

class ExperimentComparison(_message.Message):
    __slots__ = ("arm", "against", "lift", "lift_interval", "difference", "difference_interval", "p_value", "sequential_p_value", "significant", "significant_fixed_horizon", "chance_to_beat", "revenue_difference", "revenue_p_value", "revenue_lift", "sample_ratio_mismatch", "sample_ratio_p_value")
    ARM_FIELD_NUMBER: _ClassVar[int]
    AGAINST_FIELD_NUMBER: _ClassVar[int]
    LIFT_FIELD_NUMBER: _ClassVar[int]
    LIFT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_FIXED_HORIZON_FIELD_NUMBER: _ClassVar[int]
    CHANCE_TO_BEAT_FIELD_NUMBER: _ClassVar[int]
    REVENUE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_LIFT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATIO_MISMATCH_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATIO_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    arm: str
    against: str
    lift: float
    lift_interval: Bounds
    difference: float
    difference_interval: Bounds
    p_value: float
    sequential_p_value: float
    significant: bool
    significant_fixed_horizon: bool
    chance_to_beat: float
    revenue_difference: float
    revenue_p_value: float
    revenue_lift: float
    sample_ratio_mismatch: bool
    sample_ratio_p_value: float
    def __init__(self, arm: _Optional[str] = ..., against: _Optional[str] = ..., lift: _Optional[float] = ..., lift_interval: _Optional[_Union[Bounds, _Mapping]] = ..., difference: _Optional[float] = ..., difference_interval: _Optional[_Union[Bounds, _Mapping]] = ..., p_value: _Optional[float] = ..., sequential_p_value: _Optional[float] = ..., significant: _Optional[bool] = ..., significant_fixed_horizon: _Optional[bool] = ..., chance_to_beat: _Optional[float] = ..., revenue_difference: _Optional[float] = ..., revenue_p_value: _Optional[float] = ..., revenue_lift: _Optional[float] = ..., sample_ratio_mismatch: _Optional[bool] = ..., sample_ratio_p_value: _Optional[float] = ...) -> None: ...

class ExperimentResult(_message.Message):
    __slots__ = ("node", "arms", "comparisons", "holdout", "winner")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    COMPARISONS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    node: str
    arms: _containers.RepeatedCompositeFieldContainer[ExperimentArm]
    comparisons: _containers.RepeatedCompositeFieldContainer[ExperimentComparison]
    holdout: ExperimentComparison
    winner: str
    def __init__(self, node: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[ExperimentArm, _Mapping]]] = ..., comparisons: _Optional[_Iterable[_Union[ExperimentComparison, _Mapping]]] = ..., holdout: _Optional[_Union[ExperimentComparison, _Mapping]] = ..., winner: _Optional[str] = ...) -> None: ...

class ChannelCost(_message.Message):
    __slots__ = ("channel", "messages", "cost", "priced")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PRICED_FIELD_NUMBER: _ClassVar[int]
    channel: str
    messages: int
    cost: float
    priced: bool
    def __init__(self, channel: _Optional[str] = ..., messages: _Optional[int] = ..., cost: _Optional[float] = ..., priced: _Optional[bool] = ...) -> None: ...

class JourneyRoi(_message.Message):
    __slots__ = ("messages", "cost", "treated_value", "holdout_value_scaled", "incremental_value", "roi")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    TREATED_VALUE_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_VALUE_SCALED_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChannelCost]
    cost: float
    treated_value: float
    holdout_value_scaled: float
    incremental_value: float
    roi: float
    def __init__(self, messages: _Optional[_Iterable[_Union[ChannelCost, _Mapping]]] = ..., cost: _Optional[float] = ..., treated_value: _Optional[float] = ..., holdout_value_scaled: _Optional[float] = ..., incremental_value: _Optional[float] = ..., roi: _Optional[float] = ...) -> None: ...

class JourneyEvaluationResponse(_message.Message):
    __slots__ = ("journey_id", "versions", "steps", "funnel", "experiment", "cost")
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    FUNNEL_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    journey_id: str
    versions: _containers.RepeatedCompositeFieldContainer[JourneyRuns]
    steps: _containers.RepeatedCompositeFieldContainer[JourneyRuns]
    funnel: _containers.RepeatedCompositeFieldContainer[JourneyResponse]
    experiment: ExperimentResult
    cost: JourneyRoi
    def __init__(self, journey_id: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[JourneyRuns, _Mapping]]] = ..., steps: _Optional[_Iterable[_Union[JourneyRuns, _Mapping]]] = ..., funnel: _Optional[_Iterable[_Union[JourneyResponse, _Mapping]]] = ..., experiment: _Optional[_Union[ExperimentResult, _Mapping]] = ..., cost: _Optional[_Union[JourneyRoi, _Mapping]] = ...) -> None: ...

class MessageCost(_message.Message):
    __slots__ = ("channel", "cost")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    channel: str
    cost: float
    def __init__(self, channel: _Optional[str] = ..., cost: _Optional[float] = ...) -> None: ...

class MessageCostsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class SetMessageCostsRequest(_message.Message):
    __slots__ = ("workspace_id", "costs")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    COSTS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    costs: _containers.RepeatedCompositeFieldContainer[MessageCost]
    def __init__(self, workspace_id: _Optional[str] = ..., costs: _Optional[_Iterable[_Union[MessageCost, _Mapping]]] = ...) -> None: ...

class MessageCostsResponse(_message.Message):
    __slots__ = ("costs",)
    COSTS_FIELD_NUMBER: _ClassVar[int]
    costs: _containers.RepeatedCompositeFieldContainer[MessageCost]
    def __init__(self, costs: _Optional[_Iterable[_Union[MessageCost, _Mapping]]] = ...) -> None: ...

class AarrrRequest(_message.Message):
    __slots__ = ("workspace_id", "date_from", "date_to", "timezone", "activation_event", "activation_days", "order_event", "revenue_property", "refund_event", "refund_property", "referral_event")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_EVENT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_DAYS_FIELD_NUMBER: _ClassVar[int]
    ORDER_EVENT_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    REFUND_EVENT_FIELD_NUMBER: _ClassVar[int]
    REFUND_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_EVENT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    date_from: str
    date_to: str
    timezone: str
    activation_event: str
    activation_days: int
    order_event: str
    revenue_property: str
    refund_event: str
    refund_property: str
    referral_event: str
    def __init__(self, workspace_id: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., activation_event: _Optional[str] = ..., activation_days: _Optional[int] = ..., order_event: _Optional[str] = ..., revenue_property: _Optional[str] = ..., refund_event: _Optional[str] = ..., refund_property: _Optional[str] = ..., referral_event: _Optional[str] = ...) -> None: ...

class AarrrPeriod(_message.Message):
    __slots__ = ("date_from", "date_to", "new_persons", "activated", "activation_rate", "active_persons", "retained", "retention_rate", "orders", "gmv", "refunds", "net_revenue", "paying_persons", "arppu", "referrers", "referrals")
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    NEW_PERSONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_RATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_PERSONS_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    RETENTION_RATE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    GMV_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    NET_REVENUE_FIELD_NUMBER: _ClassVar[int]
    PAYING_PERSONS_FIELD_NUMBER: _ClassVar[int]
    ARPPU_FIELD_NUMBER: _ClassVar[int]
    REFERRERS_FIELD_NUMBER: _ClassVar[int]
    REFERRALS_FIELD_NUMBER: _ClassVar[int]
    date_from: str
    date_to: str
    new_persons: int
    activated: int
    activation_rate: float
    active_persons: int
    retained: int
    retention_rate: float
    orders: int
    gmv: float
    refunds: float
    net_revenue: float
    paying_persons: int
    arppu: float
    referrers: int
    referrals: int
    def __init__(self, date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., new_persons: _Optional[int] = ..., activated: _Optional[int] = ..., activation_rate: _Optional[float] = ..., active_persons: _Optional[int] = ..., retained: _Optional[int] = ..., retention_rate: _Optional[float] = ..., orders: _Optional[int] = ..., gmv: _Optional[float] = ..., refunds: _Optional[float] = ..., net_revenue: _Optional[float] = ..., paying_persons: _Optional[int] = ..., arppu: _Optional[float] = ..., referrers: _Optional[int] = ..., referrals: _Optional[int] = ...) -> None: ...

class AarrrResponse(_message.Message):
    __slots__ = ("current", "previous")
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    current: AarrrPeriod
    previous: AarrrPeriod
    def __init__(self, current: _Optional[_Union[AarrrPeriod, _Mapping]] = ..., previous: _Optional[_Union[AarrrPeriod, _Mapping]] = ...) -> None: ...

class AcquisitionLtvRequest(_message.Message):
    __slots__ = ("workspace_id", "date_from", "date_to", "timezone", "order_event", "refund_event", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    ORDER_EVENT_FIELD_NUMBER: _ClassVar[int]
    REFUND_EVENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    date_from: str
    date_to: str
    timezone: str
    order_event: str
    refund_event: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., timezone: _Optional[str] = ..., order_event: _Optional[str] = ..., refund_event: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class LtvHorizon(_message.Message):
    __slots__ = ("mature_persons", "net_revenue", "per_person")
    MATURE_PERSONS_FIELD_NUMBER: _ClassVar[int]
    NET_REVENUE_FIELD_NUMBER: _ClassVar[int]
    PER_PERSON_FIELD_NUMBER: _ClassVar[int]
    mature_persons: int
    net_revenue: float
    per_person: float
    def __init__(self, mature_persons: _Optional[int] = ..., net_revenue: _Optional[float] = ..., per_person: _Optional[float] = ...) -> None: ...

class LtvChannel(_message.Message):
    __slots__ = ("channel", "persons", "d7", "d30", "d90")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    D7_FIELD_NUMBER: _ClassVar[int]
    D30_FIELD_NUMBER: _ClassVar[int]
    D90_FIELD_NUMBER: _ClassVar[int]
    channel: str
    persons: int
    d7: LtvHorizon
    d30: LtvHorizon
    d90: LtvHorizon
    def __init__(self, channel: _Optional[str] = ..., persons: _Optional[int] = ..., d7: _Optional[_Union[LtvHorizon, _Mapping]] = ..., d30: _Optional[_Union[LtvHorizon, _Mapping]] = ..., d90: _Optional[_Union[LtvHorizon, _Mapping]] = ...) -> None: ...

class AcquisitionLtvResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[LtvChannel]
    def __init__(self, channels: _Optional[_Iterable[_Union[LtvChannel, _Mapping]]] = ...) -> None: ...

class CampaignSpreadRequest(_message.Message):
    __slots__ = ("workspace_id", "campaign_id", "window_days", "share_event", "share_property", "order_event", "max_depth")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    SHARE_EVENT_FIELD_NUMBER: _ClassVar[int]
    SHARE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    ORDER_EVENT_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    campaign_id: str
    window_days: int
    share_event: str
    share_property: str
    order_event: str
    max_depth: int
    def __init__(self, workspace_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., window_days: _Optional[int] = ..., share_event: _Optional[str] = ..., share_property: _Optional[str] = ..., order_event: _Optional[str] = ..., max_depth: _Optional[int] = ...) -> None: ...

class SpreadLevel(_message.Message):
    __slots__ = ("level", "sharers", "shares", "invited")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SHARERS_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    INVITED_FIELD_NUMBER: _ClassVar[int]
    level: int
    sharers: int
    shares: int
    invited: int
    def __init__(self, level: _Optional[int] = ..., sharers: _Optional[int] = ..., shares: _Optional[int] = ..., invited: _Optional[int] = ...) -> None: ...

class ReferralSpread(_message.Message):
    __slots__ = ("recipients", "sharers", "shares", "invited", "k_factor", "invited_all_levels", "depth", "levels", "existing", "same_device")
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    SHARERS_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    INVITED_FIELD_NUMBER: _ClassVar[int]
    K_FACTOR_FIELD_NUMBER: _ClassVar[int]
    INVITED_ALL_LEVELS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    EXISTING_FIELD_NUMBER: _ClassVar[int]
    SAME_DEVICE_FIELD_NUMBER: _ClassVar[int]
    recipients: int
    sharers: int
    shares: int
    invited: int
    k_factor: float
    invited_all_levels: int
    depth: int
    levels: _containers.RepeatedCompositeFieldContainer[SpreadLevel]
    existing: int
    same_device: int
    def __init__(self, recipients: _Optional[int] = ..., sharers: _Optional[int] = ..., shares: _Optional[int] = ..., invited: _Optional[int] = ..., k_factor: _Optional[float] = ..., invited_all_levels: _Optional[int] = ..., depth: _Optional[int] = ..., levels: _Optional[_Iterable[_Union[SpreadLevel, _Mapping]]] = ..., existing: _Optional[int] = ..., same_device: _Optional[int] = ...) -> None: ...

class ReturningBuyers(_message.Message):
    __slots__ = ("buyers_before", "returned", "orders", "gmv", "aov", "repurchase_days")
    BUYERS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    RETURNED_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    GMV_FIELD_NUMBER: _ClassVar[int]
    AOV_FIELD_NUMBER: _ClassVar[int]
    REPURCHASE_DAYS_FIELD_NUMBER: _ClassVar[int]
    buyers_before: int
    returned: int
    orders: int
    gmv: float
    aov: float
    repurchase_days: float
    def __init__(self, buyers_before: _Optional[int] = ..., returned: _Optional[int] = ..., orders: _Optional[int] = ..., gmv: _Optional[float] = ..., aov: _Optional[float] = ..., repurchase_days: _Optional[float] = ...) -> None: ...

class CampaignSpreadResponse(_message.Message):
    __slots__ = ("campaign_id", "referral", "returning")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_FIELD_NUMBER: _ClassVar[int]
    RETURNING_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    referral: ReferralSpread
    returning: ReturningBuyers
    def __init__(self, campaign_id: _Optional[str] = ..., referral: _Optional[_Union[ReferralSpread, _Mapping]] = ..., returning: _Optional[_Union[ReturningBuyers, _Mapping]] = ...) -> None: ...

class SqlQueryRequest(_message.Message):
    __slots__ = ("workspace_id", "sql")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    sql: str
    def __init__(self, workspace_id: _Optional[str] = ..., sql: _Optional[str] = ...) -> None: ...

class SqlColumn(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class SqlQueryResponse(_message.Message):
    __slots__ = ("columns", "rows", "truncated")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[SqlColumn]
    rows: _containers.RepeatedCompositeFieldContainer[_struct_pb2.ListValue]
    truncated: bool
    def __init__(self, columns: _Optional[_Iterable[_Union[SqlColumn, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[_struct_pb2.ListValue, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...
