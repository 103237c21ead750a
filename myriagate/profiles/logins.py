"""The cluster logins that are the gateway's own, never a person's."""

from __future__ import annotations

from myriagate.errors import PermissionDenied, Text
from myriagate.profiles.models import ClusterProfile


def gateway_logins(profile: ClusterProfile) -> frozenset[str]:
    """The cluster's service login and, when it has one, its operator login."""
    conn = profile.connection
    return frozenset(login for login in (conn.service_login, conn.operator_login) if login)


def is_gateway_login(profile: ClusterProfile, login: str) -> bool:
    return login in gateway_logins(profile)


def check_personal_login(profile: ClusterProfile, login: str) -> None:
    """Refuse to act for a person as the gateway's own service or operator login.

    A person's jobs and files run as their own cluster login, so the cluster's permissions
    decide what they may touch. An account given the service login (a platform admin seeded
    with it, a typo when an admin set it) would otherwise browse the service account's home
    and submit with its rights."""
    if is_gateway_login(profile, login):
        raise PermissionDenied(
            Text(
                "%(login)s is the gateway's own login on %(cluster)s: a person's jobs and files never run "
                "as it (ask a platform admin to give this account its own cluster login)",
                login=login,
                cluster=profile.name,
            )
        )
