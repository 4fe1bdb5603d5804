"""Turn the computed-trait catalog (proto/cdp/profile/v1/computed_traits.yaml) into Python.

The YAML is the one declaration. Two things are generated from it: the
protobuf message cdp.profile.v1.Computed (proto/cdp/profile/v1/computed.proto,
which protoc then compiles with the other contracts) and a Python module of
plain data that services read without a YAML parser at run time. `gen_protos.generate` calls
this, so `./suite generate` refreshes it and tests/test_contracts.py fails
when the committed module is stale. The checks here are the catalog's own
rules: a mistake in the YAML stops generation with the entry named.
"""

from __future__ import annotations

import pathlib
import pprint
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "proto" / "cdp" / "profile" / "v1" / "computed_traits.yaml"
TARGET = pathlib.Path("cdp") / "profile" / "v1" / "computed_traits.py"
PROTO_TARGET = SOURCE.with_name("computed.proto")

TYPES = ("int", "float", "time", "text", "list", "enum")
UPDATES = ("event", "derived", "standing")
MERGES = ("sum", "sum_money", "min", "max", "union", "derived", "standing")
KEYS = {"name", "field", "type", "default", "range", "values", "label", "description", "update", "merge"}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class CatalogError(ValueError):
    pass


def _check(entry: dict, index: int, names: set[str]) -> dict:
    where = f"traits[{index}]" + (f" ({entry.get('name')})" if isinstance(entry, dict) else "")
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping")
    unknown = set(entry) - KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise CatalogError(f"{where}.name: snake_case, 1-64 characters")
    if name in names:
        raise CatalogError(f"{where}.name: {name!r} is declared twice")
    number = entry.get("field")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number < 19000:
        raise CatalogError(f"{where}.field: the protobuf field number, 1-18999")
    if entry.get("type") not in TYPES:
        raise CatalogError(f"{where}.type: one of {', '.join(TYPES)}")
    if entry.get("update") not in UPDATES:
        raise CatalogError(f"{where}.update: one of {', '.join(UPDATES)}")
    merge = entry.get("merge")
    if not (merge in MERGES or (isinstance(merge, str) and merge.startswith("with:"))):
        raise CatalogError(f"{where}.merge: one of {', '.join(MERGES)} or with:<trait>")
    if (merge in ("derived", "standing")) != (entry["update"] in ("derived", "standing")):
        raise CatalogError(f"{where}.merge: derived and standing traits are recomputed, not combined")
    label = entry.get("label")
    if not isinstance(label, dict) or set(label) != {"zh", "en"} or not all(label.values()):
        raise CatalogError(f"{where}.label: {{zh: ..., en: ...}}")
    if not isinstance(entry.get("description"), str) or not entry["description"].strip():
        raise CatalogError(f"{where}.description: required")
    values = entry.get("values")
    if (entry["type"] == "enum") != (values is not None):
        raise CatalogError(f"{where}.values: required for enum, and only for enum")
    if values is not None:
        codes = [v.get("code") for v in values if isinstance(v, dict)]
        if len(codes) != len(values) or len(set(codes)) != len(codes):
            raise CatalogError(f"{where}.values: each needs a distinct code")
        for v in values:
            if set(v) != {"code", "zh", "en"} or not all(isinstance(x, str) and x for x in v.values()):
                raise CatalogError(f"{where}.values: each is {{code, zh, en}}")
    if "range" in entry:
        low_high = entry["range"]
        if entry["type"] != "int" or not (
            isinstance(low_high, list) and len(low_high) == 2 and all(isinstance(x, int) for x in low_high)
        ):
            raise CatalogError(f"{where}.range: [low, high] whole numbers, int traits only")
    return {
        "name": name,
        "field": number,
        "type": entry["type"],
        "default": entry.get("default"),
        "range": tuple(entry["range"]) if "range" in entry else None,
        "values": tuple((v["code"], v["zh"], v["en"]) for v in values or ()),
        "label": (label["zh"], label["en"]),
        "description": " ".join(entry["description"].split()),
        "update": entry["update"],
        "merge": merge,
    }


def load(source: pathlib.Path = SOURCE) -> list[dict]:
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("traits"), list):
        raise CatalogError(f"{source}: expected a top-level 'traits' list")
    names: set[str] = set()
    out = []
    for i, entry in enumerate(doc["traits"]):
        out.append(_check(entry, i, names))
        names.add(out[-1]["name"])
    numbers = [t["field"] for t in out]
    if len(set(numbers)) != len(numbers):
        raise CatalogError("two traits share a protobuf field number")
    for t in out:
        if t["merge"].startswith("with:") and t["merge"][5:] not in names:
            raise CatalogError(f"{t['name']}.merge: {t['merge'][5:]!r} is not a computed trait")
    return out


def render(traits: list[dict]) -> str:
    body = pprint.pformat(tuple(traits), width=110, sort_dicts=False)
    return (
        '"""The computed-trait catalog as data. Generated from proto/cdp/profile/v1/computed_traits.yaml'
        ' by tools/gen_catalog.py: do not edit."""\n\n'
        f"TRAITS = {body}\n"
    )


_PROTO_TYPES = {
    "int": "int64",
    "float": "double",
    "time": "google.protobuf.Timestamp",
    "text": "string",
    "enum": "string",
    "list": "repeated string",
}


def render_proto(traits: list[dict]) -> str:
    """The message cdp.profile.v1.Computed, one field per trait (scores with a range are int32)."""
    lines = [
        'syntax = "proto3";',
        "",
        "// Generated from computed_traits.yaml by tools/gen_catalog.py (./suite generate): do not edit.",
        "package cdp.profile.v1;",
        "",
        'import "google/protobuf/timestamp.proto";',
        "",
        "// The person's computed traits; an absent one has its type's zero value.",
        "message Computed {",
    ]
    for t in traits:
        kind = "int32" if t["type"] == "int" and t["range"] else _PROTO_TYPES[t["type"]]
        values = f" One of: {', '.join(v[0] for v in t['values'])}." if t["values"] else ""
        lines.append(f"  // {t['description']}{values}")
        lines.append(f"  {kind} {t['name']} = {t['field']};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_proto() -> pathlib.Path:
    """Write the generated message beside the catalog (protoc reads it from there)."""
    PROTO_TARGET.write_text(render_proto(load()), encoding="utf-8")
    return PROTO_TARGET


def generate(out_dir: pathlib.Path = ROOT) -> pathlib.Path:
    target = out_dir / TARGET
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(load()), encoding="utf-8")
    return target


if __name__ == "__main__":
    print(write_proto().relative_to(ROOT))
    print(generate().relative_to(ROOT))
