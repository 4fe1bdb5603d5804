"""Retention with custom brackets and a summed value (revenue retention) on a known dataset."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio

from services.kit.errors import InvalidInput
from tests.analytics_support import loaded, track

pytestmark = pytest.mark.asyncio(loop_scope="module")
DAY0 = dt.datetime(2025, 1, 1, 10, tzinfo=dt.UTC)
QUERY = {"start_event": "Order", "return_event": "Order", "date_from": "2025-01-01", "date_to": "2025-01-01",
         "periods": 8, "value_property": "revenue"}  # fmt: skip


def order(person: str, day: int, revenue: float):
    return track("a", person, "Order", DAY0 + dt.timedelta(days=day), {"revenue": revenue})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics(tmp_path_factory):
    events = [order(p, 0, 100) for p in ("a", "b", "c")] + [
        order("a", 1, 10), order("a", 2, 5), order("a", 5, 20), order("b", 3, 7), order("c", 9, 1),  # c: too late
    ]  # fmt: skip
    analytics = await loaded(tmp_path_factory.mktemp("chdb-brackets"), events, [], DAY0 + dt.timedelta(days=30))
    yield analytics
    analytics.engine.close()


async def test_periods_with_the_value_summed_per_cell(analytics):
    (row,) = (await analytics.retention("a", QUERY))["rows"]
    assert (row["cohort"], row["size"]) == ("2025-01-01", 3)
    assert row["counts"] == [3, 1, 1, 1, 0, 1, 0, 0]
    assert row["values"] == [300.0, 10.0, 5.0, 7.0, 0.0, 20.0, 0.0, 0.0]


async def test_custom_brackets_count_a_person_once_per_bracket(analytics):
    out = await analytics.retention("a", {**QUERY, "brackets": [1, 4]})  # days 1-3 and 4-7
    (row,) = out["rows"]
    assert out["brackets"] == [1, 4]
    assert row["counts"] == [2, 1] and row["shares"] == [2 / 3, 1 / 3]  # a and b; a
    assert row["values"] == [22.0, 20.0]
    cohort = dt.date(2025, 1, 1)
    assert await analytics.retention_cell("a", {**QUERY, "brackets": [1, 4]}, cohort.isoformat(), 0) == ["a", "b"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"brackets": [4, 1]}, "brackets"), ({"brackets": [1, 8]}, "brackets"), ({"brackets": [-1]}, "brackets"),
     ({"value_property": "a..b"}, "valueProperty")],
)  # fmt: skip
async def test_bad_brackets_are_refused_with_the_field(analytics, extra, field):
    with pytest.raises(InvalidInput) as refused:
        await analytics.retention("a", {**QUERY, **extra})
    assert refused.value.field == field
