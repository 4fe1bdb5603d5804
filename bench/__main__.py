"""`./suite bench`: every benchmark, with ratios against baselines from the same run."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile

from bench import (
    analytics,
    identity_resolve,
    import_shop,
    ingest,
    journey_timers,
    messaging_pipeline,
    profile_apply,
    segment_count,
    segment_engines,
    steady,
)
from tests.helpers import create_workspace
from tools.stack import Stack, free_port


def main() -> None:
    parser = argparse.ArgumentParser(prog="suite bench")
    parser.add_argument("--persons", type=int, default=100_000, help="people for the bitmap-vs-Mongo comparison")
    parser.add_argument("--large", type=int, default=10_000_000, help="people for the bitmap scaling run (0: skip)")
    parser.add_argument("--requests", type=int, default=100, help="collection API requests of 100 events")
    parser.add_argument("--identities", type=int, default=1000, help="persons for the identity resolve benchmark")
    parser.add_argument("--profiles", type=int, default=1000, help="persons for the profile apply benchmark (0: skip)")
    parser.add_argument(
        "--engines",
        default="1000000,10000000",
        help="populations for the segment engine comparison, comma-separated ('' skips it)",
    )
    parser.add_argument(
        "--cluster", type=int, default=2, help="Redis Cluster nodes for a second segment service (0: skip it)"
    )
    parser.add_argument("--mongo-persons", type=int, default=1_000_000, help="largest population also asked of MongoDB")
    parser.add_argument(
        "--only", default="", help="run only benchmarks whose name starts with this (segment, messaging...)"
    )
    parser.add_argument("--messages", type=int, default=20_000, help="messages through the pipeline (0: skip)")
    parser.add_argument("--import-events", type=int, default=100_000, help="events of the import benchmark (0: skip)")
    parser.add_argument("--import-shoppers", type=int, default=25_000, help="new shoppers of the import benchmark")
    parser.add_argument(
        "--import-segment",
        action="store_true",
        help="run the segment service during the import too (its real-time path reads every resolved event)",
    )
    parser.add_argument("--journey-runs", type=int, default=100_000, help="waits due in one minute (0: skip)")
    parser.add_argument(
        "--campaign-members", type=int, default=100_000, help="members of the campaign's segment (0: skip)"
    )
    parser.add_argument(
        "--analytics-events",
        type=int,
        default=1_000_000,
        help="shop events loaded into chDB for the analytics bench (0: skip; CDP_BENCH_ANALYTICS_FULL=1: 10M)",
    )
    parser.add_argument("--analytics-persons", type=int, default=100_000, help="shoppers of the analytics bench")
    parser.add_argument("--limiter-seconds", type=float, default=60.0, help="window of the rate limiter accuracy run")
    args = parser.parse_args()
    if args.analytics_events and "analytics".startswith(args.only):
        # The engine in this process, no stack: run first, so no service's CPU counts in its figures.
        for line in asyncio.run(analytics.run(args.analytics_events, args.analytics_persons)):
            print(line, flush=True)
        if args.only == "analytics":
            return

    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        stack = Stack.with_free_ports(pathlib.Path(tmp), log_level="WARNING")
        try:
            stack.start_infra()
            steady.counts_dir(stack)  # service processes publish their command counts there
            # Every write benchmark measures a store past 20,000 writes (bench/steady.py says why).
            added, seconds = asyncio.run(steady.reach_steady_state(stack))
            print(f"store taken past {steady.STEADY_WRITES:,} writes: {added:,} single writes in {seconds:.1f} s")

            def wanted(name: str) -> bool:
                # A prefix is enough: --only messaging, --only segment (both segment benches).
                return name.startswith(args.only)

            if args.profiles and wanted("profile_apply"):
                # First, and stopped after: the profile worker would otherwise consume the events the
                # later benchmarks resolve, and its CPU would count in their figures.
                stack.start_service("profile")
                for line in asyncio.run(profile_apply.run(stack, "bench-profile", args.profiles)):
                    print(line, flush=True)
                stack.stop_process("profile")
            stack.start_service("identity")
            if args.engines and wanted("segment_engines"):
                stack.start_service("segment")
                cluster = None
                if args.cluster:
                    grpc_port, http_port = free_port(), free_port()
                    seeds = stack.start_redis_cluster(args.cluster)
                    stack.start_service(
                        "segment",
                        name="segment-cluster",
                        CDP_BITMAP_CLUSTER=seeds,
                        CDP_GRPC_PORT=str(grpc_port),
                        CDP_HTTP_PORT=str(http_port),
                    )
                    cluster = (seeds, f"127.0.0.1:{grpc_port}")
                populations = [int(p) for p in args.engines.split(",") if p]
                for line in segment_engines.run(stack, populations, args.mongo_persons, cluster=cluster):
                    print(line, flush=True)
                stack.stop_process("segment")  # its workers would share the cores with what follows
                if args.cluster:
                    stack.stop_process("segment-cluster")
                    for i in range(args.cluster):
                        stack.stop_process(f"redis-cluster-{i}")
            if wanted("segment_count"):
                for line in asyncio.run(segment_count.run(stack, args.persons, args.large)):
                    print(line, flush=True)
            key = create_workspace(stack, "bench")
            # Identity before ingest: the ingest run leaves thousands of events for the
            # identity worker, which would otherwise be counted in the worker's figure.
            if wanted("identity_resolve"):
                for line in asyncio.run(identity_resolve.run(stack, "bench", args.identities)):
                    print(line, flush=True)
            if args.import_events and wanted("import_shop"):
                stack.start_service("profile")
                if args.import_segment:
                    stack.start_service("segment")
                import_key = create_workspace(stack, "bench-import")
                lines = import_shop.run(stack, import_key, "bench-import", args.import_shoppers, args.import_events)
                for line in asyncio.run(lines):
                    print(line, flush=True)
                stack.stop_process("profile")
                if args.import_segment:
                    stack.stop_process("segment")
            if wanted("ingest"):
                for line in asyncio.run(ingest.run(stack, key, "bench", args.requests)):
                    print(line, flush=True)
            if (args.journey_runs or args.campaign_members) and wanted("journey"):
                for name in ("profile", "segment", "messaging", "journey"):
                    # The sink listens on loopback, which messaging's outbound guard refuses by default.
                    stack.start_service(name, **({"CDP_OUTBOUND_ALLOW": "127.0.0.0/8"} if name == "messaging" else {}))
                sink, sink_url = messaging_pipeline.start_sink()
                try:
                    lines = journey_timers.run(stack, args.journey_runs, args.campaign_members, sink_url + "/journey")
                    for line in asyncio.run(lines):
                        print(line, flush=True)
                finally:
                    sink.terminate()
                    for name in ("journey", "messaging", "segment", "profile"):
                        stack.stop_process(name)
            if args.messages and wanted("messaging_pipeline"):
                for line in asyncio.run(messaging_pipeline.run(stack, args.messages, args.limiter_seconds)):
                    print(line, flush=True)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
