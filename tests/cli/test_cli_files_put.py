# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files put` and ``client.file_upload`` (issue #17) against the in-process API over
the fake cluster: several files and wildcards matched here, into a directory or to a name,
existing files kept unless --force, every source checked before a byte moves, an upload cut
mid-body resumed from where the cluster stands (in the same run, and by running it again)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.client import Client
from myriagate.client.file_upload import state_dir, upload_file
from myriagate.db.models.users import User
from myriagate.web.api.file_uploads import get_file_uploads
from myriagate.wiring import Gateway
from myriagate.wiring_uploads import file_uploads
from tests.cli.test_cli_files import quiet_server_logs  # noqa: F401 - autouse fixture
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.fakes.fake_cluster_uploads import FakeClusterUploadsFactory
from tests.web.conftest import MakeUser
from tests.web.test_api_files import fake  # noqa: F401 - fixture by name

URL = "http://testserver"


@pytest.fixture
def cluster(app: FastAPI, gateway: Gateway, fake: FakeClusterFilesFactory) -> FakeClusterUploadsFactory:
    uploads = FakeClusterUploadsFactory(fake)
    fake.tree("alice").dirs.update({b"runs", b"runs/in"})
    fake.tree("alice").files[b"runs/kept.txt"] = b"old"
    built = file_uploads(gateway, lambda _profile, _settings, _backends: uploads)
    app.dependency_overrides[get_file_uploads] = lambda: built  # cleared by the app fixture
    return uploads


class CutOnce(httpx.BaseTransport):
    """The app's transport; the first PATCH reaches the gateway with only ``keep`` bytes, then
    the connection drops (the client sees a transport error), as a cut network would."""

    def __init__(self, inner: httpx.BaseTransport, keep: int) -> None:
        self.inner, self.keep, self.cut = inner, keep, False
        self.methods: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        if request.method == "PATCH" and not self.cut:
            self.cut = True
            body = request.read()[: self.keep]
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            partial = httpx.Request("PATCH", request.url, headers=headers, content=body)
            self.inner.handle_request(partial).read()
            raise httpx.WriteError("connection reset by peer")
        return self.inner.handle_request(request)


@pytest.fixture
def env(
    tmp_path: Path, make_user: MakeUser, token_for: Callable[[User], str], cluster: object
) -> dict[str, str]:
    token = token_for(make_user("researcher", login="alice"))
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_STATE_HOME": str(tmp_path / "state"),
            "MYRIAGATE_URL": URL, "MYRIAGATE_TOKEN": token, "NO_COLOR": "1", "COLUMNS": "80"}  # fmt: skip


@pytest.fixture
def run(app: FastAPI, env: dict[str, str]) -> Callable[..., Result]:
    def invoke(*args: str, http: httpx.BaseTransport | None = None) -> Result:
        client = httpx.Client(transport=http or TestClient(app)._transport)
        return CliRunner().invoke(cli_app, list(args), env=env, obj=CliDeps(http=client))

    return invoke


@pytest.fixture
def local(tmp_path: Path) -> Path:
    here = tmp_path / "local"
    here.mkdir()
    for name, size in [("a.h5", 70_000), ("b.h5", 10), ("notes.txt", 5), ("$(id) -rf.h5", 3)]:
        (here / name).write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return here


def test_several_files_and_a_wildcard_go_into_a_directory(
    run: Callable[..., Result], local: Path, fake: FakeClusterFilesFactory
) -> None:
    done = run("files", "put", str(local / "*.h5"), str(local / "notes.txt"), "home:runs/in")
    assert done.exit_code == 0, done.output
    files = fake.tree("alice").files
    for name in ("a.h5", "b.h5", "notes.txt", "$(id) -rf.h5"):
        assert files[f"runs/in/{name}".encode()] == (local / name).read_bytes()
    assert f"{local / 'a.h5'} -> home:runs/in/a.h5 (68.4 KiB)" in done.stdout


def test_one_file_to_a_name_then_kept_unless_force(
    run: Callable[..., Result], local: Path, fake: FakeClusterFilesFactory
) -> None:
    done = run("files", "put", str(local / "b.h5"), "scratch:new-name.h5", "--json")
    assert done.exit_code == 0, done.output
    [item] = json.loads(done.stdout)
    assert (
        item["path"] == "new-name.h5"
        and item["sha256"] == hashlib.sha256((local / "b.h5").read_bytes()).hexdigest()
    )
    refused = run("files", "put", str(local / "b.h5"), "runs/kept.txt")
    assert refused.exit_code == 6 and "already exists" in refused.stderr
    assert fake.tree("alice").files[b"runs/kept.txt"] == b"old"
    assert run("files", "put", "-f", str(local / "b.h5"), "runs/kept.txt").exit_code == 0
    assert fake.tree("alice").files[b"runs/kept.txt"] == (local / "b.h5").read_bytes()


def test_sources_are_checked_before_anything_is_sent(
    run: Callable[..., Result], local: Path, cluster: FakeClusterUploadsFactory, tmp_path: Path
) -> None:
    (local / "sub").mkdir()
    for args, said in [((str(local / "a.h5"), str(local / "missing"), "runs/"), "not a regular file"),
                       ((str(local / "sub"), "runs/"), "is a directory"),
                       ((str(local / "*.nothing"), "runs/"), "matches no local file"),
                       ((str(local / "a.h5"),), "give the local file(s)")]:  # fmt: skip
        done = run("files", "put", *args)
        assert done.exit_code == 5 and said in done.stderr, done.output
    assert [c for c in cluster.calls if c[1] == "begin"] == []


