"""Message templates: Jinja2 in a sandbox, validated before they are stored. Pure, no I/O.

A template fills the per-channel fields (subject, title, body, deep link) from
the person's profile: `traits.*`, `computed.*` (order_count, revenue, ...),
`tags.*` (tag name -> value), `person.id`, and the caller's `vars.*`. Any other
top-level name is refused when the template is saved, with the name in the
error; at render time StrictUndefined turns a missing trait into an error
naming it instead of an empty string in a customer's inbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment

from services.kit.documents import check_keys
from services.kit.errors import InvalidInput
from services.messaging.channel_types import TYPES
from services.messaging.messages import Content

ROOTS = frozenset({"traits", "computed", "tags", "person", "vars"})
# What a type cannot do without is its ChannelType.template_fields, a subset of these.
FIELDS = ("subject", "title", "body", "deep_link")
MAX_FIELD = 32 * 1024
NAME = re.compile(r"^.{1,128}$", re.S)

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass
class TemplateSpec:
    name: str
    channel_type: str
    content: Content


def validate_template(name: str, channel_type: str, content: Content) -> TemplateSpec:
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidInput("template name must be 1-128 characters", "name")
    channel_type = channel_type.strip().lower()
    kind = TYPES.get(channel_type)
    if kind is None:
        raise InvalidInput(f"channel must be one of {', '.join(TYPES)}", "channel")
    check_keys(content.data, "content.data")
    for field in FIELDS:
        text = getattr(content, field)
        if len(text) > MAX_FIELD:
            raise InvalidInput(f"content.{field} is longer than {MAX_FIELD} characters", f"content.{field}")
        _check_source(text, f"content.{field}")
    for field in kind.template_fields:
        if not getattr(content, field).strip():
            raise InvalidInput(f"a {channel_type} template needs content.{field}", f"content.{field}")
    if content.is_empty():
        raise InvalidInput("template content is empty", "content")
    return TemplateSpec(name, channel_type, content)


def _check_source(text: str, field: str) -> None:
    try:
        ast = _env.parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{field} line {exc.lineno}: {exc.message}", field) from None
    unknown = sorted(meta.find_undeclared_variables(ast) - ROOTS)
    if unknown:
        allowed = ", ".join(sorted(ROOTS))
        raise InvalidInput(f"{field} uses unknown variable {unknown[0]!r} (known: {allowed})", field)


def render(content: Content, context: dict[str, Any]) -> Content:
    """The content with every field rendered; InvalidInput names the field and the missing value."""
    out = {}
    for field in FIELDS:
        text = getattr(content, field)
        if not text:
            out[field] = ""
            continue
        _check_source(text, f"content.{field}")
        try:
            out[field] = _env.from_string(text).render(**context)
        except UndefinedError as exc:
            raise InvalidInput(f"content.{field}: {exc.message}", f"content.{field}") from None
        except TemplateError as exc:
            raise InvalidInput(f"content.{field}: {exc}", f"content.{field}") from None
    return Content(**out, data=dict(content.data))


def whole(value: Any) -> Any:
    """JSON numbers arrive as floats (protobuf Struct); 99.0 renders as 99, as the sender meant."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole(v) for v in value]
    return value


def context_of(person_id: str, profile: dict | None, variables: dict[str, Any] | None) -> dict[str, Any]:
    profile = profile or {}
    return {
        "person": {"id": person_id},
        "traits": whole(profile.get("traits") or {}),
        "computed": profile.get("computed") or {},
        "tags": profile.get("tags") or {},
        "vars": whole(variables or {}),
    }
