"""``HttpWebhookPoster``: POST a signed JSON body to a user's URL, safely.

Every address the host resolves to is checked (domain.webhook_rules.check_address) just
before the request, redirects are never followed, timeouts are short, the response body is
never read and proxies from the environment are ignored, so a webhook cannot be used to
reach the gateway's own network or to hold a worker. (A resolver that answers differently
between the check and the connection can still slip through; the outbound firewall is the
second fence, see docs/notifications.md.)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from myriagate.domain.webhook_rules import check_address
from myriagate.errors import InvalidRequest
from myriagate.notify import DeliveryFailed

log = structlog.get_logger(__name__)
Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos: list[Any] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class HttpWebhookPoster:
    def __init__(
        self, *, dev_mode: bool = False, timeout_s: float = 5.0, resolver: Resolver = resolve
    ) -> None:
        self.dev_mode = dev_mode
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self.resolver = resolver

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Deliver; DeliveryFailed (transient for network errors and non-2xx, not for refusals)."""
        self._check_destination(url)
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client,
                client.stream(
                    "POST", url, content=body, headers={"Content-Type": "application/json", **headers}
                ) as response,
            ):
                status = response.status_code
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook {url} unreachable: {exc!r}", transient=True) from exc
        if 300 <= status < 400:
            raise DeliveryFailed(
                f"webhook {url} answered a redirect ({status}), never followed", transient=False
            )
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook {url} answered HTTP {status}", transient=True)
        log.info("notify.webhook_sent", url=url, status=status)

    def _check_destination(self, url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self.resolver(host, port)
        except OSError as exc:
            raise DeliveryFailed(f"webhook host {host!r} does not resolve: {exc}", transient=True) from exc
        if not addresses:
            raise DeliveryFailed(f"webhook host {host!r} has no address", transient=True)
        try:
            for address in addresses:
                check_address(ipaddress.ip_address(address.split("%")[0]), dev_mode=self.dev_mode)
        except InvalidRequest as exc:
            raise DeliveryFailed(f"webhook {url} refused: {exc.detail}", transient=False) from exc
