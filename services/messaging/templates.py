"""Message templates: Jinja2 in a sandbox, validated before they are stored. Pure, no I/O.

A template fills the per-channel fields (subject, title, body, deep link) from
the person's profile: `traits.*`, `computed.*` (order_count, revenue, ...),
`tags.*` (tag name -> value), `person.id`, and the caller's `vars.*`. Any other
top-level name is refused when the template is saved, with the name in the
error; at render time StrictUndefined turns a missing trait into an error
naming it instead of an empty string in a customer's inbox.

Rendering has a budget (Budget): each field's output is bounded
(`CDP_TEMPLATE_MAX_OUTPUT` characters, default 65,536) and so is its time
(`CDP_TEMPLATE_MAX_SECONDS`, default 1 s), because the sandbox stops attribute
tricks, not work: `{% for i in range(99999) %}{% for j in range(99999) %}`
loops for hours and `'x' * 20000000` builds 20 MB. The deadline is checked on
every loop iteration (each `for` of a parsed template iterates through
`budgeted`), on every call, filter and arithmetic operator, and on every chunk
of output; sizes are checked on the results of `*`, `+`, `**`, calls and
filters and on numbers passed to them. A render over budget answers
InvalidInput naming the field, and nothing is stored. What is not covered: one
single operation that is itself slow or large before it returns (such as a
format width of 10**9), which the source limit of 32 KB keeps to one step.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from services.kit.documents import check_keys
from services.kit.errors import InvalidInput
from services.messaging.channel_types import TYPES
from services.messaging.messages import Content

ROOTS = frozenset({"traits", "computed", "tags", "person", "vars"})
# What a type cannot do without is its ChannelType.template_fields, a subset of these.
FIELDS = ("subject", "title", "body", "deep_link")
MAX_FIELD = 32 * 1024
NAME = re.compile(r"^.{1,128}$", re.S)


@dataclass(frozen=True)
class Budget:
    max_output: int = 64 * 1024  # characters of one rendered field (and of any value built on the way)
    max_seconds: float = 1.0  # to render one field

    @classmethod
    def from_env(cls) -> Budget:
        # Read from the environment here because the render call sites (sending, previews) hand no
        # settings down; the names follow the CDP_ settings of the service.
        return cls(
            int(os.environ.get("CDP_TEMPLATE_MAX_OUTPUT", cls.max_output)),
            float(os.environ.get("CDP_TEMPLATE_MAX_SECONDS", cls.max_seconds)),
        )


DEFAULT_BUDGET = Budget.from_env()


class OverBudget(Exception):
    """A render went past its budget (never a TemplateError, so no template can catch or mask it)."""


# (deadline on the monotonic clock, size bound) of the render running in this context.
_limits: contextvars.ContextVar[tuple[float, int]] = contextvars.ContextVar("template_limits")


def _tick() -> int:
    deadline, bound = _limits.get((math.inf, DEFAULT_BUDGET.max_output))
    if time.monotonic() > deadline:
        raise OverBudget("rendering took too long (a loop too large?)")
    return bound


def _sized(value: Any) -> Any:
    bound = _tick()
    if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > bound:
        raise OverBudget(f"a value built while rendering is longer than {bound} characters")
    if isinstance(value, int) and value.bit_length() > 4096:
        raise OverBudget("a number built while rendering is too large")
    return value


# Filters and str methods whose number arguments set the size of what they build (padding widths).
WIDENING_FILTERS = frozenset({"center", "indent"})
WIDENING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _small_args(args: tuple, kwargs: dict) -> None:
    """A width larger than the output bound is refused before the padded string is built."""
    bound = _tick()
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > bound:
            raise OverBudget(f"a width over {bound} is refused while rendering")


def _budgeted_filter(name: str, f):
    @functools.wraps(f)
    def run(*args, **kwargs):
        if name in WIDENING_FILTERS:
            _small_args(args[1:], kwargs)
        else:
            _tick()
        return _sized(f(*args, **kwargs))

    return run


class _Budgeting(NodeTransformer):
    """Rewrites a parsed template so that loops and `~` concatenations pass through the budget."""

    def __init__(self, environment) -> None:
        self.environment = environment

    def _call(self, name: str, args: list, lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
        return call.set_lineno(lineno).set_environment(self.environment)

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = self._call("budgeted", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return self._call("joined", list(node.nodes), node.lineno)


def _power_too_large(left: Any, right: Any) -> bool:
    if not (isinstance(left, int) and isinstance(right, int)):
        return False
    return abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 4096


class _BudgetedEnvironment(ImmutableSandboxedEnvironment):
    # Immutable: no list.append or dict.update growing a value out of sight of the checks.
    intercepted_binops = frozenset({"*", "**", "+", "//", "%"})

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}

    def _parse(self, source, name, filename):
        return _Budgeting(self).visit(super()._parse(source, name, filename))

    @staticmethod
    def budgeted(iterable):
        for item in iterable:
            _tick()
            yield item

    @staticmethod
    def joined(*parts) -> str:
        _tick()
        return _sized("".join(map(str, parts)))

    def call_binop(self, context, operator, left, right):
        bound = _tick()
        if operator == "**" and _power_too_large(left, right):
            raise OverBudget("a power too large to compute while rendering")
        if operator == "*" and any(
            isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > bound
            for seq, times in ((left, right), (right, left))
        ):
            raise OverBudget("a repeated value would be longer than the output bound")
        return _sized(super().call_binop(context, operator, left, right))

    def call(self, __context, __obj, *args, **kwargs):
        if isinstance(getattr(__obj, "__self__", None), str) and getattr(__obj, "__name__", "") in WIDENING_METHODS:
            _small_args(args, kwargs)
        else:
            _tick()
        return _sized(super().call(__context, __obj, *args, **kwargs))


_env = _BudgetedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


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


def _render_field(text: str, context: dict[str, Any], budget: Budget) -> str:
    token = _limits.set((time.monotonic() + budget.max_seconds, budget.max_output))
    try:
        parts, size = [], 0
        for chunk in _env.from_string(text).generate(**context):
            _tick()
            size += len(chunk)
            if size > budget.max_output:
                raise OverBudget(f"rendered output is longer than {budget.max_output} characters")
            parts.append(chunk)
        return "".join(parts)
    finally:
        _limits.reset(token)


def render(content: Content, context: dict[str, Any], budget: Budget = DEFAULT_BUDGET) -> Content:
    """The content with every field rendered; InvalidInput names the field and the missing value."""
    out = {}
    for field in FIELDS:
        text = getattr(content, field)
        if not text:
            out[field] = ""
            continue
        _check_source(text, f"content.{field}")
        try:
            out[field] = _render_field(text, context, budget)
        except OverBudget as exc:
            raise InvalidInput(f"content.{field}: {exc}", f"content.{field}") from None
        except UndefinedError as exc:
            raise InvalidInput(f"content.{field}: {exc.message}", f"content.{field}") from None
        except TemplateError as exc:
            raise InvalidInput(f"content.{field}: {exc}", f"content.{field}") from None
        except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
            # What the template itself got wrong (1/0, range too big for the sandbox, a bad format,
            # a macro calling itself).
            raise InvalidInput(f"content.{field}: {type(exc).__name__}: {exc}"[:300], f"content.{field}") from None
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
