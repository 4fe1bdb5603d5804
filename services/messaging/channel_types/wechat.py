"""wechat: Official Account template messages (POST <endpoint>/cgi-bin/message/template/send).

Template fields come from content.data ({"first": "...", "keyword1": ...});
title and body fill `first` and `remark` when data does not. WeChat reports
errors as an `errcode` in the body of an HTTP 200.
"""

from __future__ import annotations

from services.kit.errors import InvalidInput
from services.messaging import channel_settings as setting
from services.messaging.channel_types import ChannelType, ProviderDeps
from services.messaging.messages import FAILED, SENT
from services.messaging.providers import (
    MAX_REASON,
    RETRY,
    HttpProvider,
    HttpRequest,
    Outcome,
    Reply,
    auth_headers,
    sanitised,
)
from services.messaging.views import MessageView

# errcodes that mean "too fast / busy", worth retrying.
RETRY_CODES = {-1, 45009, 45047}


def check(config: dict) -> dict:
    out = {"endpoint": setting.url(config, "endpoint")}
    for key in ("access_token", "template_id"):
        if key in config:
            out[key] = setting.text(config, key)
    if not out.get("template_id"):
        raise InvalidInput("config.template_id (the WeChat template) is required", "config.template_id")
    out["idempotent"] = setting.flag(config, "idempotent")
    return out


def request(channel: dict, message: MessageView, receipt: str) -> HttpRequest:
    config, c = channel["config"], message.content
    fields = {k: {"value": v if isinstance(v, str) else str(v)} for k, v in (c.data or {}).items()}
    fields.setdefault("first", {"value": c.title})
    fields.setdefault("remark", {"value": c.body})
    body = {"touser": message.to, "template_id": config["template_id"], "url": c.deep_link, "data": fields}
    token = config.get("access_token", "")
    url = f"{config['endpoint'].rstrip('/')}/cgi-bin/message/template/send?access_token={token}"
    # The access token travels in the URL, as WeChat's API has it (a wechat channel has no api_key).
    return HttpRequest(url, body, auth_headers(config, receipt), check=outcome)


def outcome(response: Reply) -> Outcome:
    """WeChat reports errors in the body of an HTTP 200."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = int(body.get("errcode", 0) or 0)
    if code == 0:
        return Outcome(SENT, provider_id=str(body.get("msgid", "")))
    reason = f"wechat errcode {code}: {sanitised(str(body.get('errmsg', '')))}"[:MAX_REASON]
    return Outcome(RETRY if code in RETRY_CODES else FAILED, reason)


def provider(deps: ProviderDeps) -> HttpProvider:
    return HttpProvider(deps.http, request, deps.receipt_url)


TYPE = ChannelType(
    name="wechat",
    settings=("endpoint", "access_token", "template_id", "idempotent"),
    secrets=("access_token",),
    check=check,
    provider=provider,
    example={"endpoint": "https://api.weixin.qq.com", "access_token": "t", "template_id": "TPL1"},
    address_trait="wechat_openid",
    destinations=("endpoint",),
)
