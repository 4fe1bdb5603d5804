"""Keeps the embedded SecantusDB reaping transactions that a killed process left open.

mongod aborts a transaction left open past transactionLifetimeLimitSeconds (60 s) from a
background thread. SecantusDB 0.7 has no such thread: it reaps only when the next
transaction statement arrives, and meanwhile a plain write that meets the abandoned
transaction's uncommitted write retries without end, holding its collection's lock. So a
service SIGKILLed inside a transaction could stall a collection for good: after the
journey worker was killed, the restarted scheduler's claim (an updateMany on `runs`)
waited on the dead worker's run, and with every timer behind that claim no transaction
ever came to reap it (CI, 2026-12-04).

This process, started beside the server by tools/stack.py, sends one empty transaction
statement every few seconds, which is what makes SecantusDB reap. It talks the wire
protocol only (SecantusDB is GPL-2.0 and is never imported by our code). Against a real
MongoDB it is not needed and not started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from pymongo import MongoClient
from pymongo.errors import PyMongoError

EVERY_SECONDS = 5.0


def nudge(client: MongoClient) -> None:
    """One transaction statement: SecantusDB prunes expired transactions when resolving it."""
    with client.start_session() as session:
        session.start_transaction()
        try:
            client["cdp_reaper"]["nudge"].find_one({}, session=session)
        finally:
            session.abort_transaction()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with MongoClient(args.url, serverSelectionTimeoutMS=2000) as client:
        while not stop.wait(EVERY_SECONDS):
            try:
                nudge(client)
            except PyMongoError as exc:  # the server restarting or busy: try again next round
                print(f"nudge failed: {exc}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
