"""Issue #18 attacked again (2026-12-05): where the JupyterLab script writes the session's key,
token and connection file, and what its exit removes.

The gateway reads the connection file only if the home and every directory down to it are the
login's, writable by nobody else and no links (``read_private``). The script wrote its files
whatever that way was: with a home its group can write, the session started, wrote a file the
gateway then refused, and sat 'starting' (and charged) until its time limit; and a link planted
on the way (by whoever can write a directory there) took the new key and token elsewhere, and
the script's exit removed files named ``key.pem``, ``cert.pem``, ``token`` and
``connection.json`` wherever the link led. The rendered script runs here under bash with the
fake environment of test_attack_interactive_template_18.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.unit.test_attack_interactive_template_18 import SESSION, _run, environment, pytestmark

__all__ = ["environment", "pytestmark"]  # the fixture and the skip condition, used here too


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    return home


def _precious(home: Path) -> Path:
    """Another directory of the login's, holding files of the names the script writes."""
    kept = home / "web-server"
    kept.mkdir()
    for name in ("key.pem", "cert.pem", "token", "connection.json"):
        (kept / name).write_text(f"the login's own {name}\n")
    return kept


def _intact(kept: Path) -> bool:
    return all(
        (kept / name).read_text() == f"the login's own {name}\n"
        for name in ("key.pem", "cert.pem", "token", "connection.json")
    )


def test_a_home_its_group_can_write_stops_the_session_at_once_saying_why(
    environment: Path, tmp_path: Path
) -> None:
    home = _home(tmp_path)
    home.chmod(0o775)
    done, connection = _run(environment, home, "listen", bob=False)
    assert done.returncode != 0, done
    assert "myriagate: JupyterLab ready" not in done.stdout
    assert "writable by others" in done.stderr and "chmod go-w" in done.stderr, done.stderr
    assert not (home / "port").exists()  # JupyterLab was never started
    assert not connection.parent.exists() or not any(connection.parent.iterdir())


def test_a_session_directory_planted_as_a_link_is_refused_and_nothing_there_is_touched(
    environment: Path, tmp_path: Path
) -> None:
    home = _home(tmp_path)
    kept = _precious(home)
    kept.chmod(0o755)
    sessions = home / ".myriagate" / "interactive"
    sessions.mkdir(parents=True)
    (sessions / SESSION).symlink_to(kept)  # planted before the job started
    done, _ = _run(environment, home, "listen", bob=False)
    assert done.returncode != 0 and "myriagate: JupyterLab ready" not in done.stdout, done
    assert "not a directory of yours" in done.stderr, done.stderr
    assert _intact(kept), "the script wrote or removed the login's files through the link"
    assert kept.stat().st_mode & 0o777 == 0o755  # not made private through the link either


def test_a_link_higher_on_the_way_is_refused_too(environment: Path, tmp_path: Path) -> None:
    home = _home(tmp_path)
    kept = _precious(home)
    (home / ".myriagate").mkdir()
    (home / ".myriagate" / "interactive").symlink_to(kept)
    done, _ = _run(environment, home, "listen", bob=False)
    assert done.returncode != 0 and "not a directory of yours" in done.stderr, done
    assert _intact(kept) and not (kept / SESSION).exists()


def test_a_home_reached_through_a_link_still_works(environment: Path, tmp_path: Path) -> None:
    """As the gateway allows it (a site's /home/alice -> /data/alice): only the way below it
    must be the login's alone."""
    real = _home(tmp_path)
    (tmp_path / "link").symlink_to(real)
    done, connection = _run(environment, tmp_path / "link", "listen", bob=False)
    assert done.returncode == 0 and "myriagate: JupyterLab ready" in done.stdout, done
    assert not connection.parent.exists()  # removed at the end, as before
    assert os.path.isdir(real / ".myriagate" / "interactive")
