"""Write each subgraph's SDL to gateway/subgraphs/, then compose the supergraph.

`python -m tools.export_sdl` regenerates gateway/subgraphs/*.graphql and
urls.json from the strawberry schemas and runs `node compose.mjs`, which
writes the committed gateway/supergraph.graphql. tests/test_contracts.py
fails when either is stale.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import subprocess
import sys

from tools.stack import COMPOSE_URLS, ROOT, SERVICES

SUBGRAPHS = ROOT / "gateway" / "subgraphs"


def sdl(service: str) -> str:
    module = importlib.import_module(f"services.{service}.graphql_api")
    return module.build_schema().as_str().rstrip() + "\n"


def write_subgraphs(out: pathlib.Path = SUBGRAPHS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (out / f"{service}.graphql").write_text(sdl(service))
    (out / "urls.json").write_text(json.dumps(COMPOSE_URLS, indent=2, sort_keys=True) + "\n")


def compose(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["node", "compose.mjs", *args], cwd=ROOT / "gateway", capture_output=True, text=True)


if __name__ == "__main__":
    write_subgraphs()
    result = compose()
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    sys.exit(result.returncode)
