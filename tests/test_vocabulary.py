"""The vocabulary is declared once: every computed trait of the catalog reaches every layer.

A trait added to proto/cdp/profile/v1/computed_traits.yaml without its update
function, its proto field, or a way to name it in a rule fails here, and so
does a rule language that lets a segment and a tag rule disagree on a person.
"""

from __future__ import annotations

import datetime as dt
import re

import grpc
import pytest
from pymongo import AsyncMongoClient

from cdp.profile.v1 import computed_pb2
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit import rules
from services.kit.catalog import COMPUTED, LIST, NUMBER, TEXT, TIME
from services.kit.errors import InvalidInput
from services.profile import folds
from services.profile.changes import recompute
from services.profile.derived import Rules, settle
from services.profile.rulebook import Rulebook
from services.profile.standing import Thresholds
from services.profile.tags import canonical_rule, parse_rule, rule_value
from tests.conftest import eventually
from tests.helpers import collect, create_workspace, graphql, grpc_channel, new_id
from tools import gen_catalog
from tools.stack import ROOT

_PROTO_TYPES = {
    "int": {"int64", "int32"},
    "float": {"double"},
    "time": {"google.protobuf.Timestamp"},
    "text": {"string"},
    "enum": {"string"},
    "list": {"repeated string"},
}


def _proto_type(field) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    name = {field.TYPE_INT64: "int64", field.TYPE_INT32: "int32", field.TYPE_DOUBLE: "double"}.get(
        field.type, "string" if field.type == field.TYPE_STRING else str(field.type)
    )
    return f"repeated {name}" if field.is_repeated else name


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.mark.parametrize("name", list(COMPUTED))
def test_every_computed_trait_has_a_proto_field_of_its_type(name):
    field = computed_pb2.Computed.DESCRIPTOR.fields_by_name.get(name)
    assert field is not None, f"cdp.profile.v1.Computed has no field {name}"
    assert _proto_type(field) in _PROTO_TYPES[COMPUTED[name].type]


def test_every_computed_trait_has_a_graphql_field_in_the_subgraph_and_the_supergraph():
    for sdl in (ROOT / "gateway" / "subgraphs" / "profile.graphql", ROOT / "gateway" / "supergraph.graphql"):
        body = re.search(r"type Computed\b[^{]*\{(.*?)\n\}", sdl.read_text(), re.S).group(1)
        fields = set(re.findall(r"^\s+(\w+):", body, re.M))
        assert fields == {_camel(n) for n in COMPUTED}, sdl.name


def test_every_trait_has_its_update_function_and_every_function_its_trait():
    by_update = {kind: {t.name for t in COMPUTED.values() if t.update == kind} for kind in ("event", "derived")}
    assert set(folds.EVENT_FOLDS) == by_update["event"]
    assert set(folds.DERIVED) == by_update["derived"]


def test_enum_traits_carry_chinese_and_english_labels_that_rules_accept():
    for trait in COMPUTED.values():
        for choice in trait.values:
            for given in (choice.code, choice.zh, choice.en):
                node = rules.parse(f'computed.{trait.name} = "{given}"')
                assert node == rules.Compare(f"computed.{trait.name}", "=", choice.code)


@pytest.mark.parametrize("name", list(COMPUTED))
def test_every_trait_can_be_named_in_a_segment_rule_and_a_tag_rule(name):
    trait = COMPUTED[name]
    assert rules.parse(f"computed.{name} EXISTS") == rules.Exists(f"computed.{name}")
    assert canonical_rule(f"computed.{name} EXISTS") == f"computed.{name} EXISTS"
    sample = {
        "int": 3,
        "float": 12.5,
        "time": "2026-06-18T00:00:00Z",
        "text": "direct",
        "list": "fruit",
        "enum": trait.codes[0] if trait.codes else "",
    }[trait.type]
    op = "CONTAINS" if trait.kind == LIST else "="
    literal = f'"{sample}"' if isinstance(sample, str) else str(sample)
    node = rules.parse(f"computed.{name} {op} {literal}", rules.PROFILE_ONLY)
    assert rules.parse(rules.to_text(node)) == node  # the canonical text reads back as the same tree
    if trait.kind in (NUMBER, TIME):
        rules.parse(f"computed.{name} >= {literal}")
    else:
        with pytest.raises(InvalidInput, match="cannot compare"):
            rules.parse(f"computed.{name} >= 1")
    assert trait.kind in (NUMBER, TIME, TEXT, LIST)


