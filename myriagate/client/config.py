"""Where the CLI (and ``Client()``) find the gateway URL and the personal token: one small TOML file.

``$XDG_CONFIG_HOME/myriagate/config.toml`` (default ``~/.config/myriagate/config.toml``),
written 0600 in a 0700 directory because the token is a password. ``MYRIAGATE_URL`` and
``MYRIAGATE_TOKEN`` override the file, so CI jobs need no file at all. ``myriagate login`` writes the file;
``myriagate.client.Client()`` without arguments reads it, so a notebook needs no secret in it.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from myriagate.errors import ConfigError, NotAuthenticated

URL_ENV = "MYRIAGATE_URL"
TOKEN_ENV = "MYRIAGATE_TOKEN"  # noqa: S105 - the variable's name, not a secret
_KEYS = ("url", "token", "token_id")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file's path, following the XDG base directory rules."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    # XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "myriagate" / "config.toml"


@dataclass(frozen=True)
class CliConfig:
    """What the CLI knows about the gateway; ``*_from_env`` tell where a value came from."""

    path: Path
    url: str | None = None
    token: str | None = None
    token_id: str | None = None
    url_from_env: bool = False
    token_from_env: bool = False

    def require_url(self) -> str:
        if not self.url:
            raise ConfigError(
                f"no gateway URL: run `myriagate login --url https://…` or set {URL_ENV} "
                f"(config: {self.path})"
            )
        return self.url

    def require_token(self) -> str:
        if not self.token:
            raise NotAuthenticated(f"not logged in: run `myriagate login` or set {TOKEN_ENV}")
        return self.token


def normalise_url(url: str) -> str:
    """``https://host/`` and ``https://host/api/v1`` both mean the gateway at ``https://host``."""
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"gateway URL must start with https:// (or http:// for a local gateway): {url!r}")
    return url


def load_config(env: Mapping[str, str] | None = None) -> CliConfig:
    """The config file merged with the environment (the environment wins)."""
    env = os.environ if env is None else env
    path = config_path(env)
    stored: dict[str, str] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        stored = {k: v for k, v in data.items() if k in _KEYS and isinstance(v, str)}
    config = CliConfig(
        path=path, url=stored.get("url"), token=stored.get("token"), token_id=stored.get("token_id")
    )
    if env.get(URL_ENV):
        config = replace(config, url=normalise_url(env[URL_ENV]), url_from_env=True)
    if env.get(TOKEN_ENV):
        config = replace(config, token=env[TOKEN_ENV].strip(), token_id=None, token_from_env=True)
    return config


def save_config(path: Path, *, url: str | None, token: str | None, token_id: str | None = None) -> None:
    """Write the file atomically, readable by its owner only (0600, directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # mkdir's mode is masked by umask and skipped if it existed
    values = {"url": url, "token": token, "token_id": token_id}
    # json.dumps of a str is a valid TOML basic string (same escapes), so no TOML writer needed.
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items() if value)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("# myriagate CLI: gateway URL and personal token (keep private)\n" + text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
