"""Addresses of the file browser's pages, and the link from a job to its directory.

Every address is built here, with the path as an encoded query parameter (docs/files.md): a
name may hold '?', '#', '%', '&' or quotes, which must reach the use case as written.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlencode

from myriagate.domain.files import area_path, display_name
from myriagate.errors import MyriagateError
from myriagate.services.people.auth import User
from myriagate.wiring import Gateway

# Images the preview shows in an <img>, by the name's extension. Not SVG: it may hold scripts.
IMAGE_TYPES = {
    b".png": "image/png",
    b".jpg": "image/jpeg",
    b".jpeg": "image/jpeg",
    b".gif": "image/gif",
    b".webp": "image/webp",
}
HOME = "{home}"


def image_type(name: bytes) -> str | None:
    dot = name.rfind(b".")
    return IMAGE_TYPES.get(name[dot:].lower()) if dot > 0 else None


def _base(cluster: str, area: str) -> str:
    return f"/files/{quote(cluster, safe='')}/{quote(area, safe='')}"


def _query(**params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return "?" + urlencode(kept) if kept else ""


def area_url(cluster: str, area: str, path: str = "") -> str:
    return _base(cluster, area) + _query(path=path)


def page_url(cluster: str, area: str, path: str, *, sort: str, order: str, cursor: str | None = None) -> str:
    return _base(cluster, area) + _query(path=path, sort=sort, order=order, cursor=cursor)


def view_url(cluster: str, area: str, path: str, *, end: str | None = None) -> str:
    return _base(cluster, area) + "/view" + _query(path=path, end=end)


def download_url(cluster: str, area: str, path: str, *, inline: bool = False) -> str:
    return _base(cluster, area) + "/download" + _query(path=path, inline="true" if inline else None)


def action_url(cluster: str, area: str, action: str, path: str = "") -> str:
    """A page or form target of the write operations (``mkdir``, ``upload``, ``change``,
    ``delete``, ``usage``, ``save-dataset``…), about ``path`` when one is given."""
    return _base(cluster, area) + "/" + action + _query(path=path)


def crumbs(cluster: str, area: str, path: bytes) -> list[tuple[str, str | None]]:
    """(shown name, address) of each directory from the area's root down to ``path``; the
    last one (where the reader is) has no address. A component whose shown name is not the
    name itself is shown without a link (it cannot be asked for by that spelling)."""
    parts = path.split(b"/") if path else []
    out: list[tuple[str, str | None]] = []
    for i, part in enumerate(parts[:-1], start=1):
        prefix = b"/".join(parts[:i])
        try:
            href: str | None = area_url(cluster, area, prefix.decode())
        except UnicodeDecodeError:
            href = None
        out.append((display_name(part), href))
    if parts:
        out.append((display_name(parts[-1]), None))
    return out


def inside(root: str, directory: str) -> str | None:
    """``directory`` relative to ``root`` when it lies in it ('' for the root itself), else None."""
    root = posixpath.normpath(root)
    directory = posixpath.normpath(directory)
    if directory == root:
        return ""
    prefix = root if root.endswith("/") else root + "/"
    return directory[len(prefix) :] if directory.startswith(prefix) else None


def job_directory_link(
    gateway: Gateway, user: User, cluster: str, job_login: str, work_dir: str | None
) -> str | None:
    """The file browser's page of a job's working directory, when it lies in one of the
    reader's areas on the job's cluster (the innermost one); None otherwise, or when the
    reader's home cannot be learnt now (the cluster unreachable: the page shows no link).

    The reader's home is asked only for their own jobs: another login's directory lies in
    the reader's home only by accident, and asking would open a connection per page view."""
    if not work_dir or not work_dir.startswith("/") or cluster not in gateway.profiles:
        return None
    home: str | None = None
    found: tuple[int, str, str] | None = None
    for area in gateway.profiles[cluster].files.areas:
        root = area.root_for(user.cluster_login)
        if root.startswith(HOME):
            if job_login != user.cluster_login:
                continue
            if home is None:
                try:
                    home = gateway.backends(cluster).for_login(user.cluster_login).home_dir()
                except MyriagateError:
                    return None
            root = home.rstrip("/") + root[len(HOME) :]
        relative = inside(root, work_dir)
        if relative is None:
            continue
        try:
            area_path(relative)
        except MyriagateError:  # a name the browser refuses (a control character…): no link
            continue
        if found is None or len(root) > found[0]:
            found = (len(root), area.name, relative)
    return None if found is None else area_url(cluster, found[1], found[2])
