"""Segment engines side by side on the same synthetic people (fixed seed).

Per population (1M and 10M by default): gender, age, lognormal spend, lifecycle
stage, RFM group, 20 preference tags with confidences, and 90 days of
"Order Completed" with power-law activity. The bitmaps are written straight
into Redis shard by shard (one SET of packed bytes per bitmap), exactly the
keys the real-time writer makes. Then each question is answered by:

- the segment service through gRPC (Count of a saved segment: one Lua script
  per shard, all in one round trip, run one after another by one Redis);
- the same service with its bitmaps on a Redis Cluster (`--cluster N` nodes, default 2):
  the shards spread over the nodes and their scripts run side by side;
- pyroaring in process, running the same compiled plan over roaring bitmaps;
- numpy on packed bits in process (the same plan over whole uint64 arrays: the
  memory-bandwidth ceiling);
- MongoDB (SecantusDB) count_documents over one profile document per person
  (at the smaller population only).
Every engine's count must be equal; the bench stops if one differs.
"""

from __future__ import annotations

import datetime as dt
import functools
import statistics
import time

import numpy as np
import redis
from pymongo import MongoClient
from pyroaring import BitMap
from redis.cluster import ClusterNode, RedisCluster

from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit.rules import parse
from services.segment import encoding as enc
from services.segment import plan
from services.segment.bitmap_keys import meta_keys, shard_key, shards_key, steps_key
from services.segment.plan import Meta, Program, compile_rule
from tools.credentials import grpc_channel

SHARD = 1 << enc.SHARD_BITS
TAGS = [f"pref_{i:02d}" for i in range(20)]
STAGES = ["new", "growing", "loyal", "silent", "churned"]
STAGE_P = [0.15, 0.25, 0.25, 0.2, 0.15]
RFM = ["important_value", "important_develop", "important_keep", "important_retain"] + [
    "general_value",
    "general_develop",
    "general_keep",
    "general_retain",
]
DAYS = 90
EVENT = "Order Completed"

QUERIES = {
    "4 conditions with a NOT": 'traits.gender = "female" AND traits.age BETWEEN 25 AND 34 '
    'AND computed.revenue >= 1000 AND NOT computed.lifecycle_stage = "churned"',
    "bought in the last 30 days": f'DID "{EVENT}" IN LAST 30 DAYS',
    "one RFM group": 'computed.rfm_group = "important_value"',
    "OR of 20 tags": " OR ".join(f"tags.{t}" for t in TAGS),
}


def people_of_shard(seed: int, shard: int, n: int) -> dict:
    """Columns for the uids of one shard (uid 0 is never allocated)."""
    first = shard * SHARD
    count = max(0, min(SHARD, n + 1 - first))
    rng = np.random.default_rng([seed, shard])
    alive = np.zeros(SHARD, dtype=bool)
    alive[:count] = True
    if shard == 0:
        alive[0] = False
    activity = rng.pareto(1.5, SHARD) + 0.05  # power law: a few people buy very often
    return {
        "alive": alive,
        "female": rng.random(SHARD) < 0.55,
        "age": rng.integers(18, 71, SHARD),
        "revenue": np.round(rng.lognormal(5.5, 1.3, SHARD), 2),
        "stage": rng.choice(len(STAGES), SHARD, p=STAGE_P),
        "rfm": rng.integers(0, len(RFM), SHARD),
        "tags": [rng.random(SHARD) < p for p in np.linspace(0.01, 0.12, len(TAGS))],
        "tag_conf": [rng.integers(5, 10, SHARD) for _ in TAGS],
        "orders": [rng.random(SHARD) < np.minimum(1.0, 0.004 * activity) for _ in range(DAYS)],
    }


