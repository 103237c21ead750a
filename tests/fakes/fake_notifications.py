"""Fakes of the notification channels (ports.Mailer / ports.WebhookPoster)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from myriagate.errors import MyriagateError


@dataclass
class FakeMailer:
    """Records every message; ``fail_with`` makes the next sends raise it."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail_with: MyriagateError | None = None
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, to: str, subject: str, body: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        with self.lock:
            self.sent.append((to, subject, body))


@dataclass
class FakeWebhookPoster:
    posted: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    fail_with: MyriagateError | None = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.posted.append((url, body, dict(headers)))
