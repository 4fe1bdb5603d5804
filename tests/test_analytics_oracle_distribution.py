"""Distribution against the pure-Python oracle (tests/distribution_oracle.py) on generated logs: a few
persons doing A and B with properties (text, numbers, numeric and non-numeric strings, or none) around a
range in three time zones (one with the Berlin DST change), redelivered records and merges; the bucket
cap (max_times) and up to two property filters drawn."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics.analysis import Analytics
from services.kit.clock import FixedClock
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
