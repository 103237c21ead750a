"""What the file browser's write forms share (issue #17): whether an area takes changes, the
fields they post, where a change sends the reader back to, and how a refusal is shown.

The forms work without JavaScript: each is a POST carrying the session's CSRF token (checked by
``PageUser`` before the route runs), answered by a redirect to the directory with a notice
(``file_notices``) or, when refused, by the site's error page in the reader's language with a
way back to where the form was. The rules are the API's: the routes call the same use cases.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response

from myriagate.errors import FieldError, InvalidRequest, MyriagateError, Text
from myriagate.web.pages import file_notices
from myriagate.web.pages.errors import error_page
from myriagate.web.pages.file_links import action_url, area_url
from myriagate.web.pages.forms import see_other
from myriagate.web.problems import normalise
from myriagate.wiring import Gateway

# A form upload without JavaScript arrives whole before the page can read it (Starlette spools
# it to a temporary file): this bounds what one post may make the gateway hold on its disk.
# With JavaScript, files go through the resumable upload API, up to the gateway's upload limit.
FORM_UPLOAD_MAX_BYTES = 1 << 30


def writable(gateway: Gateway, cluster: str, area: str) -> bool:
    """The area exists on a known cluster and its profile says changes are allowed there."""
    if cluster not in gateway.profiles:
        return False
    found = gateway.profile(cluster).files.area(area)
    return found is not None and found.writable


def ticked(values: dict[str, str], name: str) -> bool:
    """A checkbox of the form: present (any value but empty) when ticked."""
    return bool(values.get(name))


def parent_of(path: str) -> str:
    """The directory holding ``path`` in the area ('' for the root)."""
    return path.rstrip("/").rpartition("/")[0]


def inside(directory: str, name: str) -> str:
    """``name`` in ``directory`` (both relative to the area's root)."""
    directory = directory.strip("/")
    return f"{directory}/{name}" if directory else name


def required(values: dict[str, str], name: str) -> str:
    """A text field that must be filled in (a name, a path): as typed, only refused when blank,
    so a name's own spaces, quotes or dashes reach the use case's checks untouched."""
    value = values.get(name, "")
    if not value.strip():
        raise InvalidRequest(
            Text("fill in the name or the path: it is empty"),
            fields=[FieldError(("body", name), Text("required"))],
        )
    return value


def refused(request: Request, exc: MyriagateError, back: str) -> Response:
    """The site's error page for a refused change (status, code, detail in the page's
    language), with a link back to where the form was."""
    return error_page(request, normalise(request, exc), back=back)


def done(gateway: Gateway, back: str, *notices: file_notices.Notice) -> Response:
    """After a change: back to the directory (a GET: reloading changes nothing), saying what
    was done there once."""
    response = see_other(back)
    file_notices.remember(response, list(notices), secure=gateway.settings.secure_cookies)
    return response


def write_controls(gateway: Gateway, cluster: str, area: str, here: str) -> dict[str, Any]:
    """What a directory page offers beside the listing: its disk usage and saving it as a
    dataset (both only read the area), and, in a writable area only, the upload form and drop
    zone, a new folder and each entry's changes."""
    controls: dict[str, Any] = {
        "writable": writable(gateway, cluster, area),
        "usage_href": action_url(cluster, area, "usage", here),
        "save_href": action_url(cluster, area, "save-dataset", here),
    }
    if controls["writable"]:
        controls.update(
            here=here,
            mkdir_action=action_url(cluster, area, "mkdir"),
            upload_action=action_url(cluster, area, "upload"),
            uploads_api=f"/api/v1/clusters/{quote(cluster, safe='')}/files/{quote(area, safe='')}/uploads",
            form_upload_max=FORM_UPLOAD_MAX_BYTES,
            upload_max=gateway.settings.upload_max_bytes,
            reload_href=area_url(cluster, area, here),
        )
    return controls