def shard_bitmaps(cols: dict, today: dt.date) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """key suffix -> boolean column, and key suffix -> expire at; the keys BitmapIndex writes."""
    alive = cols["alive"]
    out: dict[str, np.ndarray] = {"alive": alive}
    expiries: dict[str, int] = {}
    gender = "traits.gender"
    out[enc.exists_key(gender)] = alive
    out[enc.value_key(gender, "female")] = alive & cols["female"]
    out[enc.value_key(gender, "male")] = alive & ~cols["female"]
    age = "traits.age"
    out[enc.exists_key(age)] = alive
    for a in range(18, 71):
        out[enc.value_key(age, a)] = alive & (cols["age"] == a)
    for t in range(0, 71, enc.STEP):
        out[enc.step_key(age, t)] = alive & (cols["age"] >= t)
    scaled = cols["age"] * 100
    for b in range(int(scaled.max()).bit_length()):
        out[enc.slice_key(age, b)] = alive & ((scaled >> b) & 1).astype(bool)
    for t in enc.LADDER:
        if t <= scaled.max():
            out[enc.ladder_key(age, t)] = alive & (scaled >= t)
    revenue = "computed.revenue"
    out[enc.exists_key(revenue)] = alive
    cents = np.rint(cols["revenue"] * 100).astype(np.int64)
    for b in range(int(cents.max()).bit_length()):
        out[enc.slice_key(revenue, b)] = alive & ((cents >> b) & 1).astype(bool)
    for t in enc.LADDER:
        if t <= cents.max():
            out[enc.ladder_key(revenue, t)] = alive & (cents >= t)
    for path, values, codes in (
        ("computed.lifecycle_stage", STAGES, cols["stage"]),
        ("computed.rfm_group", RFM, cols["rfm"]),
    ):
        out[enc.exists_key(path)] = alive
        for i, value in enumerate(values):
            out[enc.value_key(path, value)] = alive & (codes == i)
    for tag, has, conf in zip(TAGS, cols["tags"], cols["tag_conf"], strict=True):
        mine = alive & has
        out[enc.exists_key(f"tags.{tag}")] = mine
        out[enc.tag_value_key(tag, "true")] = mine
        for b in range(5, 10):
            out[enc.tag_bucket_key(tag, b)] = mine & (conf == b)
    ekey = enc.event_key(EVENT)
    weeks: dict[dt.date, np.ndarray] = {}
    for back, bought in enumerate(cols["orders"]):
        day = today - dt.timedelta(days=back)
        suffix = f"e:{ekey}:d:{day:%Y%m%d}:1"
        out[suffix] = alive & bought
        expiries[suffix] = enc.expires_at(day)
        week = enc.monday(day)
        weeks[week] = weeks.get(week, 0) + (alive & bought).astype(np.uint8)
    for week, counts in weeks.items():
        for k in range(1, min(7, enc.COUNT_CAP) + 1):
            suffix = f"e:{ekey}:w:{week:%Y%m%d}:{k}"
            out[suffix] = counts >= k
            expiries[suffix] = enc.expires_at(week + dt.timedelta(days=6))
    return out, expiries


