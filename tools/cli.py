"""`./suite start` and `./suite stop`: the whole suite on the embedded infrastructure."""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys
import time

from tools import demo
from tools.stack import ROOT, SERVICES, Stack, stop_recorded

DATA_DIR = pathlib.Path(os.environ.get("CDP_DATA_DIR", ROOT / ".cdp-data"))

EXAMPLE = (
    r"""curl -s {gateway} -H 'content-type: application/json' -H "authorization: Bearer {api_key}" -d '{{"query": """
    r""""{{ person(identity: {{type: \"user_id\", value: \"u00001\"}}) {{ id uid identities {{ type value }} """
    r"""traits computed {{ orderCount revenue }} segments {{ name }} messages {{ status }} }} }}"}}'"""
)


def start(args: argparse.Namespace) -> int:
    # A local try-out: GraphiQL, introspection and field suggestions on (gateway and subgraphs inherit it).
    os.environ.setdefault("CDP_DEV_MODE", "1")
    stack = Stack.with_default_ports(DATA_DIR, supervised=True)
    stopping = False

    def on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Starting Redis, SecantusDB (MongoDB wire) and Tansu (Kafka wire) under {DATA_DIR} ...", flush=True)
        stack.start_infra()
        print(f"Starting {', '.join(SERVICES)}, Hive Gateway and the console ...", flush=True)
        stack.start_services()
        stack.start_gateway()
        stack.start_console()
        if not args.no_demo:
            print(
                f"Loading the demo shop ({args.shoppers:,} shoppers, 90 days, "
                f"{args.shoppers * args.events_per_shopper:,} events) through the collection API ...",
                flush=True,
            )
            loaded = demo.load(stack, args.shoppers, args.events_per_shopper)
            print(
                f"  {loaded['events']:,} events sent in {loaded['sent_s']:.1f} s, on every profile after "
                f"{loaded['settled_s']:.1f} s; segment {loaded['segment']['name']!r} has "
                f"{loaded['segment']['size']} members"
                + ("" if loaded["segment"]["settled"] else " so far (the segment service is still catching up)"),
                flush=True,
            )
            found = loaded["credentials"]
            print(
                f"\nDemo credentials (also in {DATA_DIR / demo.CREDENTIALS_FILE}, mode 0600):\n"
                f"  secret API key (read, write, admin): {found['api_key']}\n"
                f"  operator: {found['operator_email']} / {found['operator_password']}"
                "  (GraphQL login(email, password))",
                flush=True,
            )
        example = EXAMPLE.format(
            gateway=stack.gateway_url, api_key=loaded["credentials"]["api_key"] if not args.no_demo else "<API key>"
        )
        print(
            f"\nGraphQL (federated): {stack.gateway_url}\n"
            f"Console:             {stack.console_url}  (sign in as the demo operator above)\n"
            f"Collection API:      {stack.http_url('identity')}/v1/batch"
            f"  (write key {demo.WRITE_KEY!r} as basic-auth user)\n"
            f"gRPC:                {', '.join(f'{s} {stack.grpc_target(s)}' for s in SERVICES)}\n"
            f"Logs:                {DATA_DIR / 'logs'}\n\nTry:\n{example}\n\n"
            "Ctrl-C (or ./suite stop) stops everything.",
            flush=True,
        )
        while not stopping:
            for name, proc in list(stack.procs.items()):
                if proc.poll() is not None:
                    print(
                        f"{name} exited with {proc.returncode}; see {DATA_DIR / 'logs' / (name + '.log')}", flush=True
                    )
                    stopping = True
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"suite: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Stopping ...", flush=True)
        stack.stop()


def stop(_: argparse.Namespace) -> int:
    stopped = stop_recorded(DATA_DIR)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="suite")
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start everything with demo data")
    p_start.add_argument("--no-demo", action="store_true", help="do not load the demo workspace")
    # The whole demo shop: 20,000 events, which settle in under a minute on the 2-core machine the
    # bench ran on (bench/README.md: 426-437 events/s end to end there).
    p_start.add_argument("--shoppers", type=int, default=5000, help="shoppers of the demo shop")
    p_start.add_argument("--events-per-shopper", type=int, default=4, help="events per shopper, on average")
    p_start.set_defaults(run=start)
    sub.add_parser("stop", help="stop what ./suite start started").set_defaults(run=stop)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