def test_a_refused_target_is_said_and_nothing_is_written(
    run: Callable[..., Result], local: Path, fake: FakeClusterFilesFactory
) -> None:
    done = run("files", "put", str(local / "b.h5"), "home:../bob/x")
    assert done.exit_code == 5 and "'..'" in done.stderr
    assert b"x" not in fake.tree("alice").files


def test_a_cut_upload_is_resumed_in_the_same_run(
    run: Callable[..., Result], app: FastAPI, local: Path, fake: FakeClusterFilesFactory
) -> None:
    cut = CutOnce(TestClient(app)._transport, keep=30_000)
    done = run("files", "put", str(local / "a.h5"), "runs/in/", http=cut)
    assert done.exit_code == 0, done.output
    assert fake.tree("alice").files[b"runs/in/a.h5"] == (local / "a.h5").read_bytes()
    assert cut.methods == ["GET", "POST", "PATCH", "GET", "PATCH"]  # clusters, begin, cut, ask, the rest


def test_an_upload_interrupted_for_good_is_resumed_by_the_next_run(
    app: FastAPI,
    env: dict[str, str],
    local: Path,
    fake: FakeClusterFilesFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])

    class Down(CutOnce):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if self.cut and request.method in ("GET", "PATCH"):
                raise httpx.ConnectError("gateway gone")
            return super().handle_request(request)

    def client(http: httpx.BaseTransport) -> Client:
        return Client(URL, env["MYRIAGATE_TOKEN"], http=httpx.Client(transport=http, base_url=URL))

    with pytest.raises(Exception, match="gateway gone"):
        upload_file(
            client(Down(TestClient(app)._transport, keep=40_000)), "home", "runs/a.h5", local / "a.h5"
        )
    assert list(state_dir().iterdir())  # the id is kept for the next run
    again = CutOnce(TestClient(app)._transport, keep=0)
    again.cut = True  # no cut this time
    placed = upload_file(client(again), "home", "runs/a.h5", local / "a.h5")
    assert placed.complete and fake.tree("alice").files[b"runs/a.h5"] == (local / "a.h5").read_bytes()
    assert "POST" not in again.methods[1:]  # resumed, not begun again
    assert list(state_dir().iterdir()) == []


def test_the_python_client_uploads_and_changes_files_with_its_own_methods(
    app: FastAPI, gateway: Gateway, env: dict[str, str], fake: FakeClusterFilesFactory, tmp_path: Path
) -> None:
    """``Client`` offers the write calls as methods (docs/client.md), over the same API."""
    from myriagate.client import AlreadyExists, Client, Conflict
    from myriagate.web.api.file_changes import get_file_changes
    from myriagate.wiring_files import file_changes

    changes = file_changes(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_changes] = lambda: changes
    source = tmp_path / "in.dat"
    source.write_bytes(b"\x00data\n" * 1000)
    tree = fake.tree("alice")
    with Client(URL, env["MYRIAGATE_TOKEN"], http=httpx.Client(transport=TestClient(app)._transport)) as mg:
        placed = mg.upload_file(source, "home", "runs/in/in.dat")
        assert placed.complete and tree.files[b"runs/in/in.dat"] == source.read_bytes()
        with pytest.raises(AlreadyExists):
            mg.upload_file(source, "home", "runs/kept.txt")
        assert tree.files[b"runs/kept.txt"] == b"old"
        mg.make_directory("home", "runs/out/deep", parents=True)
        mg.rename_file("home", "runs/in/in.dat", "runs/out/deep/moved.dat")
        mg.copy_on_cluster("home", "runs/out", "runs/copy", recursive=True)
        assert tree.files[b"runs/copy/deep/moved.dat"] == source.read_bytes()
        assert [e.path for e in mg.glob_files("home", "runs/*").entries] == [
            "runs/copy",
            "runs/in",
            "runs/kept.txt",
            "runs/out",
        ]
        assert mg.disk_usage("home", "runs/copy").apparent_size_bytes == len(source.read_bytes())
        with pytest.raises(Conflict):
            mg.remove_file("home", "runs/copy")
        counted = mg.remove_file("home", "runs/copy", recursive=True, dry_run=True)
        assert counted.files == 1 and b"runs/copy/deep/moved.dat" in tree.files
        mg.remove_file("home", "runs/copy", recursive=True)
        assert not any(p.startswith(b"runs/copy") for p in tree.files)


def test_an_upload_stopped_with_ctrl_c_says_how_to_go_on(
    run: Callable[..., Result], local: Path, app: FastAPI, fake: FakeClusterFilesFactory
) -> None:
    """Issue #17 trial: ^C during `files put` ended it without a word (exit 130), leaving the
    researcher to guess that the same command resumes. ^C arrives here while the second
    file's first part is on its way."""

    class CtrlC(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner, self.patches = inner, 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PATCH":
                self.patches += 1
                if self.patches == 2:
                    raise KeyboardInterrupt  # ^C while b.h5's bytes are on their way
            return self.inner.handle_request(request)

    stopped = run(
        "files", "put", str(local / "a.h5"), str(local / "b.h5"), "home:runs/in",
        http=CtrlC(TestClient(app)._transport),
    )  # fmt: skip
    assert stopped.exit_code == 130, stopped.output
    assert "Interrupted: " in stopped.stderr and "b.h5 was not finished" in stopped.stderr
    assert "run the same command again" in stopped.stderr and "(1 of 2 file(s)" in stopped.stderr
    assert b"runs/in/a.h5" in fake.tree("alice").files
