"""Tokens for slurmrestd: minted per login like ``scontrol token``, short-lived, from a key file
the gateway alone may read; and the profile's ``[connection.rest]`` (issue #16)."""

from __future__ import annotations

import os
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError

from myriagate.errors import ConfigError, UnsafeValue
from myriagate.profiles.models import ClusterProfile, Connection
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.slurm.rest_tokens import JwtMinter, read_key
from myriagate.wiring import ClusterBackends
from tests.fakes.profiles import dev_profile

KEY = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_names_the_login_and_expires_after_its_lifespan() -> None:
    minter = JwtMinter(KEY, lifespan_s=300, clock=Clock(1_800_000_000.5))

    token = minter.token("alice")

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {"sun": "alice", "iat": 1_800_000_000, "exp": 1_800_000_300}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, b"another key of the same length!!", algorithms=["HS256"])


def test_a_token_is_reused_while_half_its_life_is_left_then_minted_again() -> None:
    clock = Clock(1_800_000_000)
    minter = JwtMinter(KEY, lifespan_s=300, clock=clock)
    first = minter.token("alice")

    clock.now += 149
    assert minter.token("alice") == first
    assert minter.token("bob") != first  # one per login, never shared
    clock.now += 2
    renewed = minter.token("alice")
    assert renewed != first
    assert (
        jwt.decode(renewed, KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})[
            "exp"
        ]
        == 1_800_000_451
    )


def test_an_expired_token_does_not_verify() -> None:
    token = JwtMinter(KEY, lifespan_s=60, clock=Clock(1_000_000_000)).token("alice")

    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, KEY, algorithms=["HS256"])


@pytest.mark.parametrize("login", ["alice; rm -rf /", "-alice", "al ice", "$(id)", ""])
def test_a_login_that_is_not_a_plain_login_gets_no_token(login: str) -> None:
    with pytest.raises(UnsafeValue):
        JwtMinter(KEY).token(login)


def test_the_key_file_must_be_0600_or_stricter(tmp_path: Path) -> None:
    key = tmp_path / "jwt_hs256.key"
    key.write_bytes(KEY)
    for mode in (0o644, 0o640, 0o604, 0o660):
        key.chmod(mode)
        with pytest.raises(ConfigError, match="chmod 600"):
            read_key(key)
    key.chmod(0o600)
    assert read_key(key) == KEY
    key.chmod(0o400)
    assert read_key(key) == KEY


def test_a_link_a_directory_a_missing_or_short_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    link = tmp_path / "link"
    os.symlink(key, link)
    short = tmp_path / "short"
    short.write_bytes(b"tiny")
    short.chmod(0o600)
    for bad in (link, tmp_path, tmp_path / "missing", short):
        with pytest.raises(ConfigError):
            read_key(bad)


def _connection(**rest: object) -> dict[str, object]:
    return {
        "backend": "rest",
        "service_login": "myriagate",
        "rest": {"url": "http://127.0.0.1:6820", "jwt_key": "/etc/myriagate/jwt.key"} | rest,
    }


def test_a_rest_profile_without_ssh_needs_no_host_when_files_are_not_read() -> None:
    conn = Connection.model_validate(_connection(files="none"))
    assert conn.rest is not None and conn.rest.jwt_lifespan_min == 5 and conn.rest.home == "/home/{login}"
    with pytest.raises(ValidationError, match="host and known_hosts"):
        Connection.model_validate(_connection())  # files over the SSH runner: it must be pinned


@pytest.mark.parametrize(
    "bad",
    [
        {"url": "ftp://host"},
        {"url": "http://user:pw@host:6820"},
        {"url": "http://host/?x=1"},
        {"home": "home/{login}"},
        {"home": "/home/shared"},
        {"jwt_lifespan_min": 0},
        {"secret": "x"},
    ],
)
def test_bad_rest_settings_are_refused_with_their_key(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Connection.model_validate(_connection(files="none", **bad))


def test_backend_rest_and_its_table_go_together() -> None:
    with pytest.raises(ValidationError, match="go together"):
        Connection.model_validate({"backend": "rest", "service_login": "mg", "runner": "local"})
    with pytest.raises(ValidationError, match="go together"):
        Connection.model_validate(_connection(files="none") | {"backend": "cli", "runner": "local"})


def _rest_profile(key: Path, **rest: object) -> ClusterProfile:
    connection = Connection.model_validate(_connection(jwt_key=str(key), **rest) | {"runner": "local"})
    return dev_profile().model_copy(update={"connection": connection})


def test_the_gateway_refuses_to_start_with_a_key_others_may_read(tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_bytes(KEY)
    key.chmod(0o644)

    with pytest.raises(ConfigError, match="chmod 600"):
        ClusterBackends(_rest_profile(key, files="none"), Settings(dev_mode=True))


def test_the_gateway_builds_a_rest_backend_per_login_with_files_as_the_profile_says(tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_bytes(KEY)
    key.chmod(0o600)

    without = ClusterBackends(_rest_profile(key, files="none"), Settings(dev_mode=True))
    alice = without.for_login("alice")
    assert isinstance(alice, SlurmRestBackend) and alice.login == "alice" and alice.files is None
    assert without.for_login("bob") is not alice and without.for_login("alice") is alice
    with_files = ClusterBackends(_rest_profile(key, files="runner"), Settings(dev_mode=True))
    assert isinstance(with_files.for_login("alice").files, SlurmCliBackend)  # type: ignore[attr-defined]
    without.close()
    with_files.close()
