"""Webhook URLs a user may register, the addresses a delivery may reach, and the signature.

A webhook makes the gateway send requests to a URL a user chose, from inside CRIANN's
network: without rules that is a server-side request forgery. So:

- ``check_url`` (at registration): ``https`` only (``http`` too in dev mode), no user info,
  no control characters or spaces, a real host name or IP literal; numeric host forms that
  resolvers read as IPv4 (``2130706433``, ``0x7f.1``, ``127.1``) are refused outright.
- ``check_address`` (at every delivery, for every address the name resolves to): link-local
  (169.254.0.0/16 and fe80::/10, where cloud metadata lives), unspecified, multicast and
  reserved addresses are always refused; outside dev mode anything not globally routable
  (loopback, private, shared 100.64.0.0/10, …) is refused too. IPv4-mapped and 6to4
  (2002::/16) IPv6 addresses are judged by the IPv4 address they carry too.

Signature: ``X-Myriagate-Signature: sha256=<hex>`` where hex is HMAC-SHA256, keyed with the
webhook's secret, over ``<timestamp>.<body>``; the timestamp (Unix seconds) is sent in
``X-Myriagate-Timestamp``. Signing the timestamp with the body lets a receiver refuse a
replayed delivery (``verify`` allows 5 minutes of clock skew by default).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from urllib.parse import urlsplit

from myriagate.errors import InvalidRequest

MAX_URL_LENGTH = 2048
SIGNATURE_HEADER = "X-Myriagate-Signature"
TIMESTAMP_HEADER = "X-Myriagate-Timestamp"
EVENT_HEADER = "X-Myriagate-Event"
DELIVERY_HEADER = "X-Myriagate-Delivery"
DEFAULT_TOLERANCE_S = 300

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
# What inet_aton would take as an IPv4 address: digits, hex and octal parts, 1 to 4 of them.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?\Z")
_BLOCKED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_url(url: str, *, dev_mode: bool = False) -> str:
    """``url`` if it may be registered as a webhook, else InvalidRequest saying why."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"a webhook URL has 1 to {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c.isspace() for c in url):
        raise InvalidRequest("a webhook URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"not a valid URL: {exc}") from None
    allowed = ("https", "http") if dev_mode else ("https",)
    if parts.scheme not in allowed:
        raise InvalidRequest(
            "a webhook URL must use https" + ("" if dev_mode else " (http only in dev mode)")
        )
    if "@" in parts.netloc:
        raise InvalidRequest("a webhook URL may not carry a user name or password")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidRequest("a webhook URL needs a host")
    if port == 0:
        raise InvalidRequest("port 0 is not a valid webhook port")
    if parts.fragment:
        raise InvalidRequest("a webhook URL may not have a #fragment")
    literal = _ip_literal(host)
    if literal is not None:
        check_address(literal, dev_mode=dev_mode)
        return url
    if _NUMERIC_HOST.match(host):
        raise InvalidRequest(f"{host!r} reads as an IP address in a non-standard form: refused")
    if host.rstrip(".") in _BLOCKED_NAMES and not (dev_mode and host.rstrip(".") == "localhost"):
        raise InvalidRequest(f"{host!r} is not an allowed webhook host")
    labels = host.rstrip(".").split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidRequest(f"{host!r} is not a valid host name")
    return url


def check_address(address: IpAddress, *, dev_mode: bool = False) -> None:
    """InvalidRequest when a delivery must not reach ``address`` (see the module docstring)."""
    ip: IpAddress = address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        # 2002::/16 counts as global, but reaches the IPv4 address it carries (6to4).
        check_address(ip.sixtofour, dev_mode=dev_mode)
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        raise InvalidRequest(f"webhook address {ip} is link-local, unspecified, multicast or reserved")
    if dev_mode and (ip.is_loopback or ip.is_private):
        return
    if not ip.is_global:
        raise InvalidRequest(f"webhook address {ip} is not a public address")


def _ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Myriagate-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (no replay)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
