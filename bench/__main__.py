"""`./suite bench`: every benchmark, with ratios against baselines from the same run."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile

from bench import identity_resolve, ingest, messaging_pipeline, segment_count
from tests.helpers import create_workspace
from tools.stack import Stack


def main() -> None:
    parser = argparse.ArgumentParser(prog="suite bench")
    parser.add_argument("--persons", type=int, default=100_000, help="people for the bitmap-vs-Mongo comparison")
    parser.add_argument("--large", type=int, default=10_000_000, help="people for the bitmap scaling run (0: skip)")
    parser.add_argument("--requests", type=int, default=100, help="collection API requests of 100 events")
    parser.add_argument("--identities", type=int, default=1000, help="persons for the identity resolve benchmark")
    parser.add_argument("--messages", type=int, default=5000, help="messages through the messaging pipeline (0: skip)")
    parser.add_argument("--limiter-seconds", type=float, default=60.0, help="window of the rate limiter accuracy run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        stack = Stack.with_free_ports(pathlib.Path(tmp), log_level="WARNING")
        try:
            stack.start_infra()
            stack.start_service("identity")
            for line in asyncio.run(segment_count.run(stack, args.persons, args.large)):
                print(line, flush=True)
            key = create_workspace(stack, "bench")
            # Identity before ingest: the ingest run leaves thousands of events for the
            # identity worker, which would otherwise be counted in the worker's figure.
            for line in asyncio.run(identity_resolve.run(stack, key, "bench", args.identities)):
                print(line, flush=True)
            for line in asyncio.run(ingest.run(stack, key, "bench", args.requests)):
                print(line, flush=True)
            if args.messages:
                for line in asyncio.run(messaging_pipeline.run(stack, args.messages, args.limiter_seconds)):
                    print(line, flush=True)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
