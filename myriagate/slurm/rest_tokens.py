"""Short-lived JWTs for slurmrestd, minted per cluster login with the cluster's HS256 key.

Slurm's ``auth/jwt`` accepts a token signed with the key named by ``AuthAltParameters=jwt_key``
whose ``sun`` claim names the user; ``scontrol token username=<login> lifespan=<s>`` mints the
same claims (``sun``, ``iat``, ``exp``). The gateway mints one for the researcher's own login
for each action it takes as them, never a shared administrator token. The key is a secret that
lets its holder act as any user of the cluster: it is read once at start-up and refused unless
it is a regular file only its owner may read or write (0600 or stricter).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jwt

from myriagate.domain import values
from myriagate.errors import ConfigError

# A token is reused while more than this share of its lifespan is left: minting is cheap, but
# one per request would be one HMAC per status call for nothing.
_REUSE_WHILE_LEFT = 0.5


def read_key(path: Path) -> bytes:
    """The key's bytes; ConfigError unless ``path`` is a regular file of mode 0600 or stricter."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError as exc:
        raise ConfigError(f"slurmrestd JWT key {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"slurmrestd JWT key {path} is not a regular file (a link is not followed)")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"slurmrestd JWT key {path} is readable or writable by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 it"
        )
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"slurmrestd JWT key {path}: {exc.strerror}") from exc
    if len(key) < 16:
        raise ConfigError(f"slurmrestd JWT key {path} is too short to be Slurm's key")
    return key


class JwtMinter:
    """Mints (and briefly reuses) HS256 tokens like ``scontrol token`` for one cluster."""

    def __init__(self, key: bytes, *, lifespan_s: int = 300, clock: Callable[[], float] = time.time) -> None:
        if lifespan_s < 10:
            raise ConfigError("a slurmrestd token must live at least 10 seconds")
        self._key = key
        self.lifespan_s = lifespan_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_file(cls, path: Path, *, lifespan_s: int = 300) -> JwtMinter:
        return cls(read_key(path), lifespan_s=lifespan_s)

    def token(self, login: str) -> str:
        """A token for ``login``, valid for at least half the lifespan."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(login)
            if cached is not None and cached[1] - now > self.lifespan_s * _REUSE_WHILE_LEFT:
                return cached[0]
            issued = int(now)
            claims = {"sun": values.login(login), "iat": issued, "exp": issued + self.lifespan_s}
            made = jwt.encode(claims, self._key, algorithm="HS256")
            self._cache[login] = (made, float(issued + self.lifespan_s))
            return made
