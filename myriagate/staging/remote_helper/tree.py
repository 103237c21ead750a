"""``Tree``: one root directory on the far side, walked through descriptors that never follow a link.

Standard library of Python >= 3.7 only (see the package docstring): this text is shipped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re

from myriagate.staging.remote_helper.basics import (
    RESERVED,
    HelperError,
    check_rel,
    os_error_kind,
    refuse_shared,
    sha256_fd,
    stat_key,
    write_new,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _real_path_of(dir_fd: int) -> str:
    """Where a directory descriptor really is: the kernel's answer, not the path we walked."""
    with contextlib.suppress(OSError):  # Linux
        return os.readlink(f"/proc/self/fd/{dir_fd}")
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchdir(dir_fd)
        return os.getcwd()
    finally:
        os.fchdir(here)
        os.close(here)


class Tree:
    """One root directory, reached through directory file descriptors opened with O_NOFOLLOW.

    ``base`` is the operator's root (a storage endpoint's configured root, a login's home, a
    directory the researcher named with ``--chdir``): it may be reached through symlinks, since
    whoever configured it chose it. ``anchor`` is the part the gateway adds below it (the
    account and dataset directories on storage, ``myriagate-jobs/<job id>`` on the cluster):
    it is walked one component at a time with O_NOFOLLOW, created 0700 when asked, and every
    component must be a real directory owned by the login the helper runs as. A link or a
    directory of somebody else's at any of those levels is refused (``unsafe``) with the
    component named, so a researcher with a shell on the host cannot steer the bytes elsewhere.

    Every path under the anchored root is then walked the same way from its descriptor, so a
    symlink anywhere below is never followed (not even one pointing inside), and swapping a
    directory for a symlink between a check and a write changes nothing: there is no separate
    check. ``real`` is where the anchored root really is (read back from its descriptor), which
    the gateway compares with what it asked for before it records anything.
    """

    def __init__(self, base: str, anchor: str = "", *, create: bool = False) -> None:
        if not os.path.isabs(base):
            raise HelperError("unsafe", "", "the root must be an absolute path")
        if anchor:
            check_rel(anchor)
        if create and not anchor and not os.path.lexists(base):
            # A --chdir the researcher named may not exist yet: theirs, created as asked.
            try:
                os.makedirs(base, 0o700, exist_ok=True)
            except OSError as exc:
                raise HelperError(
                    os_error_kind(exc), "", "cannot create the root: " + str(exc.strerror)
                ) from exc
        try:
            self.base_real = os.path.realpath(base)
            fd = os.open(self.base_real, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            kind = "missing" if exc.errno == errno.ENOTDIR else os_error_kind(exc)
            raise HelperError(kind, "", "cannot open the root: " + str(exc.strerror)) from exc
        if anchor:
            fd = self._walk_anchor(fd, anchor, create)
        self.root_fd = fd
        self.real = _real_path_of(fd)
        self.anchor = anchor
        self._dirs: dict[str, int] = {"": self.root_fd}
        self._missing: set[str] = set()  # directories known absent (lookups only, never creation)
        self._partials: dict[str, int] | None = None

    def _walk_anchor(self, fd: int, anchor: str, create: bool) -> int:
        """The anchor's descriptor, walked from the base's; each level checked (see the class)."""
        uid = os.geteuid()
        done = ""
        for name in anchor.split("/"):
            done = done + "/" + name if done else name
            try:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o700, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise HelperError(
                        "unsafe", done, "'" + done + "' is a symlink or not a directory"
                    ) from exc
                raise HelperError(os_error_kind(exc), done, str(exc.strerror)) from exc
            os.close(fd)
            fd = child
            owner = os.fstat(fd).st_uid
            if owner != uid:
                os.close(fd)
                detail = f"'{done}' belongs to uid {owner}, not to the login writing (uid {uid})"
                raise HelperError("unsafe", done, detail)
        return fd

    def _open_dir(self, reldir: str, create: bool, what: str) -> int | None:
        fd = self._dirs.get(reldir)
        if fd is not None:
            return fd
        if not create and reldir in self._missing:
            return None
        head, _, name = reldir.rpartition("/")
        parent = self._open_dir(head, create, what)
        if parent is None:
            return None
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700 if reldir.split("/")[0] == RESERVED else 0o777, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if create:
                raise HelperError("missing", what, "a directory vanished while being created") from None
            self._missing.add(reldir)
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise HelperError("unsafe", what, "'" + reldir + "' is a symlink or not a directory") from exc
            raise HelperError(os_error_kind(exc), what, str(exc.strerror)) from exc
        if len(self._dirs) > 600:  # bounded (ulimit -n is often 1024): close all but the root
            for key in [k for k in self._dirs if k]:
                os.close(self._dirs.pop(key))
        self._dirs[reldir] = fd
        return fd

    def parent(self, rel: str, *, create: bool = False) -> tuple[int | None, str]:
        """(descriptor of rel's directory or None when it does not exist, rel's last component)."""
        check_rel(rel)
        reldir, _, name = rel.rpartition("/")
        return self._open_dir(reldir, create, rel), name

    def stat(self, rel: str) -> os.stat_result | None:
        """lstat of ``rel`` (a symlink is reported as such, never followed); None when absent."""
        dir_fd, name = self.parent(rel)
        if dir_fd is None:
            return None
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, str(exc.strerror)) from exc

    def open_file(self, rel: str) -> int:
        dir_fd, name = self.parent(rel)
        if dir_fd is None:
            raise HelperError("missing", rel, "no such file")
        try:
            # O_NONBLOCK: a fifo put at the name after the caller looked would otherwise hold
            # this open until someone writes to it; the caller's fstat refuses what is not a file.
            return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as exc:
            kind = "unsafe" if exc.errno == errno.ELOOP else os_error_kind(exc)
            raise HelperError(
                kind, rel, "a symlink (not followed)" if kind == "unsafe" else exc.strerror
            ) from exc

    def sha256_of(self, rel: str) -> str:
        fd = self.open_file(rel)
        try:
            return sha256_fd(fd)
        finally:
            os.close(fd)

    def shard(self, key: str) -> int:
        """The shard directory of ``key`` (created if needed)."""
        fd = self._shard(key, True)
        assert fd is not None
        return fd

    def _shard(self, key: str, create: bool) -> int | None:
        # 256 shard directories, as git's objects: on ext4 10,000 new files in one directory
        # write several times slower than spread over many (one block group for all of them).
        if not re.fullmatch("[0-9a-f]{40}", key):
            raise HelperError("unsafe", key, "bad partial key")
        return self._open_dir(RESERVED + "/partial/" + key[:2], create, RESERVED)

    def partial_root(self) -> int:
        fd = self._open_dir(RESERVED + "/partial", True, RESERVED)
        assert fd is not None
        return fd

    def partial_size(self, key: str) -> int:
        """Bytes of partial data for ``key`` (0 when none). The partial directory is read once
        (one scandir per shard), which beats a stat per file when most files have none."""
        if self._partials is None:
            self._partials = {}
            root = self._open_dir(RESERVED + "/partial", False, RESERVED)
            if root is not None:
                for shard in os.scandir(root):
                    if len(shard.name) == 2 and shard.is_dir(follow_symlinks=False):
                        shard_fd = self._open_dir(RESERVED + "/partial/" + shard.name, False, RESERVED)
                        for entry in os.scandir(shard_fd) if shard_fd is not None else ():
                            if entry.is_file(follow_symlinks=False):
                                self._partials[entry.name] = entry.stat(follow_symlinks=False).st_size
        return self._partials.get(key, 0)

    def has_partials(self) -> bool:
        """Whether any partial data exists (when none, ``list`` skips deriving 10,000 keys)."""
        self.partial_size("")
        return bool(self._partials)

    def open_partial(self, key: str, flags: int = os.O_WRONLY | os.O_CREAT) -> tuple[int, int]:
        """(shard directory, the partial file of ``key``), never through a symlink; 0666 & ~umask."""
        dir_fd = self._shard(key, bool(flags & os.O_CREAT))
        if dir_fd is None:
            raise HelperError("missing", key, "no partial data")
        try:
            fd = os.open(key, flags | os.O_NOFOLLOW, 0o666, dir_fd=dir_fd)
        except FileExistsError:
            raise  # O_EXCL: the caller takes the slow path
        except OSError as exc:
            raise HelperError(os_error_kind(exc), key, exc.strerror) from exc
        refuse_shared(fd, key)
        return dir_fd, fd

    def read_manifest(self) -> dict[str, list[Any]]:
        try:
            meta = self._open_dir(RESERVED, False, RESERVED)
            if meta is None:
                return {}
            fd = os.open("manifest.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=meta)
            with open(fd, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError, HelperError):
            return {}
        return data if isinstance(data, dict) else {}

    def known_sha(self, manifest: dict[str, list[Any]], rel: str, st: os.stat_result) -> str | None:
        entry = manifest.get(rel)
        if isinstance(entry, list) and len(entry) == 5 and entry[:4] == stat_key(st):
            return str(entry[4])
        return None

    def update_manifest(self, entries: dict[str, list[Any]]) -> None:
        """Merge entries under an exclusive lock, replace the file atomically."""
        meta = self._open_dir(RESERVED, True, RESERVED)
        assert meta is not None  # created
        lock_fd = os.open("manifest.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=meta)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            manifest = self.read_manifest()
            manifest.update(entries)
            write_new(meta, "manifest.json", json.dumps(manifest, separators=(",", ":")))
        finally:
            os.close(lock_fd)
