"""`./suite bench`: every benchmark, with ratios against baselines from the same run."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile

from bench import identity_resolve, ingest, profile_apply, segment_count
from tests.helpers import create_workspace
from tools.stack import Stack


def main() -> None:
    parser = argparse.ArgumentParser(prog="suite bench")
    parser.add_argument("--persons", type=int, default=100_000, help="people for the bitmap-vs-Mongo comparison")
    parser.add_argument("--large", type=int, default=10_000_000, help="people for the bitmap scaling run (0: skip)")
    parser.add_argument("--requests", type=int, default=100, help="collection API requests of 100 events")
    parser.add_argument("--identities", type=int, default=1000, help="persons for the identity resolve benchmark")
    parser.add_argument("--profiles", type=int, default=1000, help="persons for the profile apply benchmark (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        stack = Stack.with_free_ports(pathlib.Path(tmp), log_level="WARNING")
        try:
            stack.start_infra()
            if args.profiles:
                # First, and stopped after: the profile worker would otherwise consume the events the
                # later benchmarks resolve, and its CPU would count in their figures.
                stack.start_service("profile")
                for line in asyncio.run(profile_apply.run(stack, "bench-profile", args.profiles)):
                    print(line, flush=True)
                stack.stop_process("profile")
            stack.start_service("identity")
            for line in asyncio.run(segment_count.run(stack, args.persons, args.large)):
                print(line, flush=True)
            key = create_workspace(stack, "bench")
            # Identity before ingest: the ingest run leaves thousands of events for the
            # identity worker, which would otherwise be counted in the worker's figure.
            for line in asyncio.run(identity_resolve.run(stack, "bench", args.identities)):
                print(line, flush=True)
            for line in asyncio.run(ingest.run(stack, key, "bench", args.requests)):
                print(line, flush=True)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
