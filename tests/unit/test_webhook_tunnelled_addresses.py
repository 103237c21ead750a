"""Webhook addresses that carry an IPv4 address inside an IPv6 one are judged by that IPv4
address too. A 6to4 address (2002::/16) counts as globally routable for Python's ipaddress,
yet ``2002:a9fe:a9fe::1`` is the metadata service's 169.254.169.254 and ``2002:7f00:1::1``
loopback, wherever a 6to4 route exists; both were accepted."""

from __future__ import annotations

import ipaddress

import pytest

from myriagate.domain.webhook_rules import check_address, check_url
from myriagate.errors import InvalidRequest


@pytest.mark.parametrize(
    "address",
    ["2002:a9fe:a9fe::1", "2002:7f00:1::1", "2002:a00:5::", "2002:c0a8:101::1", "2002:6440:1::1"],
)
def test_a_6to4_address_of_a_private_or_metadata_ipv4_is_refused(address: str) -> None:
    with pytest.raises(InvalidRequest):
        check_address(ipaddress.ip_address(address))
    with pytest.raises(InvalidRequest):
        check_url(f"https://[{address}]/hook")


def test_a_6to4_address_of_link_local_ipv4_is_refused_even_in_dev_mode() -> None:
    with pytest.raises(InvalidRequest):
        check_address(ipaddress.ip_address("2002:a9fe:a9fe::1"), dev_mode=True)


def test_a_6to4_address_of_a_public_ipv4_is_still_allowed() -> None:
    check_address(ipaddress.ip_address("2002:5db8:d822::1"))  # 93.184.216.34
