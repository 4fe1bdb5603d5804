"""Accepting sends: render, address, then the message and its outbound event commit together, once per key.

Templates are rendered and addresses looked up at send time (profiles read in
one BatchGetProfiles per batch), so what the worker sends is exactly what the
message record shows. A person whose data cannot fill the message (no email
address, a trait the template needs is missing) gets a message recorded as
skipped with the reason: never silently dropped, and one person does not fail
a campaign of a million.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bson import ObjectId

from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.kafka import Producer
from services.kit.mongo import in_transaction, is_duplicate_key
from services.kit.outbox import OutboxRelay
from services.messaging.channels import ADDRESS_TRAIT
from services.messaging.messages import SKIPPED, TRANSACTIONAL, Content, SendCommand, new_message, validate_send
from services.messaging.outbound import outbound, outbound_topic
from services.messaging.outcomes import Transition, announce
from services.messaging.policy import safe_zone
from services.messaging.profiles import ProfileClient, ProfileUnavailable
from services.messaging.store import MessagingStore
from services.messaging.templates import context_of, render
from services.messaging.views import MessageView

log = logging.getLogger(__name__)

MAX_BATCH = 1000


class Sender:
    def __init__(
        self,
        client: Any,
        store: MessagingStore,
        relay: OutboxRelay,
        clock: Clock,
        profiles: ProfileClient | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.profiles = profiles
        self.producer = producer

    async def send(self, cmd: SendCommand) -> tuple[dict, bool]:
        """The message document and whether this call created it (False: the key existed)."""
        (result,) = await self.send_batch([cmd], single=True)
        return result

    async def send_batch(self, cmds: list[SendCommand], single: bool = False) -> list[tuple[dict, bool]]:
        if not cmds:
            raise InvalidInput("requests must hold at least one send", "requests")
        if len(cmds) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} sends per batch", "requests")
        prepared = []
        for i, cmd in enumerate(cmds):
            try:
                prepared.append(validate_send(cmd))
            except InvalidInput as exc:
                if single:
                    raise
                raise InvalidInput(f"requests[{i}]: {exc.message}", f"requests[{i}].{exc.field}") from None
        workspace = prepared[0].workspace
        if any(c.workspace != workspace for c in prepared):
            raise InvalidInput("every send of a batch must be in one workspace", "requests.workspace_id")
        channels = {}
        for i, cmd in enumerate(prepared):
            if cmd.channel not in channels:
                channels[cmd.channel] = await self.store.channel(workspace, cmd.channel)
            if channels[cmd.channel] is None:
                field = "channel" if single else f"requests[{i}].channel"
                raise InvalidInput(f"channel {cmd.channel!r} does not exist in this workspace", field)
        templates = {}
        for i, cmd in enumerate(prepared):
            if cmd.template_id and cmd.template_id not in templates:
                tpl = await self.store.template(workspace, cmd.template_id)
                field = "template_id" if single else f"requests[{i}].template_id"
                if tpl is None:
                    raise InvalidInput(f"template {cmd.template_id!r} does not exist", field)
                if tpl["channel"] != channels[cmd.channel]["type"]:
                    raise InvalidInput(
                        f"template {tpl['name']!r} is for {tpl['channel']}, channel {cmd.channel!r} is "
                        f"{channels[cmd.channel]['type']}",
                        field,
                    )
                templates[cmd.template_id] = tpl
        profiles = await self._profiles(workspace, prepared, channels)

        docs = []
        now = self.clock.now()
        for cmd in prepared:
            channel_type = channels[cmd.channel]["type"]
            cmd, problem = self._personalise(cmd, channel_type, templates, profiles, single)
            # ObjectId strings sort by creation, which keeps "newest first" stable within a second.
            doc = new_message(cmd, str(ObjectId()), now)
            if problem:
                doc.update(status=SKIPPED, status_reason=problem)
            docs.append(doc)
        return await self._store(docs)

    async def _profiles(self, workspace: str, cmds: list[SendCommand], channels: dict) -> dict[str, dict]:
        """Profiles of the persons whose sends need one (template, address or time zone)."""
        need_strict = [
            c.person_id for c in cmds if c.template_id or (channels[c.channel]["type"] in ADDRESS_TRAIT and not c.to)
        ]
        need_soft = [c.person_id for c in cmds if not c.timezone]
        if not need_strict and not need_soft:
            return {}
        try:
            if self.profiles is None:
                raise ProfileUnavailable("no profile service configured")
            return await self.profiles.profiles(workspace, need_strict + need_soft)
        except ProfileUnavailable:
            if need_strict:
                raise
            # Only the time zone was wanted: the workspace default stands in (see README).
            return {}

    @staticmethod
    def _personalise(cmd: SendCommand, channel_type: str, templates: dict, profiles: dict, single: bool):
        profile = profiles.get(cmd.person_id)
        traits = (profile or {}).get("traits") or {}
        problem = ""
        content = cmd.content
        if cmd.template_id:
            tpl = templates[cmd.template_id]
            try:
                content = render(Content.of(tpl["content"]), context_of(cmd.person_id, profile, cmd.vars))
            except InvalidInput as exc:
                if single:
                    raise
                problem = f"template could not be rendered for this person: {exc.message}"
        to = cmd.to
        trait = ADDRESS_TRAIT.get(channel_type)
        if trait and not to:
            value = traits.get(trait)
            to = str(value).strip() if value not in (None, "") else ""
            if not to and not problem:
                if single:
                    raise InvalidInput(f"no address: give `to` or set the person's {trait!r} trait", "to")
                problem = f"no address: the person has no {trait!r} trait"
        timezone = cmd.timezone
        if not timezone and isinstance(traits.get("timezone"), str):
            # A malformed trait is ignored (the workspace default applies), not fatal.
            zone = safe_zone(traits["timezone"], "UTC")
            timezone = traits["timezone"] if zone.key == traits["timezone"] else ""
        return replace(cmd, content=content, to=to, timezone=timezone), problem

    async def _store(self, docs: list[dict]) -> list[tuple[dict, bool]]:
        async def work(session) -> None:
            await self.store.insert_messages(docs, session)
            queued = [d for d in docs if d["status"] != SKIPPED]
            await self.relay.add_many(
                [(outbound_topic(d["category"]), d["person_id"], outbound(d)) for d in queued], session
            )
            # A message skipped at send (no address, a trait its template needs) is an outcome
            # like any other: announced with its reason, in the same transaction.
            skipped = [(Transition(MessageView.of(d), {}, SKIPPED), d) for d in docs if d["status"] == SKIPPED]
            await announce(self.relay, skipped, now=None, session=session)

        try:
            await in_transaction(self.client, work)
        except Exception as exc:
            # The unique (workspace, idempotency_key) index aborted the whole
            # transaction, outbox entries included, so nothing is enqueued twice.
            if not is_duplicate_key(exc):
                raise
            if len(docs) > 1:
                out = []
                for doc in docs:
                    out += await self._store([doc])
                return out
            existing = await self.store.message_by_key(docs[0]["workspace"], docs[0]["idempotency_key"])
            if existing is None:
                raise
            return [(existing, False)]
        self.relay.notify()
        await self._fast_lane(docs)
        return [(d, True) for d in docs]

    async def _fast_lane(self, docs: list[dict]) -> None:
        """Transactional messages go to their topic at once, not behind the outbox backlog.

        The outbox copy still follows (it is the guarantee); the worker acts on
        whichever arrives first, the other finds the message no longer queued.
        """
        if self.producer is None:
            return
        items = [
            (outbound_topic(d["category"]), d["person_id"], outbound(d))
            for d in docs
            if d["category"] == TRANSACTIONAL and d["status"] != SKIPPED
        ]
        if not items:
            return
        try:
            await self.producer.send_many(items)
        except Exception:
            log.warning("fast lane publish failed; the outbox will deliver", exc_info=True)