def test_unknown_names_and_deep_nesting_are_clear_errors():
    with pytest.raises(InvalidInput, match="unknown computed trait 'revenu'"):
        rules.parse("computed.revenu > 3")
    for deep in ("NOT " * 1500 + "traits.a = 1", "(" * 40 + "traits.a = 1" + ")" * 40):
        with pytest.raises(InvalidInput, match=f"nested more than {rules.MAX_DEPTH} levels"):
            rules.parse(deep)
    nested: dict = {"trait": "a", "op": "exists"}
    for _ in range(40):
        nested = {"not": nested}
    with pytest.raises(InvalidInput, match=r"nested more than 32 levels deep at \$(\.not){32}"):
        rules.parse(nested)
    rules.parse("NOT " * rules.MAX_DEPTH + "traits.a = 1")  # at the limit it parses


def test_tag_rules_read_only_what_one_profile_holds():
    for rule, what in (
        ('DID "Order Completed" IN LAST 7 DAYS', "DID"),
        ('IN SEGMENT "vip"', "IN SEGMENT"),
        ('tags.vip = "gold"', "tags"),
        ('{"did": "App Opened", "days": 3}', "did"),
    ):
        with pytest.raises(InvalidInput, match="cannot be used in a tag rule") as err:
            parse_rule(rule)
        assert what in err.value.message and err.value.field == "rule"


def test_old_tag_rule_forms_become_canonical_text_with_the_same_meaning():
    profile = {"computed": {"categories": ["fitness"], "ltv": 1500.0}, "traits": {"city": "杭州"}}
    for old, new in (
        ('computed.categories contains "fitness"', 'computed.categories = "fitness"'),
        ('computed.ltv>=1000  and traits.city != "上海"', 'computed.ltv >= 1000 AND NOT traits.city = "上海"'),
        ("computed.ltv >= 1000.0 or computed.order_count >= 2", "computed.ltv >= 1000.0 OR computed.order_count >= 2"),
    ):
        assert canonical_rule(old) == new
        assert rule_value(parse_rule(old), "flag", profile) == rule_value(parse_rule(new), "flag", profile) == "true"
    assert canonical_rule(" computed.rfm_group ", "enumerated") == "computed.rfm_group"


T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _history() -> list[dict]:
    order = {
        "type": "track",
        "event": "Order Completed",
        "context": {"campaign": {"source": "wechat"}},
        "properties": {"revenue": 300, "coupon": "NEW10", "products": [{"category": "fruit"}]},
    }
    return [
        {"type": "identify", "timestamp": T0, "traits": {"city": "杭州"}, "message_id": "a"},
        {**order, "timestamp": T0 + dt.timedelta(days=1), "message_id": "b"},
        {**order, "timestamp": T0 + dt.timedelta(days=5), "message_id": "c"},
        {"type": "track", "event": "Order Refunded", "timestamp": T0 + dt.timedelta(days=6), "message_id": "d",
         "properties": {"revenue": 50}},
    ]  # fmt: skip


def test_a_profile_evaluator_and_the_catalog_fold_agree_on_every_trait():
    profile = recompute(_history())
    update = settle(profile, T0 + dt.timedelta(days=10), Rules(Thresholds()))
    computed = {**profile["computed"], **{k[9:]: v for k, v in update.set.items() if k.startswith("computed.")}}
    assert set(computed) == set(COMPUTED), "a history with orders, a coupon and a refund sets every trait"
    person = rules.Person({"computed": computed})
    for name in COMPUTED:
        assert rules.holds(rules.parse(f"computed.{name} EXISTS"), person)
    assert computed["coupon_order_count"] == 2 and computed["ltv"] == 550.0
    assert rules.holds(rules.parse('computed.acquisition_channel = "direct" AND computed.categories = "fruit"'), person)
    assert rules.holds(rules.parse('computed.first_order_at BETWEEN "2026-05-02T00:00:00Z" AND "2026-05-02"'), person)
    assert not rules.holds(rules.parse("computed.revenue > 600"), person)


def test_the_committed_computed_message_is_the_catalog_rendered():
    assert gen_catalog.PROTO_TARGET.read_text() == gen_catalog.render_proto(gen_catalog.load()), (
        "proto/cdp/profile/v1/computed.proto is stale; run: ./suite generate"
    )


