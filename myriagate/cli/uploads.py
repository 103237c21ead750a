"""`myriagate submit --input …`: find the input files, then stream them to a new upload.

Directories are walked recursively and their relative layout is kept (``--input data/`` sends
``data/…``). A symlink is followed only when it stays inside the directory given; one that
leads outside is refused here, before anything is sent, so a stray link cannot ship a file
the researcher did not mean to share. Each file's sha256 is computed here and sent in
``X-Content-SHA256``: the gateway keeps nothing that differs from what was read.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from myriagate.cli.client import GatewayClient, GatewayUnreachable, error_from_response
from myriagate.domain.staging import relative_path
from myriagate.errors import FieldError, InvalidRequest, UnsafeValue
from myriagate.web.api.schemas import JobSubmit, StagingIn, UploadCreated, UploadFileOut

CHUNK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    local: Path
    remote: str  # path under the job's directory
    size_bytes: int


def collect_inputs(paths: Sequence[Path]) -> list[InputFile]:
    """Every file the ``--input`` arguments name, with the path it gets on the cluster."""
    found: dict[str, InputFile] = {}
    for given in paths:
        if not given.exists():
            raise InvalidRequest(f"--input {given}: no such file or directory")
        base = _remote_base(given)
        if given.is_dir():
            items = _walk(given, base)
        elif given.is_file():
            items = [InputFile(given, base, given.stat().st_size)]
        else:
            raise InvalidRequest(f"--input {given}: not a regular file or a directory")
        for item in items:
            try:
                remote = relative_path(item.remote, "input path")
            except UnsafeValue as exc:
                raise InvalidRequest(f"--input {item.local}: {exc.detail}") from None
            if remote in found:
                raise InvalidRequest(
                    f"{remote!r} is named twice (from {found[remote].local} and {item.local})"
                )
            found[remote] = InputFile(item.local, remote, item.size_bytes)
    return [found[k] for k in sorted(found)]


def _remote_base(given: Path) -> str:
    """A relative path is kept as typed (``data/x.csv``); otherwise its last component."""
    parts = [p for p in given.as_posix().split("/") if p not in ("", ".")]
    if given.is_absolute() or ".." in parts or not parts:
        return given.resolve().name
    return "/".join(parts)


def _walk(root: Path, base: str) -> list[InputFile]:
    real_root = root.resolve()
    items: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames):
            link = here / name
            if link.is_symlink():
                _inside(link, real_root, root)
                dirnames.remove(name)  # its files are reached through its real path
        for name in filenames:
            path = here / name
            if path.is_symlink():
                _inside(path, real_root, root)
            if not path.is_file():
                continue  # sockets, fifos, dangling links: nothing to send
            rel = path.relative_to(root).as_posix()
            items.append(InputFile(path, f"{base}/{rel}", path.stat().st_size))
    return items


def _inside(link: Path, real_root: Path, root: Path) -> None:
    target = link.resolve()
    if not target.is_relative_to(real_root):
        raise UnsafeValue(
            f"--input {root}: {link} is a symlink to {target}, outside {root}; "
            "copy the file in or remove the link",
            fields=[FieldError(("input",), "symlink leads outside the directory")],
        )


def sha256_of(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def progress_bar(*, enabled: bool) -> Progress:
    """A transfer bar on stderr (stdout stays for results and --json)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(file=sys.stderr, no_color=bool(os.environ.get("NO_COLOR"))),
        transient=True,
        disable=not enabled,
    )


def auth_headers(client: GatewayClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}", "Accept": "*/*"}


def _send(
    client: GatewayClient,
    method: str,
    path: str,
    *,
    content: Iterator[bytes] | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A request with a raw body (GatewayClient.request sends JSON only), errors mapped the same way."""
    all_headers = {"Authorization": f"Bearer {client.token}", "Accept": "application/json", **(headers or {})}
    try:
        # The client's own httpx.Client (tests hand in the app's), shared with its JSON calls.
        response = client._http.request(
            method,
            f"{client.base_url}/api/v1{path}",
            content=content,
            headers=all_headers,
        )
    except httpx.TransportError as exc:
        raise GatewayUnreachable(f"cannot reach {client.base_url}: {exc}") from exc
    if response.is_error:
        raise error_from_response(response)
    return response


def upload_inputs(client: GatewayClient, files: Sequence[InputFile], *, show_progress: bool) -> UUID:
    """A new upload holding ``files``; its id for the submission's ``staging.upload_id``."""
    created = UploadCreated.model_validate(client.request("POST", "/uploads").json())
    total = sum(f.size_bytes for f in files)
    with progress_bar(enabled=show_progress) as bar:
        hashing = bar.add_task("checksums", total=total)
        digests = [sha256_of(f.local, lambda n: bar.advance(hashing, n)) for f in files]
        bar.remove_task(hashing)
        sending = bar.add_task(f"upload of {len(files)} file(s)", total=total)
        for item, digest in zip(files, digests, strict=True):

            def body(path: Path = item.local) -> Iterator[bytes]:
                with path.open("rb") as handle:
                    for chunk in iter(lambda: handle.read(CHUNK), b""):
                        bar.advance(sending, len(chunk))
                        yield chunk

            response = _send(
                client,
                "PUT",
                f"/uploads/{created.id}/files/{quote(item.remote)}",
                content=body(),
                headers={"X-Content-SHA256": digest, "Content-Type": "application/octet-stream"},
            )
            stored = UploadFileOut.model_validate(response.json())
            if stored.sha256 != digest:  # the server verified it too; this guards a confused proxy
                raise InvalidRequest(
                    f"{item.remote}: the gateway stored sha256 {stored.sha256}, not {digest}"
                )
    return created.id


@dataclass(frozen=True)
class StagingFlags:
    """`submit`'s staging options as typed."""

    inputs: Sequence[Path] = ()
    input_datasets: Sequence[str] = ()
    results: Sequence[str] = ()
    store: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.input_datasets or self.results or self.store)


def with_staging(
    client: GatewayClient,
    request: JobSubmit,
    flags: StagingFlags,
    files: Sequence[InputFile],
    *,
    show_progress: bool,
) -> JobSubmit:
    """The submission with its ``staging`` part; input files are uploaded first (not in a dry run)."""
    if flags.empty:
        return request
    dataset_ids: list[UUID] = []
    for raw in flags.input_datasets:
        try:
            dataset_ids.append(UUID(raw.strip()))
        except ValueError:
            raise InvalidRequest(f"--input-dataset {raw!r} is not a dataset id (a UUID)") from None
    upload_id = None
    if files and not request.dry_run:
        upload_id = upload_inputs(client, files, show_progress=show_progress)
    staging = StagingIn(
        upload_id=upload_id,
        input_datasets=dataset_ids,
        output_patterns=list(flags.results),
        store=flags.store,
    )
    return request.model_copy(update={"staging": staging})
