"""Contact traits: the profile traits a message is addressed to (shared vocabulary).

Each is some channel type's `address_trait` (services/messaging/channel_types);
a workspace can have profile accept them from server-side calls only
(`contactTraitsServerOnly`), so a forged identify from a browser or app cannot
redirect someone's mail, texts, pushes or WeChat messages.
"""

from __future__ import annotations

CONTACT_TRAITS = frozenset({"email", "phone", "push_token", "wechat_openid", "wechat_unionid"})
