"""Every registered channel type, enumerated: its settings, its address trait, its template fields, its provider.

A type added to services/messaging/channel_types/ is picked up here without
editing this file, so it cannot skip these checks.
"""

from __future__ import annotations

import inspect
import pkgutil

import pytest

from services.kit.errors import InvalidInput
from services.kit.netguard import OutboundGuard
from services.messaging import channel_settings, channel_types
from services.messaging.channel_types import TYPES, ProviderDeps
from services.messaging.channels import ADDRESS_TRAIT, validate_channel
from services.messaging.messages import Content
from services.messaging.templates import FIELDS, context_of, render, validate_template

GUARD = OutboundGuard()
SETTINGS = [(name, key) for name, kind in TYPES.items() for key in (*kind.settings, *channel_settings.COMMON)]
TEMPLATE_FIELDS = [(name, f) for name, kind in TYPES.items() for f in kind.template_fields]


def test_every_module_of_the_package_is_a_registered_type():
    modules = {m.name for m in pkgutil.iter_modules(channel_types.__path__)}
    assert len(TYPES) == len(modules)
    assert {"webhook", "email", "sms", "push", "wechat", "inapp"} <= set(TYPES)
    for name, kind in TYPES.items():
        assert kind.name == name
        # A type's own settings never shadow the common ones (their check would run twice).
        assert not set(kind.settings) & set(channel_settings.COMMON), name
        assert set(kind.template_fields) <= set(FIELDS), name


def test_the_address_traits_sends_read_come_from_the_types():
    assert {n: k.address_trait for n, k in TYPES.items() if k.address_trait} == ADDRESS_TRAIT
    assert ADDRESS_TRAIT["email"] == "email" and ADDRESS_TRAIT["sms"] == "phone"
    assert "webhook" not in ADDRESS_TRAIT and "inapp" not in ADDRESS_TRAIT


@pytest.mark.parametrize("name", list(TYPES))
def test_good_settings_validate_and_store_only_known_keys(name):
    kind = TYPES[name]

    stored_name, stored_type, config = validate_channel(" c1 ", name.upper(), dict(kind.example), GUARD)

    assert (stored_name, stored_type) == ("c1", name)
    assert set(config) <= set(kind.settings) | set(channel_settings.COMMON)
    # What was stored validates again to itself: an upsert of a read channel changes nothing.
    assert validate_channel("c1", name, config, GUARD)[2] == config


@pytest.mark.parametrize("name", list(TYPES))
def test_an_unknown_setting_is_refused_by_name(name):
    with pytest.raises(InvalidInput) as err:
        validate_channel("c1", name, {**TYPES[name].example, "colour": "blue"}, GUARD)

    assert err.value.field == "config.colour"
    assert f"not a {name} setting" in err.value.message


@pytest.mark.parametrize(("name", "key"), SETTINGS)
def test_a_setting_of_the_wrong_kind_is_refused_naming_it(name, key):
    with pytest.raises(InvalidInput) as err:
        validate_channel("c1", name, {**TYPES[name].example, key: ["not", "a", "setting"]}, GUARD)

    assert err.value.field == f"config.{key}"


@pytest.mark.parametrize(("name", "key"), [(n, k) for n, t in TYPES.items() for k in t.example])
def test_a_missing_setting_is_either_optional_or_named(name, key):
    config = {k: v for k, v in TYPES[name].example.items() if k != key}
    try:
        validate_channel("c1", name, config, GUARD)
    except InvalidInput as exc:
        assert exc.field == f"config.{key}"


@pytest.mark.parametrize("name", list(TYPES))
def test_a_template_with_every_field_renders_each_required_one(name):
    content = Content(**{f: f"{f} for {{{{ traits.name }}}}" for f in FIELDS})

    spec = validate_template("t", name, content)
    out = render(spec.content, context_of("p1", {"traits": {"name": "李华"}}, None))

    for field in TYPES[name].template_fields:
        assert getattr(out, field) == f"{field} for 李华"


@pytest.mark.parametrize(("name", "field"), TEMPLATE_FIELDS)
def test_a_missing_required_template_field_is_refused_naming_it(name, field):
    content = Content(**{f: "x" for f in FIELDS if f != field})

    with pytest.raises(InvalidInput) as err:
        validate_template("t", name, content)

    assert err.value.field == f"content.{field}"
    assert f"a {name} template needs content.{field}" == err.value.message


@pytest.mark.parametrize(("name", "field"), TEMPLATE_FIELDS)
def test_a_required_field_whose_trait_is_missing_fails_to_render_naming_both(name, field):
    content = Content(**{f: "x" for f in FIELDS})
    setattr(content, field, "{{ traits.nickname }}")
    validate_template("t", name, content)

    with pytest.raises(InvalidInput) as err:
        render(content, context_of("p1", {"traits": {}}, None))

    assert err.value.field == f"content.{field}"
    assert "nickname" in err.value.message


@pytest.mark.parametrize("name", list(TYPES))
def test_every_type_builds_a_provider_from_the_wiring(name):
    deps = ProviderDeps(
        http=None, receipt_url=lambda w, c: "", links=None, timeout=1.0, store=None, clock=None, guard=GUARD
    )

    provider = TYPES[name].provider(deps)

    assert inspect.iscoroutinefunction(provider.deliver)
