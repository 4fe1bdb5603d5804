"""Email provider: real SMTP through aiosmtplib, with tracked links and an unsubscribe link.

SMTP has no idempotency key, so a connection that breaks after DATA was sent
leaves the outcome unknown; only failures before the server took the message
are retried. The Message-ID is derived from the idempotency key, so that a
receiving system could still spot a duplicate.

The connection is made by the outbound guard: the channel's host is resolved,
each address checked, and the socket connected to a checked address is handed
to aiosmtplib (which keeps the host name for STARTTLS), so a host that
resolves to a private address is never reached, whatever it resolved to when
the channel was saved. The server's reply text reaches the status reason
only sanitised and cut short.

Every mail carries `List-Unsubscribe` with the signed unsubscribe URL and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so mail
clients can unsubscribe with one POST.
"""

from __future__ import annotations

import hashlib
import html
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from services.kit.netguard import OutboundGuard, OutboundRefused
from services.messaging.links import Links
from services.messaging.messages import FAILED, SENT, UNKNOWN
from services.messaging.providers import MAX_REASON, RETRY, Outcome, sanitised
from services.messaging.views import MessageView

BEFORE_DATA = (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPHeloError)


def build_email(channel: dict, message: MessageView, links: Links | None) -> EmailMessage:
    config, c = channel["config"], message.content
    mail = EmailMessage()
    mail["From"] = config["from"]
    mail["To"] = message.to
    mail["Subject"] = c.subject
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
    mail["Message-ID"] = make_msgid(idstring=digest, domain=config["from"].split("@", 1)[1])
    text = c.body
    if links is not None:
        unsubscribe = links.unsubscribe(
            message.workspace, message.id, message.person_id, message.channel, message.category
        )
        mail["List-Unsubscribe"] = f"<{unsubscribe}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text = f"{c.body}\n\n{unsubscribe}"
    mail.set_content(text)
    body_html = c.body if "<" in c.body else "<p>" + html.escape(c.body).replace("\n", "<br/>") + "</p>"
    if links is not None:
        body_html = links.track_html(body_html, message.workspace, message.id)
        body_html += f'<p><a href="{unsubscribe}">退订 / Unsubscribe</a></p>'
    mail.add_alternative(f"<html><body>{body_html}</body></html>", subtype="html")
    return mail


class SmtpProvider:
    def __init__(self, links: Links | None, guard: OutboundGuard, timeout: float = 10.0) -> None:
        self.links = links
        self.guard = guard
        self.timeout = timeout

    async def deliver(self, channel: dict, message: MessageView) -> Outcome:
        config = channel["config"]
        mail = build_email(channel, message, self.links)
        try:
            sock = await self.guard.connect(config["host"], config["port"], self.timeout)
        except OutboundRefused as exc:
            return Outcome(FAILED, f"smtp destination refused: {exc}"[:MAX_REASON])
        except OSError as exc:
            return Outcome(RETRY, f"smtp unreachable: {type(exc).__name__}: {exc}"[:MAX_REASON])
        try:
            await aiosmtplib.send(
                mail,
                hostname=config["host"],
                sock=sock,
                username=config.get("username") or None,
                password=config.get("password") or None,
                start_tls=bool(config.get("starttls")),
                timeout=self.timeout,
            )
        except BEFORE_DATA as exc:
            return Outcome(RETRY, f"smtp unreachable: {sanitised(str(exc))}"[:MAX_REASON])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            transient = all(400 <= code < 500 for code in codes)
            reason = f"smtp refused the recipient: {', '.join(str(c) for c in codes)}"
            return Outcome(RETRY if transient else FAILED, reason[:MAX_REASON])
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                return Outcome(RETRY, f"smtp {exc.code}: {sanitised(exc.message)}"[:MAX_REASON])
            return Outcome(FAILED, f"smtp {exc.code}: {sanitised(exc.message)}"[:MAX_REASON])
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(UNKNOWN, f"smtp outcome unknown: {type(exc).__name__}: {sanitised(str(exc))}"[:MAX_REASON])
        finally:
            sock.close()
        return Outcome(SENT, provider_id=mail["Message-ID"])
