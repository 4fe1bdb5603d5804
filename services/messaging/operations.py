"""What both API edges (gRPC and GraphQL) do beyond sends: templates, previews, stats, policy.

One implementation, so that the two edges cannot drift apart in validation
or answers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bson import ObjectId

from services.kit.clock import Clock
from services.kit.errors import Conflict, InvalidInput, NotFound, required
from services.kit.mongo import is_duplicate_key
from services.messaging.links import Links, Signer
from services.messaging.messages import Content
from services.messaging.policy import Policy, validate_policy
from services.messaging.profiles import ProfileClient, ProfileUnavailable
from services.messaging.sending import Sender
from services.messaging.store import MessagingStore
from services.messaging.templates import context_of, render, validate_template


def rates(counts: dict) -> dict:
    """送达率 delivered/sent, 打开率 opened/delivered, 点击率 clicked/delivered, 转化率 converted/sent."""

    def ratio(a: str, b: str) -> float:
        return round(counts[a] / counts[b], 4) if counts[b] else 0.0

    return {
        "delivery_rate": ratio("delivered", "sent"),
        "open_rate": ratio("opened", "delivered"),
        "click_rate": ratio("clicked", "delivered"),
        "conversion_rate": ratio("converted", "sent"),
    }


@dataclass
class Context:
    store: MessagingStore
    sender: Sender
    clock: Clock
    profiles: ProfileClient
    signer: Signer
    links: Links
    optouts: object

    # -- templates -----------------------------------------------------------
    async def create_template(self, workspace: str, name: str, channel: str, content: Content) -> dict:
        workspace = required(workspace, "workspace_id")
        spec = validate_template(name, channel, content)
        now = self.clock.now()
        doc = {
            "_id": f"tpl_{ObjectId()}",
            "workspace": workspace,
            "name": spec.name,
            "channel": spec.channel_type,
            "content": asdict(spec.content),
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self.store.insert_template(doc)
        except Exception as exc:
            if is_duplicate_key(exc):
                raise Conflict(f"a template named {spec.name!r} exists", "name") from None
            raise
        return doc

    async def update_template(
        self, workspace: str, template_id: str, name: str, channel: str, content: Content
    ) -> dict:
        workspace = required(workspace, "workspace_id")
        template_id = required(template_id, "id")
        spec = validate_template(name, channel, content)
        try:
            doc = await self.store.replace_template(
                workspace,
                template_id,
                {
                    "name": spec.name,
                    "channel": spec.channel_type,
                    "content": asdict(spec.content),
                    "updated_at": self.clock.now(),
                },
            )
        except Exception as exc:
            if is_duplicate_key(exc):
                raise Conflict(f"a template named {spec.name!r} exists", "name") from None
            raise
        if doc is None:
            raise NotFound(f"template {template_id!r} not found", "id")
        return doc

    async def template(self, workspace: str, template_id: str) -> dict:
        doc = await self.store.template(required(workspace, "workspace_id"), required(template_id, "id"))
        if doc is None:
            raise NotFound(f"template {template_id!r} not found", "id")
        return doc

    async def render_preview(
        self, workspace: str, template_id: str, person_id: str, content: Content | None, variables: dict
    ) -> Content:
        """Render a stored template (or unsaved `content`) for a person, without sending anything."""
        workspace = required(workspace, "workspace_id")
        if template_id.strip():
            tpl = await self.template(workspace, template_id)
            source = Content.of(tpl["content"])
        elif content is not None and not content.is_empty():
            source = content
        else:
            raise InvalidInput("give template_id or content to render", "template_id")
        profile = None
        if person_id.strip():
            try:
                profile = (await self.profiles.profiles(workspace, [person_id])).get(person_id)
            except ProfileUnavailable as exc:
                raise InvalidInput(f"cannot read the person's profile: {exc.message}", "person_id") from None
        return render(source, context_of(person_id, profile, variables))

    # -- stats and policy ----------------------------------------------------
    async def stats(self, workspace: str, campaign_id: str, template_id: str) -> dict:
        workspace = required(workspace, "workspace_id")
        if not campaign_id.strip() and not template_id.strip():
            raise InvalidInput("give campaign_id or template_id", "campaign_id")
        counts = await self.store.stats(workspace, campaign_id.strip(), template_id.strip())
        return {**counts, **rates(counts)}

    async def set_policy(self, workspace: str, policy: Policy) -> Policy:
        workspace = required(workspace, "workspace_id")
        policy = validate_policy(policy)
        doc = await self.store.set_policy(workspace, policy.as_doc(), self.clock.now())
        return Policy.of(doc)

    async def policy(self, workspace: str) -> Policy:
        return Policy.of(await self.store.policy(required(workspace, "workspace_id")))
