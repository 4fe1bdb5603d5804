"""What the console's end-to-end tests share: the built console on the suite's stack, a shop
workspace of its own (tools/shop.py, 60 shoppers), operators, and npm/GraphQL helpers.

Each area of the console has its own e2e test module and playwright script under console/e2e/;
they all use the one session-wide `shop_workspace` fixture (tests/conftest.py), so the console is
built and the shop loaded once per test run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid

import pytest
from pymongo import MongoClient

from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.conftest import eventually
from tests.helpers import collect, create_workspace, graphql
from tools import shop
from tools.credentials import grpc_channel
from tools.stack import ROOT

CONSOLE = ROOT / "console"
SHOPPERS = 60
PERSON = 'query($v: String!) { person(identity: {type: "user_id", value: $v}) { id } }'

needs_browser = pytest.mark.skipif(
    shutil.which("npm") is None or not os.path.exists("/usr/bin/chromium"),
    reason="needs node/npm and Debian's chromium (./suite installs it)",
)


def npm(*args: str, cwd=CONSOLE, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["npx", *args] if args[0] != "ci" else ["npm", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def add_operator(stack, workspace: str, role: str) -> tuple[str, str]:
    # Each e2e module signs in operators of its own in the one shared workspace: an email used
    # twice would be refused as a member already.
    email, password = f"{role}-{secrets.token_hex(4)}-{workspace}@console.test", secrets.token_urlsafe(16)
    with grpc_channel(stack.grpc_target("identity")) as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).AddOperator(
            identity_pb2.AddOperatorRequest(workspace_id=workspace, email=email, password=password, role=role)
        )
    return email, password


def open_shop(suite, tmp_path_factory):
    """Build the console, serve it from the stack and load a shop workspace; yields (stack, workspace)."""
    if not (CONSOLE / "node_modules" / ".bin" / "vite").exists():
        done = npm("ci", "--no-audit", "--no-fund", "--loglevel=error")
        assert done.returncode == 0, done.stderr
    dist = tmp_path_factory.mktemp("console") / "dist"
    built = npm("vite", "build", "--outDir", str(dist), "--emptyOutDir", "--logLevel=error")
    assert built.returncode == 0, built.stderr
    suite.start_console(dist)

    workspace = f"ws_{uuid.uuid4().hex[:12]}"
    write_key = create_workspace(suite, workspace)
    batch = shop.events(SHOPPERS, SHOPPERS * 4, seed=618, prefix=workspace)
    for start in range(0, len(batch), 200):
        assert collect(suite, write_key, batch[start : start + 200]).status_code == 200
    with MongoClient(suite.mongo_url) as client:
        stored = client[suite.mongo_db]["events"]
        eventually(lambda: stored.count_documents({"workspace": workspace}) >= len(batch), timeout=60, interval=0.5)
    yield suite, workspace
    suite.stop_process("console")


def gql(stack, workspace: str, query: str, variables: dict | None = None) -> dict:
    body = graphql(stack.gateway_url, workspace, query, variables)
    assert "errors" not in body, body
    return body["data"]


def known_user_ids(stack, workspace: str, count: int) -> list[str]:
    """User ids of the shop that identify a person (not every shopper signed up)."""
    found = []
    for n in range(SHOPPERS):
        if gql(stack, workspace, PERSON, {"v": f"u{n:05d}"})["person"]:
            found.append(f"u{n:05d}")
            if len(found) == count:
                return found
    raise AssertionError(f"fewer than {count} signed-up shoppers among {SHOPPERS}")


def settled_count(stack, workspace: str, rule: str) -> int:
    """The rule's count once the segment service has seen its traits and the count stopped moving."""
    last = None

    def settled():
        nonlocal last
        body = graphql(
            stack.gateway_url, workspace, "query($r: String!) { previewSegment(rule: $r) { count } }", {"r": rule}
        )
        count = None if body.get("errors") else body["data"]["previewSegment"]["count"]
        done = count is not None and count > 0 and count == last
        last = count
        time.sleep(0.5)
        return done

    eventually(settled, timeout=30)
    return last
