"""``SmtpMailer``: plain-text e-mail through the site's SMTP server (smtplib, STARTTLS, login)."""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import structlog

from myriagate.notifications import DeliveryFailed

log = structlog.get_logger(__name__)


class SmtpMailer:
    """Sends one message per call; a connection per call keeps failures independent."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout_s = timeout_s

    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver ``body`` to ``to``; DeliveryFailed (transient unless the address is refused)."""
        message = self._message(to, subject, body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"SMTP server refused {to!r}: {exc.recipients}", transient=False) from exc
        except smtplib.SMTPResponseException as exc:
            # 5xx answers are final for this message; 4xx ("try again later") are not.
            transient = not 500 <= exc.smtp_code < 600
            raise DeliveryFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", transient=transient) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"SMTP server {self.host}:{self.port} unreachable: {exc}", transient=True
            ) from exc
        log.info("notify.email_sent", to=to, subject=subject)

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        try:
            recipient = Address(addr_spec=to)
        except (ValueError, IndexError) as exc:
            raise DeliveryFailed(f"not an e-mail address: {to!r}", transient=False) from exc
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(body, charset="utf-8")
        return message
