"""saveRetentionCell end to end: events sent through the collection API, the matrix asked through the
gateway equals a Python oracle of the same log, a cell saved as a segment holds exactly the oracle's
persons of that cell (as the segment service streams its members), the saved segment breaks the
matrix down to those persons, and an empty cell is refused."""

from __future__ import annotations

import datetime as dt

from cdp.identity.v1 import identity_pb2_grpc
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from tests.conftest import eventually, grpc_stub
from tests.helpers import collect, create_workspace, graphql, lookup, new_id

UTC = dt.UTC
START = dt.datetime(2025, 2, 1, 10, tzinfo=UTC)
FIRST, LAST = dt.date(2025, 2, 1), dt.date(2025, 2, 2)
PERIODS = 3
RETENTION = """query($i: RetentionInput!) { retentionMatrix(input: $i) {
  rows { cohort breakdownValue size counts } } }"""
SAVE = """mutation($r: RetentionInput!, $c: Date!, $p: Int!, $n: String!) {
  saveRetentionCell(retention: $r, cohort: $c, period: $p, name: $n) { segmentId tag persons } }"""
QUERY = {"startEvent": "App Opened", "returnEvent": "Purchased", "period": "day", "periods": PERIODS,
         "dateFrom": FIRST.isoformat(), "dateTo": LAST.isoformat()}  # fmt: skip
# (user, event, days after START)
LOG = [
    ("a", "App Opened", 0), ("a", "Purchased", 1), ("a", "Purchased", 2),
    ("b", "App Opened", 0), ("b", "Purchased", 2),
    ("c", "App Opened", 0), ("c", "Purchased", 1), ("c", "App Opened", 1),
    ("d", "App Opened", 0),  # never returns
    ("e", "App Opened", -3), ("e", "App Opened", 0), ("e", "Purchased", 1),  # first opened before the range
    ("f", "App Opened", 1), ("f", "Purchased", 2),
    ("g", "Purchased", 1),  # never opened
    ("h", "App Opened", 0), ("h", "Purchased", 0),
    ("i", "App Opened", 3), ("i", "Purchased", 4),  # first opened after the range
]  # fmt: skip


def oracle(members: set[str] | None = None) -> dict[str, tuple[set[str], list[set[str]]]]:
    """First-time day retention: cohort -> (its users, per period k the users back k days later)."""
    first: dict[str, dt.date] = {}
    for user, event, days in sorted(LOG, key=lambda x: x[2]):
        if event == "App Opened":
            first.setdefault(user, (START + dt.timedelta(days=days)).date())
    returns = {(u, (START + dt.timedelta(days=d)).date()) for u, e, d in LOG if e == "Purchased"}
    out: dict[str, tuple[set[str], list[set[str]]]] = {}
    for user, cohort in first.items():
        if not FIRST <= cohort <= LAST or (members is not None and user not in members):
            continue
        size, cells = out.setdefault(cohort.isoformat(), (set(), [set() for _ in range(PERIODS)]))
        size.add(user)
        for k in range(PERIODS):
            if (user, cohort + dt.timedelta(days=k)) in returns:
                cells[k].add(user)
    return out


def rows_of(expected: dict, label=None) -> list:
    return [(c, label, len(size), [len(x) for x in cells]) for c, (size, cells) in sorted(expected.items())]


def data(suite, ws: str, query: str, variables: dict) -> dict:
    body = graphql(suite.gateway_url, ws, query, variables)
    assert "errors" not in body, body
    return body["data"]


def matrix(suite, ws: str, query: dict) -> list:
    found = data(suite, ws, RETENTION, {"i": query})["retentionMatrix"]["rows"]
    return [(r["cohort"], r["breakdownValue"], r["size"], r["counts"]) for r in found]


def test_a_saved_retention_cell_holds_exactly_the_oracles_persons(suite, workspace_id):
    ws = workspace_id
    key = create_workspace(suite, ws)
    events = [
        {"type": "track", "userId": u, "event": e, "messageId": new_id(),
         "timestamp": (START + dt.timedelta(days=d)).isoformat()}
        for u, e, d in LOG
    ]  # fmt: skip
    assert collect(suite, key, events).status_code == 200
    expected = oracle()
    assert rows_of(expected) == [("2025-02-01", None, 5, [1, 2, 2]), ("2025-02-02", None, 1, [0, 1, 0])]
    eventually(lambda: matrix(suite, ws, QUERY) == rows_of(expected), timeout=60)

    identity = grpc_stub(suite, "identity", identity_pb2_grpc.IdentityServiceStub)
    person = {u: eventually(lambda u=u: lookup(identity, ws, "user_id", u)).id for u in {u for u, _, _ in LOG}}
    user = {p: u for u, p in person.items()}
    segments = grpc_stub(suite, "segment", segment_pb2_grpc.SegmentServiceStub)

    def members(segment_id: str) -> set[str]:
        request = segment_pb2.StreamMembersRequest(workspace_id=ws, segment_id=segment_id)
        return {user.get(m.person_id, m.person_id) for m in segments.StreamMembers(request)}

    saved = {}
    for cohort, period, name in (("2025-02-01", 1, "back the next day"), ("2025-02-01", -1, "cohort of Feb 1"),
                                 ("2025-02-02", 1, "Feb 2, back the next day")):  # fmt: skip
        size, cells = expected[cohort]
        want = size if period < 0 else cells[period]
        out = data(suite, ws, SAVE, {"r": QUERY, "c": cohort, "p": period, "n": name})["saveRetentionCell"]
        assert out["persons"] == len(want), (cohort, period, out)
        # The tag reaches segment through profile.changed: wait for the members, then they must be exact.
        eventually(lambda s=out["segmentId"], w=want: members(s) == w, timeout=90)
        saved[name] = (out["segmentId"], want)

    # The saved cell breaks the matrix down: only its persons, under its name.
    segment_id, want = saved["back the next day"]
    by_segment = {**QUERY, "breakdown": {"segments": [segment_id]}}
    assert matrix(suite, ws, by_segment) == rows_of(oracle(want), "back the next day")

    # A cell nobody is in is refused: there is nothing to save.
    body = graphql(suite.gateway_url, ws, SAVE, {"r": QUERY, "c": "2025-02-02", "p": 2, "n": "nobody"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
