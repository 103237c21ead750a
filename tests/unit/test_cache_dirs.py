"""deploy/test.sh keeps its caches of runnable code where no other login can have put them.

The attack (found 2026-12-05): the bytecode cache was ``/tmp/myriagate-pycache-<uid>`` unless
set. bob (a dev-cluster login; his jobs and shells run on this very host) created that
directory before root ran the suite and put a .pyc in it whose header matched a module's
source: Python ran bob's code as root. Same for mypy's cache.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _cache_lines() -> str:
    """The lines of deploy/test.sh that choose the caches (from ``unset PYTHONDONTWRITEBYTECODE``
    to the tests' temporary files), run as they are."""
    lines = (ROOT / "deploy" / "test.sh").read_text().splitlines()
    start = lines.index("unset PYTHONDONTWRITEBYTECODE")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("# The tests' temporary files"))
    return "\n".join(lines[start:end])


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = f'set -euo pipefail\n{_cache_lines()}\necho "$PYTHONPYCACHEPREFIX"\necho "$MYPY_CACHE_DIR"\n'
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX", "MYPY_CACHE_DIR")}
    base.pop("XDG_CACHE_HOME", None)
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=30
    )


def _private(path: Path) -> bool:
    st = path.lstat()
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another login's directory needs root (chown)")
def test_a_cache_directory_another_login_made_first_in_tmp_is_never_used(tmp_path: Path) -> None:
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    planted = []
    for name in ("myriagate-pycache", "myriagate-mypy-cache"):
        trap = shared_tmp / f"{name}-{os.getuid()}"
        trap.mkdir()
        os.chown(trap, NOBODY, NOBODY)  # bob's, made before the suite ran
        planted.append(str(trap))
    home = tmp_path / "home"
    home.mkdir()
    out = _run({"TMPDIR": str(shared_tmp), "HOME": str(home)})
    assert out.returncode == 0, out.stderr
    chosen = out.stdout.split()
    assert len(chosen) == 2 and not set(chosen) & set(planted)
    for path in chosen:
        assert Path(path).is_relative_to(home) and _private(Path(path)), path


@pytest.mark.skipif(os.geteuid() != 0, reason="a directory of another login needs root (chown)")
def test_a_cache_directory_given_but_owned_by_another_login_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    out = _run({"HOME": str(tmp_path), "PYTHONPYCACHEPREFIX": str(theirs)})
    assert out.returncode != 0
    assert f"PYTHONPYCACHEPREFIX={theirs} is a link, not a directory of" in out.stderr


@pytest.mark.parametrize("trap", ["link", "group-writable"])
def test_a_cache_directory_given_as_a_link_or_writable_by_others_is_refused(
    tmp_path: Path, trap: str
) -> None:
    given = tmp_path / "cache"
    if trap == "link":
        (tmp_path / "elsewhere").mkdir()
        given.symlink_to(tmp_path / "elsewhere")
    else:
        given.mkdir()
        given.chmod(0o775)
    out = _run({"HOME": str(tmp_path), "MYPY_CACHE_DIR": str(given)})
    assert out.returncode != 0
    assert f"MYPY_CACHE_DIR={given} is a link" in out.stderr


def test_a_fresh_machine_gets_private_caches_in_the_users_cache_directory(tmp_path: Path) -> None:
    out = _run({"HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        str(tmp_path / ".cache" / "myriagate" / "pycache"),
        str(tmp_path / ".cache" / "myriagate" / "mypy"),
    ]
    assert all(_private(Path(p)) for p in out.stdout.split())
