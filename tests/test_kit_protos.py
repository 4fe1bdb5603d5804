"""kit.protos.to_value builds the same Value as json_format, and refuses what JSON cannot hold."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import json_format, struct_pb2

from services.kit.protos import from_value, to_value

VALUES = [
    None,
    True,
    False,
    0,
    -3,
    2.5,
    "上海",
    "",
    {"value": "true", "confidence": 0.7, "nested": [1, {"a": None}, [True]]},
    [1, "x", None, {"k": [2.25]}],
    [],
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_same_value_as_json_format(value):
    assert to_value(value) == json_format.ParseDict(value, struct_pb2.Value())
    assert from_value(to_value(value)) == value


def test_datetimes_become_iso_text_and_other_types_are_refused():
    at = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
    assert to_value(at).string_value == "2026-11-22T09:30:00+00:00"
    with pytest.raises(TypeError, match="not a JSON value: set"):
        to_value({1, 2})