def test_generation_refuses_a_catalog_entry_that_breaks_its_rules(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "traits:\n  - {name: x, field: 1, type: enum, label: {zh: 甲, en: X},\n"
        "     description: d, update: event, merge: sum}\n"
    )
    with pytest.raises(gen_catalog.CatalogError, match=r"traits\[0\] \(x\)\.values"):
        gen_catalog.load(bad)


# -- through the running suite ------------------------------------------------------------
def _days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()


def test_every_computed_field_counts_through_the_gateway_and_deep_rules_are_bad_input(suite, workspace_id):
    key = create_workspace(suite, workspace_id)
    order = {
        "type": "track",
        "userId": "u-voc",
        "event": "Order Completed",
        "context": {"campaign": {"source": "wechat"}},
        "properties": {"revenue": 300, "coupon": "NEW10", "products": [{"category": "fruit"}]},
    }
    events = [
        {"type": "identify", "userId": "u-voc", "traits": {"city": "杭州"}, "messageId": new_id()},
        # Two orders of one category days apart: the reorder forecast (next_order_at...) needs both.
        *({**order, "messageId": new_id(), "timestamp": _days_ago(days)} for days in (20, 10)),
        {"type": "track", "userId": "u-voc", "event": "Order Refunded", "messageId": new_id(),
         "properties": {"revenue": 50}},
    ]  # fmt: skip
    assert collect(suite, key, events).status_code == 200

    preview = "query($r: String!) { previewSegment(rule: $r) { count } }"

    def counted(name: str) -> bool:
        data = graphql(suite.gateway_url, workspace_id, preview, {"r": f"computed.{name} EXISTS"})
        assert "errors" not in data, data
        return data["data"]["previewSegment"]["count"] == 1

    for name in COMPUTED:
        eventually(lambda n=name: counted(n), timeout=60)

    deep = "NOT " * 1500 + "computed.order_count >= 1"
    answer = graphql(suite.gateway_url, workspace_id, preview, {"r": deep})
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nested more than 32 levels" in answer["errors"][0]["message"]
    with grpc_channel(suite.grpc_target("segment")) as channel, pytest.raises(grpc.RpcError) as err:
        segment_pb2_grpc.SegmentServiceStub(channel).Preview(
            segment_pb2.PreviewRequest(workspace_id=workspace_id, rule=deep)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_start_up_migration_rewrites_stored_tag_rules_of_the_old_language(stack, workspace_id):
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    try:
        db = client[stack.mongo_db]
        old = {
            "sunscreen_fan": ('computed.categories contains "sunscreen"', "flag"),
            "big_and_local": ('computed.ltv>=1000 and traits.city != "上海"', "flag"),
            "tier": ("computed.rfm_group", "enumerated"),
            "broken": ('computed.acquisition_channel contains "wx"', "flag"),  # substring: no longer a rule
        }
        await db.tag_definitions.insert_many(
            [
                {
                    "_id": f"{workspace_id}:{name}",
                    "workspace": workspace_id,
                    "name": name,
                    "rule": rule,
                    "value_kind": kind,
                    "category": "custom",
                    "source": "own",
                }
                for name, (rule, kind) in old.items()
            ]  # fmt: skip
        )
        rulebook = Rulebook(db)
        assert await rulebook.migrate_rules() >= 2
        stored = {d["name"]: d["rule"] async for d in db.tag_definitions.find({"workspace": workspace_id})}
        assert stored["sunscreen_fan"] == 'computed.categories = "sunscreen"'
        assert stored["big_and_local"] == 'computed.ltv >= 1000 AND NOT traits.city = "上海"'
        assert stored["tier"] == "computed.rfm_group"
        assert stored["broken"] == old["broken"][0]  # left as it was, and skipped when settling
        assert await rulebook.migrate_rules() == 0  # a second start changes nothing

        found = await rulebook.of(workspace_id)
        assert "broken" not in found.rules.computed_tags
        profile = {"computed": {"categories": ["sunscreen"], "ltv": 1200.0}, "traits": {"city": "杭州"}}
        definition, compiled = found.rules.computed_tags["big_and_local"]
        assert rule_value(compiled, definition.value_kind, profile) == "true"
    finally:
        await client.close()