def load_redis(
    r: redis.Redis, ws: str, persons: int, seed: int, today: dt.date, keep: set[str], keep_columns: bool
) -> dict:
    """Write every shard's bitmaps (one SET each); returns the columns the in-process engines need."""
    shards = (persons + SHARD) // SHARD
    kept: dict[str, list[np.ndarray]] = {k: [] for k in keep}
    slices: dict[str, int] = {}
    docs_cols = []
    for shard in range(shards):
        cols = people_of_shard(seed, shard, persons)
        bitmaps, expiries = shard_bitmaps(cols, today)
        pipe = r.pipeline(transaction=False)
        registry = []
        for suffix, bits in bitmaps.items():
            key = shard_key(ws, shard, suffix)
            pipe.set(key, np.packbits(bits).tobytes())
            if suffix in expiries:
                pipe.expireat(key, expiries[suffix])
            registry.append(key)
            if suffix.startswith("n:"):
                path, b = suffix[2:].rsplit(":", 1)
                slices[path] = max(slices.get(path, 0), int(b) + 1)
            if len(pipe) >= 64:
                pipe.execute()
        for path in ("traits.gender", "traits.age", "computed.lifecycle_stage", "computed.rfm_group"):
            own = (f"v:{path}:", f"s:{path}:")
            pipe.sadd(shard_key(ws, shard, f"vs:{path}"), *[s for s in bitmaps if s.startswith(own)])
        pipe.sadd(shard_key(ws, shard, "keys"), *registry)
        pipe.set(shard_key(ws, shard, "keys:scanned"), b"1")
        pipe.sadd(shards_key(ws), shard)
        pipe.execute()
        for k in keep:
            kept[k].append(np.packbits(bitmaps.get(k, np.zeros(SHARD, dtype=bool))))
        if keep_columns:
            docs_cols.append(cols)
    slices_key, wide_key, _ = meta_keys(ws)
    r.hset(slices_key, mapping=slices)
    r.sadd(wide_key, "computed.revenue")
    r.sadd(steps_key(ws), "traits.age")
    return {"kept": {k: np.concatenate(v) for k, v in kept.items()}, "cols": docs_cols, "slices": slices}


def program_keys(programs: list[Program]) -> set[str]:
    return {"alive"} | {k for p in programs for k in p.keys}


# -- in-process engines: the same plan ----------------------------------------------
def run_plan(program: Program, get, alive, and_, or_, diff, count):
    return count(plan.interpret(program, get, alive, and_, or_, diff, None))


class NumpyEngine:
    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.words = {k: v.view(np.uint64) for k, v in columns.items()}
        self.zero = np.zeros_like(self.words["alive"])

    def count(self, program: Program) -> int:
        def get(k):
            return self.words.get(k, self.zero)

        def fix(x):
            return self.zero if x is None else x

        return run_plan(
            program,
            get,
            self.words["alive"],
            lambda xs: functools.reduce(np.bitwise_and, map(fix, xs)),
            lambda xs: functools.reduce(np.bitwise_or, map(fix, xs)),
            lambda a, b: np.bitwise_and(fix(a), np.invert(fix(b))),
            lambda x: int(np.bitwise_count(fix(x)).sum()),
        )


class RoaringEngine:
    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.maps = {k: BitMap(np.flatnonzero(np.unpackbits(v)).astype(np.uint32)) for k, v in columns.items()}
        self.empty = BitMap()

    def count(self, program: Program) -> int:
        def fix(x):
            return self.empty if x is None else x

        return run_plan(
            program,
            lambda k: self.maps.get(k, self.empty),
            self.maps["alive"],
            lambda xs: BitMap.intersection(*map(fix, xs)),
            lambda xs: BitMap.union(*map(fix, xs)),
            lambda a, b: fix(a) - fix(b),
            lambda x: len(fix(x)),
        )

    def member(self, program: Program, uid: int) -> bool:
        bits = {k: uid in m for k, m in self.maps.items()}
        from services.segment.plan import run_on_bits

        return run_on_bits(program, bits, bits["alive"])


# -- MongoDB --------------------------------------------------------------------------
def load_mongo(coll, loaded: dict, persons: int) -> float:
    coll.drop()
    started = time.perf_counter()
    uid = 0
    for shard, cols in enumerate(loaded["cols"]):
        last_order = np.full(SHARD, -1)
        for back in range(DAYS - 1, -1, -1):
            last_order[cols["orders"][back]] = back
        batch = []
        for offset in range(SHARD):
            uid = shard * SHARD + offset
            if uid == 0:
                continue
            if uid > persons:
                break
            batch.append(
                {
                    "uid": uid,
                    "gender": "female" if cols["female"][offset] else "male",
                    "age": int(cols["age"][offset]),
                    "revenue": float(cols["revenue"][offset]),
                    "lifecycle": STAGES[cols["stage"][offset]],
                    "rfm": RFM[cols["rfm"][offset]],
                    "tags": [t for t, has in zip(TAGS, cols["tags"], strict=True) if has[offset]],
                    "days_since_order": int(last_order[offset]),
                }
            )
            if len(batch) == 10_000:
                coll.insert_many(batch, ordered=False)
                batch = []
        if batch:
            coll.insert_many(batch, ordered=False)
    return time.perf_counter() - started


