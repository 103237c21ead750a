"""``HttpWebhookPoster``: POST a signed JSON body to a user's URL, safely.

The host is resolved once and every address it resolves to is checked
(domain.webhook_rules.check_address); the connection is then made to one of those checked
addresses, never to a name resolved again, so a resolver that answers a public address to
the check and an internal one to the connection (DNS rebinding) reaches nothing it should
not. The request keeps the URL's host name where it matters: the ``Host`` header, and for
https the TLS server name (SNI) and the certificate check. Redirects are never followed,
timeouts are short, the response body is never read and proxies from the environment are
ignored, so a webhook cannot be used to reach the gateway's own network or to hold a worker.
Errors and log lines show the URL without its path and query (where webhook services put
their tokens).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping

import httpx
import structlog

from myriagate.domain.webhook_rules import check_address
from myriagate.errors import InvalidRequest
from myriagate.logs import redact_url
from myriagate.notifications import DeliveryFailed

log = structlog.get_logger(__name__)
Resolver = Callable[[str, int], list[str]]
# Checked addresses tried in turn when one refuses the connection (nothing was sent then).
MAX_ADDRESSES = 3


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), once each, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpWebhookPoster:
    """``verify``: what httpx verifies server certificates with (tests pass their own CA)."""

    def __init__(
        self,
        *,
        dev_mode: bool = False,
        timeout_s: float = 5.0,
        resolver: Resolver = resolve,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.dev_mode = dev_mode
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self.resolver = resolver
        self.verify = verify

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Deliver; DeliveryFailed (transient for network errors and non-2xx, not for refusals)."""
        target = httpx.URL(url)
        shown = redact_url(url)
        addresses = self._checked_addresses(target, shown)
        status = self._post_to_first_answering(target, addresses, body, headers, shown)
        if 300 <= status < 400:
            raise DeliveryFailed(
                f"webhook {shown} answered a redirect ({status}), never followed", transient=False
            )
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook {shown} answered HTTP {status}", transient=True)
        log.info("notify.webhook_sent", url=shown, status=status)

    def _checked_addresses(self, target: httpx.URL, shown: str) -> list[str]:
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
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
            raise DeliveryFailed(f"webhook {shown} refused: {exc.detail}", transient=False) from exc
        return addresses

    def _post_to_first_answering(
        self, target: httpx.URL, addresses: list[str], body: bytes, headers: Mapping[str, str], shown: str
    ) -> int:
        refused: httpx.HTTPError | None = None
        for address in addresses[:MAX_ADDRESSES]:
            try:
                return self._post_to(target, address, body, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                refused = exc  # no connection, nothing sent: the next checked address may answer
            except httpx.HTTPError as exc:
                raise DeliveryFailed(f"webhook {shown} unreachable: {exc!r}", transient=True) from exc
        raise DeliveryFailed(f"webhook {shown} unreachable: {refused!r}", transient=True) from refused

    def _post_to(self, target: httpx.URL, address: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST to ``target`` over a connection to ``address``, a checked IP: the URL carries
        the address, so httpx resolves nothing; ``Host`` and TLS keep the URL's name."""
        pinned = target.copy_with(host=address)
        name = target.raw_host.decode("ascii")  # IDNA-encoded, without IPv6 brackets
        extensions = {"sni_hostname": name} if target.scheme == "https" else {}
        sent_headers = {"Content-Type": "application/json", **headers, "Host": target.netloc.decode("ascii")}
        with (
            httpx.Client(
                timeout=self.timeout, follow_redirects=False, trust_env=False, verify=self.verify
            ) as client,
            client.stream(
                "POST", pinned, content=body, headers=sent_headers, extensions=extensions
            ) as response,
        ):
            return response.status_code
