"""Pinned SSH host keys: loaded from an OpenSSH known_hosts file, compared, never learnt.

A missing or different host key is a ConfigError, not a transient SchedulerUnavailable:
retrying cannot fix it, and it means either the pinned file is stale (an operator must update
it) or someone is in the middle. The worker must stop and an operator must be told, instead of
the gateway sending certificates to an unknown host on every poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko

from myriagate.errors import ConfigError


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH writes a host in known_hosts: ``host`` on port 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class PinnedHostKeys:
    """The host keys accepted for one (host, port), by key type."""

    name: str
    keys: dict[str, paramiko.PKey]

    @property
    def key_types(self) -> list[str]:
        return list(self.keys)

    def verify(self, presented: paramiko.PKey) -> None:
        """Raise ConfigError unless ``presented`` is the pinned key of its type."""
        pinned = self.keys.get(presented.get_name())
        if pinned is None:
            raise ConfigError(
                f"host key of {self.name} is unknown: it offered {presented.get_name()} "
                f"{presented.fingerprint}, and no key of that type is pinned; refusing to connect"
            )
        if pinned != presented:
            raise ConfigError(
                f"host key of {self.name} has CHANGED: it offered {presented.get_name()} "
                f"{presented.fingerprint}, pinned is {pinned.fingerprint}; refusing to connect "
                "(update the pinned known_hosts only after checking the new key out of band)"
            )


def load_pinned_host_keys(known_hosts_path: Path | str, host: str, port: int) -> PinnedHostKeys:
    """The keys pinned for (host, port); ConfigError when the file or the entry is missing."""
    path = Path(known_hosts_path)
    name = known_hosts_name(host, port)
    try:
        host_keys = paramiko.HostKeys(str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read the pinned known_hosts {path}: {exc.strerror}") from exc
    except (paramiko.SSHException, ValueError) as exc:
        raise ConfigError(f"{path} is not a valid known_hosts file: {exc}") from exc
    # lookup() also matches hashed names (HashKnownHosts yes).
    entry = host_keys.lookup(name)
    if not entry:
        raise ConfigError(f"no host key pinned for {name} in {path}")
    keys = {key_type: entry[key_type] for key_type in entry}
    return PinnedHostKeys(name=name, keys=keys)
