"""Distribution against the pure-Python oracle (tests/distribution_oracle.py) on generated logs: a few
persons doing A and B with properties (text, numbers, numeric and non-numeric strings, or none) around a
range in three time zones (one with the Berlin DST change), redelivered records and merges; the bucket
cap (max_times) and up to two property filters drawn."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
from services.kit.clock import FixedClock
from services.kit.errors import InvalidInput
from tests import distribution_oracle
from tests.oracle_log import (  # noqa: F401 (the module fixture)
    NOW,
    PERSONS,
    ZONES,
    Event,
    duplicates_st,
    load,
    merges_st,
    minute_st,
    range_doc,
    resolved,
    runner,
    workspace,
)

ABSENT = object()
props_st = st.fixed_dictionaries(
    {
        "plan": st.sampled_from([ABSENT, "a", "b", "ab"]),
        "n": st.one_of(st.just(ABSENT), st.integers(0, 4), st.sampled_from(["1", "3", "x"])),
    }
).map(lambda d: {k: v for k, v in d.items() if v is not ABSENT})
event_st = st.builds(
    lambda person, event, minute, props: Event(person, event, minute, properties=props),
    st.sampled_from(PERSONS[:3]),
    st.sampled_from(["A", "A", "A", "B"]),
    minute_st,
    props_st,
)
log_st = st.lists(event_st, min_size=8, max_size=40)
filter_st = st.one_of(
    st.fixed_dictionaries(
        {
            "property": st.sampled_from(["plan", "n"]),
            "op": st.sampled_from(["=", "!=", "contains"]),
            "value": st.sampled_from(["a", "b", "1", "3"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.sampled_from(["plan", "n"]),
            "op": st.sampled_from([">", ">=", "<", "<="]),
            "value": st.sampled_from(["0", "1", "2.5", "3"]),
        }
    ),
)
query_st = st.fixed_dictionaries(
    {
        "max_times": st.integers(2, 5),
        "filters": st.one_of(st.just([]), st.lists(filter_st, min_size=1, max_size=2)),
        "timezone": st.sampled_from(ZONES),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=log_st, duplicates=duplicates_st, merges=merges_st, q=query_st)
def test_distribution_equals_the_oracle(runner, log, duplicates, merges, q):  # noqa: F811
    store, loop = runner
    ws = workspace("di")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    doc = {"event": "A", "max_times": q["max_times"], "filters": q["filters"], **range_doc(q["timezone"])}
    analytics = Analytics(store, FixedClock(NOW), None)
    got = loop.run_until_complete(analytics.distribution(ws, doc))
    expected = distribution_oracle.distribution(
        resolved(log, mapping, q["timezone"]), "A", q["filters"], q["max_times"]
    )
    assert got == expected


by_st = st.fixed_dictionaries({"property": st.sampled_from(["plan", "n"]), "limit": st.integers(1, 3)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=log_st, duplicates=duplicates_st, merges=merges_st, q=query_st, by=by_st)
def test_distribution_by_a_property_equals_the_oracle_and_adds_up_to_the_whole(
    runner,  # noqa: F811
    log,
    duplicates,
    merges,
    q,
    by,
):
    store, loop = runner
    ws = workspace("db")
    mapping = loop.run_until_complete(load(store, ws, log, duplicates, merges))
    doc = {"event": "A", "max_times": q["max_times"], "filters": q["filters"], **range_doc(q["timezone"])}
    analytics = Analytics(store, FixedClock(NOW), None)
    got = loop.run_until_complete(analytics.distribution(ws, {**doc, "breakdown": by}))
    events = resolved(log, mapping, q["timezone"])
    whole = distribution_oracle.distribution(events, "A", q["filters"], q["max_times"])
    by_value = distribution_oracle.distribution_by(
        events, "A", q["filters"], q["max_times"], by["property"], by["limit"]
    )
    assert got == {**whole, "breakdowns": by_value}
    # The values' buckets add up to the whole's (a person has one value).
    summed = [sum(b["buckets"][k]["persons"] for b in got["breakdowns"]) for k in range(q["max_times"])]
    assert summed == [b["persons"] for b in got["buckets"]]
    assert sum(b["persons"] for b in got["breakdowns"]) == got["persons"]


def test_distribution_by_a_property_keeps_the_top_values_and_folds_the_rest_into_other(runner):  # noqa: F811
    store, loop = runner
    ws = workspace("dk")
    # UTC range 2025-03-28..2025-03-31 is minutes 0 to 5760 of the log.
    log = [
        Event("p0", "A", 10, properties={"plan": "b"}),
        Event("p0", "A", 20, properties={"plan": "a"}),  # p0's value is that of their first A: b
        Event("p1", "A", 30, properties={"plan": "b"}),
        Event("p1", "A", 30, properties={"plan": "a"}),  # the same instant: the smaller value, a
        Event("p2", "A", 40, properties={"plan": "b"}),
        Event("p3", "A", 50),  # no plan: the value ''
        Event("p3", "A", 60, properties={"plan": "b"}),
        Event("p3", "A", 70, properties={"plan": "b"}),
        Event("p4", "A", -10, properties={"plan": "c"}),  # before the range: p4's first A in it has plan d
        Event("p4", "A", 80, properties={"plan": "d"}),
    ]
    loop.run_until_complete(load(store, ws, log, [], []))
    analytics = Analytics(store, FixedClock(NOW), None)
    doc = {"event": "A", "max_times": 3, "breakdown": {"property": "plan", "limit": 1}, **range_doc("UTC")}
    got = loop.run_until_complete(analytics.distribution(ws, doc))

    def buckets(one, two, more):
        return [
            {"times": 1, "or_more": False, "persons": one},
            {"times": 2, "or_more": False, "persons": two},
            {"times": 3, "or_more": True, "persons": more},
        ]

    assert got["persons"] == 5
    assert got["buckets"] == buckets(2, 2, 1)
    # b (p0, p2) leads with 2 persons; a (p1), '' (p3) and d (p4) are "$other".
    assert got["breakdowns"] == [
        {"breakdown_value": "b", "persons": 2, "buckets": buckets(1, 1, 0)},
        {"breakdown_value": "$other", "persons": 3, "buckets": buckets(1, 1, 1)},
    ]


def test_distribution_refuses_a_breakdown_by_product_items(runner):  # noqa: F811
    store, loop = runner
    analytics = Analytics(store, FixedClock(NOW), None)
    doc = {"event": "A", "breakdown": {"product": "sku"}, **range_doc("UTC")}
    with pytest.raises(InvalidInput) as found:
        loop.run_until_complete(analytics.distribution(workspace("dp"), doc))
    assert found.value.field == "breakdown.product"
