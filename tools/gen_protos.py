"""Regenerate the Python stubs under cdp/ from proto/.

One command (`./suite generate`, or `python -m tools.gen_protos`) so that every service imports the
same generated code; tests/test_contracts.py fails when the committed stubs
differ from a fresh generation.
"""

from __future__ import annotations

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

from tools import gen_catalog

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    files = sorted(PROTO.rglob("*.proto"))
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(f.relative_to(PROTO)) for f in files],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Packages need __init__.py so that `import cdp.identity.v1` works everywhere.
    for d in [out_dir / "cdp", *(p for p in (out_dir / "cdp").rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    # The computed-trait catalog is declared beside the protos and generated with them.
    gen_catalog.generate(out_dir)
    return sorted(p for p in (out_dir / "cdp").rglob("*") if p.is_file())


if __name__ == "__main__":
    gen_catalog.write_proto()  # the Computed message comes from the catalog; protoc reads it next
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for path in generate(out):
        print(path.relative_to(out))