MONGO_QUERIES = {
    "4 conditions with a NOT": {
        "gender": "female",
        "age": {"$gte": 25, "$lte": 34},
        "revenue": {"$gte": 1000},
        "lifecycle": {"$ne": "churned"},
    },
    "bought in the last 30 days": {"days_since_order": {"$gte": 0, "$lte": 29}},
    "one RFM group": {"rfm": "important_value"},
    "OR of 20 tags": {"tags": {"$in": TAGS}},
}


def p50(fn, repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def settle(r: redis.Redis, timeout: float = 300.0) -> None:
    """Wait out the AOF rewrite a bulk load sets off: its fork would be timed with the queries."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = r.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        time.sleep(0.5)


def clear(client, ws: str) -> None:
    for key in client.scan_iter(match=f"cdp:{{{ws}:*", count=10_000):
        client.delete(key)
    client.delete(shards_key(ws), steps_key(ws), *meta_keys(ws))


def run(
    stack,
    populations: list[int],
    mongo_persons: int,
    seed: int = 618,
    repeat: int = 30,
    cluster: tuple[str, str] | None = None,
) -> list[str]:
    """cluster: (seed nodes, gRPC target) of a segment replica whose bitmaps live on a Redis Cluster."""
    r = redis.Redis.from_url(stack.redis_url)
    stub = segment_pb2_grpc.SegmentServiceStub(grpc_channel(stack.grpc_target("segment")))
    rc = cluster_stub = None
    if cluster:
        seeds = [ClusterNode(h, int(p)) for h, _, p in (n.rpartition(":") for n in cluster[0].split(","))]
        rc = RedisCluster(startup_nodes=seeds)
        cluster_stub = segment_pb2_grpc.SegmentServiceStub(grpc_channel(cluster[1]))
    db = MongoClient(stack.mongo_url)[stack.mongo_db]
    today = dt.datetime.now(dt.UTC).date()
    lines = []
    for persons in populations:
        ws = f"bench-engines-{persons}"
        clear(r, ws)
        memory_before = r.info("memory")["used_memory"]
        # Which keys the in-process engines need: compile with the metadata the loader will write.
        started = time.perf_counter()
        probe_meta = Meta(
            slices={"traits.age": 13, "computed.revenue": 40}, wide={"computed.revenue"}, steps={"traits.age"}
        )
        keep = program_keys([compile_rule(parse(q), probe_meta, today) for q in QUERIES.values()])
        loaded = load_redis(r, ws, persons, seed, today, keep, persons <= mongo_persons)
        load_s = time.perf_counter() - started
        memory = r.info("memory")["used_memory"] - memory_before
        if rc is not None:
            clear(rc, ws)
            load_redis(rc, ws, persons, seed, today, set(), False)
        settle(r)
        full = ((persons + SHARD) // SHARD) * SHARD  # bitmaps take whole shards
        meta = Meta(slices=loaded["slices"], wide={"computed.revenue"}, steps={"traits.age"})
        programs = {name: compile_rule(parse(q), meta, today) for name, q in QUERIES.items()}
        fields = db["segment_fields"]
        for path in ["traits.gender", "traits.age", *[f"tags.{t}" for t in TAGS]]:
            kind = "tag" if path.startswith("tags.") else ("number" if path == "traits.age" else "text")
            fields.update_one(
                {"_id": f"{ws}:{path}"}, {"$set": {"workspace": ws, "path": path, "kinds": [kind]}}, upsert=True
            )
        numpy_engine = NumpyEngine(loaded["kept"])
        roaring = RoaringEngine(loaded["kept"])
        mongo_counts: dict[str, tuple[float, int]] = {}
        if persons <= mongo_persons:
            coll = db["bench_profiles"]
            mongo_load = load_mongo(coll, loaded, persons)
            lines.append(f"  (MongoDB: {persons:,} profile documents inserted in {mongo_load:.0f} s)")
            for name, query in MONGO_QUERIES.items():
                mongo_counts[name] = p50(lambda q=query, c=coll: c.count_documents(q), 1)
            coll.drop()
        del loaded
        lines.append(
            f"segment engines, {persons:,} people, {(persons + SHARD) // SHARD} shards: bitmaps loaded in "
            f"{load_s:.1f} s, Redis memory {memory / 2**20:,.0f} MiB ({memory / 2**20 * 10_000_000 / full:,.0f} "
            "MiB per 10M people); p50 ms (x = engine time / service time)"
        )
        nodes = f"{len(rc.get_primaries())}-node cluster" if rc is not None else ""
        lines.append(
            f"  {'query':28} {'members':>10} {'service gRPC':>13} {nodes:>17} {'pyroaring':>16} {'numpy':>16} "
            f"{'MongoDB':>18}"
        )
        for name, rule in QUERIES.items():
            segment = stub.CreateSegment(
                segment_pb2.CreateSegmentRequest(workspace_id=ws, name=f"{name} {time.time_ns()}", rule=rule)
            )
            request = segment_pb2.CountRequest(workspace_id=ws, segment_id=segment.id)
            stub.Count(request)
            service_ms, service = p50(lambda req=request: stub.Count(req).count, repeat)
            roaring_ms, roaring_count = p50(lambda p=programs[name], e=roaring: e.count(p), repeat)
            numpy_ms, numpy_count = p50(lambda p=programs[name], e=numpy_engine: e.count(p), repeat)
            counts = {"service": service, "pyroaring": roaring_count, "numpy": numpy_count}
            on_cluster = ""
            if cluster_stub is not None:
                cluster_stub.Count(request)
                cluster_ms, counts["cluster"] = p50(lambda req=request: cluster_stub.Count(req).count, repeat)
                on_cluster = f"{cluster_ms:9.2f} {cluster_ms / service_ms:6.2f}x"
            mongo = "-"
            if name in mongo_counts:
                mongo_ms, mongo_count = mongo_counts[name]
                counts["mongo"] = mongo_count
                mongo = f"{mongo_ms:9.0f} {mongo_ms / service_ms:7.0f}x"
            assert len(set(counts.values())) == 1, (name, counts)
            lines.append(
                f"  {name:28} {service:>10,} {service_ms:10.2f}   {on_cluster:>17} "
                f"{roaring_ms:7.2f} {roaring_ms / service_ms:6.2f}x "
                f"{numpy_ms:7.2f} {numpy_ms / service_ms:6.2f}x {mongo:>18}"
            )
            if name == "4 conditions with a NOT":
                uid = persons // 2
                member_req = segment_pb2.IsMemberRequest(workspace_id=ws, segment_id=segment.id, uid=uid)
                member_ms, member = p50(lambda req=member_req: stub.IsMember(req).member, repeat)
                check = functools.partial(roaring.member, programs[name], uid)
                roaring_member_ms, roaring_member = p50(check, repeat)
                assert member == roaring_member
                on_cluster = ""
                if cluster_stub is not None:
                    cluster_member_ms, cluster_member = p50(
                        lambda req=member_req: cluster_stub.IsMember(req).member, repeat
                    )
                    assert cluster_member == member
                    on_cluster = f"{cluster_member_ms:9.2f} {cluster_member_ms / member_ms:6.2f}x"
                member_line = (
                    f"  {'membership check (IsMember)':28} {str(member):>10} {member_ms:10.2f}   {on_cluster:>17} "
                    f"{roaring_member_ms:7.3f} {roaring_member_ms / member_ms:6.2f}x"
                )
        lines.append(member_line)
        clear(r, ws)
        if rc is not None:
            clear(rc, ws)
    return lines
