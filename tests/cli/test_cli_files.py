# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files areas|ls|get|cat` and the client's file calls (issue #17) against the
in-process API over FakeClusterFiles: names shown literally, every page of a listing, refusals
as the other commands print them, downloads resumed with a byte range, wildcards matched here
and never sent, and names from a hostile listing never written outside the destination."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.file_targets import Pattern, RemotePath, match_files
from myriagate.cli.main import app as cli_app
from myriagate.client import Client
from myriagate.db.models.users import User
from myriagate.domain.files import FileKind
from myriagate.errors import PermissionDenied, StagingError
from myriagate.web.api.files_schemas import FileEntryOut
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory, FakeTree
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS
from tests.web.conftest import MakeUser
from tests.web.test_api_files import fake  # noqa: F401 - fixture by name

URL = "http://testserver"
H5 = bytes(range(256)) * 300  # 76,800 bytes: several chunks of the fake's download


class Recording(httpx.BaseTransport):
    """The app's transport, remembering each request; ``cut_after`` ends the first download's
    body after that many bytes with a read error, as a dropped connection would."""

    def __init__(self, inner: httpx.BaseTransport, cut_after: int | None = None) -> None:
        self.inner = inner
        self.cut_after = cut_after
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        self.statuses.append(response.status_code)
        if self.cut_after is None or not request.url.path.endswith("/download") or response.is_error:
            return response
        body, self.cut_after = response.read()[: self.cut_after], None

        def cut() -> Iterator[bytes]:
            yield body
            raise httpx.ReadError("connection reset by peer")

        return httpx.Response(response.status_code, headers=response.headers, stream=_Stream(cut()))

    def downloads(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/download")]


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    saved = structlog.get_config()  # the in-process server logs to stdout, where results go
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def tree(fake: FakeClusterFilesFactory) -> FakeTree:
    tree = fake.tree("alice")
    tree.files.update(
        {
            b"run1/out.txt": b"line 1\nline 2\n",
            b"run1/caf\xe9 \n$(id).txt": b"odd",
            b"run1/-rf": b"dash",
            b"run1/.hidden": b"h",
            b"data.bin": b"\x00" * 10,
            b"results/a.h5": H5,
            b"results/b.h5": H5[:1000],
            b"results/.c.h5": b"hidden",
            b"results/notes.txt": b"not matched",
            b"results/sub.h5/inner": b"a directory named like a match",
        }
    )
    tree.links[b"run1/escape"] = b"/etc/passwd"
    tree.dirs.add(b"bobs")
    tree.refuse[b"bobs"] = PermissionDenied("the cluster does not let your login read 'bobs'")
    return tree


@pytest.fixture
def token(make_user: MakeUser, token_for: Callable[[User], str], tree: FakeTree) -> str:
    return token_for(make_user("researcher", login="alice"))


@pytest.fixture
def transport(app: FastAPI) -> Recording:
    return Recording(TestClient(app)._transport)


@pytest.fixture
def run(token: str, transport: Recording, tmp_path: Path) -> Callable[..., Result]:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": URL, "MYRIAGATE_TOKEN": token,
           "NO_COLOR": "1", "COLUMNS": "80"}  # fmt: skip

    def invoke(*args: str, http: httpx.BaseTransport | None = None) -> Result:
        client = httpx.Client(transport=http or transport)
        return CliRunner().invoke(cli_app, list(args), env=env, obj=CliDeps(http=client))

    return invoke


def test_areas_lists_the_callers_areas(run: Callable[..., Result]) -> None:
    done = run("files", "areas")
    assert done.exit_code == 0, done.output
    assert "home" in done.stdout and "/scratch/alice" in done.stdout
    listed = json.loads(run("files", "areas", "--json").stdout)
    assert [a["name"] for a in listed] == ["home", "scratch"]


def test_ls_shows_names_literally_escaped_as_the_api_returns_them(run: Callable[..., Result]) -> None:
    done = run("files", "ls", "run1")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["-rf", "caf\\xe9 \\n$(id).txt", "escape", "out.txt"]  # no .hidden
    shown = run("files", "ls", "-a", "home:run1").stdout.splitlines()
    assert ".hidden" in shown
    assert run("files", "ls").stdout.splitlines() == ["bobs/", "data.bin", "results/", "run1/"]


def test_ls_long_fits_80_columns_with_permissions_size_time_and_link_targets(
    run: Callable[..., Result],
) -> None:
    done = run("files", "ls", "-l", "run1")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), done.stdout
    assert "permissions" in lines[0] and "modified" in lines[0]
    row = next(line for line in lines if "out.txt" in line)
    assert row.split()[:3] == ["-rw-r--r--", "14", "B"]
    assert any("escape -> /etc/passwd" in line for line in lines)


def test_ls_follows_every_page_and_sorts(
    run: Callable[..., Result], tree: FakeTree, fake: FakeClusterFilesFactory
) -> None:
    for i in range(1203):  # three pages of 500
        tree.files[f"many/f{i:04d}".encode()] = b"x" * (i % 7)
    names = run("files", "ls", "many").stdout.splitlines()
    assert names == [f"f{i:04d}" for i in range(1203)]
    assert sum(1 for call in fake.calls if call[1] == "list") == 3
    by_size = json.loads(run("files", "ls", "many", "--sort", "size", "-r", "--json").stdout)
    sizes = [e["size_bytes"] for e in by_size]
    assert len(by_size) == 1203 and sizes == sorted(sizes, reverse=True)


def test_the_client_iterates_pages_with_cursors(token: str, transport: Recording, tree: FakeTree) -> None:
    with Client(URL, token, http=httpx.Client(transport=transport)) as client:
        entries = client.list_files("home", "results", sort="size", page_size=2)
        assert [e.name for e in entries] == [".c.h5", "notes.txt", "b.h5", "sub.h5", "a.h5"]
        cursors = [r.url.params.get("cursor") for r in transport.requests if r.url.path.endswith("/list")]
        assert cursors[0] is None and len(set(cursors)) == 3
        assert client.stat_file("home", "results/a.h5").size_bytes == len(H5)
        assert client.preview_file("home", "run1/out.txt", tail=True, max_bytes=7).text == "line 2\n"
        with pytest.raises(Exception, match="cannot sort files by 'owner'"):
            client.list_files("home", sort="owner")


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["ls", "home:../bob"], 5, "'..'"),
        (["ls", "/etc"], 5, "absolute"),
        (["ls", "run1/escape"], 5, "link"),
        (["ls", "bobs"], 4, "does not let your login read"),
        (["ls", "nowhere:x"], 3, "home, scratch"),
        (["ls", "-M", "elsewhere"], 3, "elsewhere"),
        (["cat", "data.bin"], 5, "binary"),
        (["get", "run1/escape"], 5, "link"),
        (["get", "home:"], 5, "names no file"),
        (["get", "results/*.zip"], 3, "no file matches"),
        (["get", "res*/a.h5"], 5, "wildcards only in the last name"),
    ],
)
def test_refusals_are_printed_as_other_commands_do_with_their_exit_code(
    run: Callable[..., Result], tmp_path: Path, argv: list[str], code: int, said: str
) -> None:
    if argv[0] == "get":
        argv = [*argv, str(tmp_path / "dest") + "/"]
    done = run("files", *argv)
    assert done.exit_code == code, done.output
    assert done.stderr.startswith("Error: ") and said in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_hostile_paths_travel_as_data_or_are_refused(
    run: Callable[..., Result], fake: FakeClusterFilesFactory
) -> None:
    for text in HOSTILE_STRINGS:
        if "\x00" in text:
            continue  # no argv can hold NUL
        done = run("files", "ls", f"home:{text}")
        assert done.exception is None or isinstance(done.exception, SystemExit), (text, done.exception)
        assert done.exit_code in (3, 5), (text, done.output)
        listed = [call[3] for call in fake.calls if call[1] == "list"]
        if done.exit_code == 3:  # accepted by the gateway's rules: sent as exactly these bytes
            assert listed[-1] == text.strip("/").encode()
    assert not Path(CANARY).exists()


def test_cat_prints_the_head_or_the_tail(run: Callable[..., Result]) -> None:
    assert run("files", "cat", "run1/out.txt").stdout == "line 1\nline 2\n"
    tail = run("files", "cat", "--tail", "-c", "7", "home:run1/out.txt")
    assert tail.exit_code == 0 and tail.stdout == "line 2\n"
    assert "last 7 of 14 bytes" in tail.stderr and "files get home:run1/out.txt" in tail.stderr


def test_get_writes_one_file_and_never_overwrites_without_force(
    run: Callable[..., Result], tree: FakeTree, tmp_path: Path
) -> None:
    done = run("files", "get", "results/a.h5", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "a.h5").read_bytes() == H5
    assert "home:results/a.h5 ->" in done.stdout
    assert not list(tmp_path.glob(".*.part*"))
    (tmp_path / "a.h5").write_bytes(b"mine")
    again = run("files", "get", "results/a.h5", str(tmp_path))
    assert again.exit_code == 6 and "already exist" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "a.h5").read_bytes() == b"mine"
    forced = run("files", "get", "--force", "results/a.h5", str(tmp_path / "a.h5"), "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)[0]["size_bytes"] == len(H5) and (tmp_path / "a.h5").read_bytes() == H5


def test_get_with_a_wildcard_lists_and_matches_here(
    run: Callable[..., Result], transport: Recording, fake: FakeClusterFilesFactory, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run("files", "get", "home:results/*.h5", f"{out}/")
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == ["a.h5", "b.h5"]  # not .c.h5, not notes.txt
    assert (out / "b.h5").read_bytes() == H5[:1000]
    assert "skipped home:results/sub.h5: a directory" in done.stderr
    assert all(b"*" not in call[3] for call in fake.calls)  # the pattern never left this machine
    assert all("*" not in str(r.url) for r in transport.requests)
    (out / "b.h5").write_bytes(b"mine")
    again = run("files", "get", "home:results/*.h5", str(out))
    assert again.exit_code == 6 and "b.h5" in again.stderr
    assert (out / "b.h5").read_bytes() == b"mine" and (out / "a.h5").read_bytes() == H5
    assert len(transport.downloads()) == 2  # the refused run fetched nothing


@pytest.mark.parametrize(
    ("hostile", "pattern"),
    [("../escaped.h5", ".*.h5"), ("..", ".*"), ("sub/../../escaped.h5", "*.h5"), ("sub/inner.h5", "*.h5"),
     ("a\\b.h5", "*.h5")],
)  # fmt: skip
def test_a_hostile_listing_never_writes_outside_dest(
    run: Callable[..., Result], tmp_path: Path, hostile: str, pattern: str
) -> None:
    entry = {"name": hostile, "path": f"results/{hostile}", "exact": True, "type": "file", "size_bytes": 3,
             "modified_at": "2026-01-01T00:00:00Z", "permissions": "-rw-r--r--", "mode": "0644",
             "uid": 1, "gid": 1}  # fmt: skip
    asked: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path.endswith("/clusters"):
            cluster: dict[str, object] = {"name": "devcluster", "display_name": None, "slurm_version": "25",
                                          "is_default": True, "partitions": []}  # fmt: skip
            return httpx.Response(200, json=[cluster])
        if request.url.path.endswith("/list"):
            listing = {"cluster": "devcluster", "area": "home", "path": "results", "total": 1,
                       "entries": [entry], "next_cursor": None}  # fmt: skip
            return httpx.Response(200, json=listing)
        return httpx.Response(200, content=b"bad", headers={"content-length": "3"})

    local = tmp_path / "local"
    local.mkdir()
    dest = local / "deep" / "dest"
    done = run("files", "get", f"home:results/{pattern}", str(dest), http=httpx.MockTransport(gateway))
    assert done.exit_code == 5, done.output
    assert "not a plain file name" in done.stderr or "not in home:results" in done.stderr
    assert not any(p.endswith("/download") for p in asked)
    assert list(local.rglob("*")) == []  # nothing written, not even dest


def test_an_interrupted_download_is_resumed_with_a_range(
    run: Callable[..., Result], transport: Recording, tmp_path: Path
) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    transport.cut_after = 30_000
    first = run("files", "get", "results/a.h5", str(dest))
    assert first.exit_code == 7, first.output
    assert "stopped after 30000 bytes" in first.stderr and "run the same download again" in first.stderr
    assert not (dest / "a.h5").exists()
    assert (dest / ".a.h5.part").read_bytes() == H5[:30_000]
    second = run("files", "get", "results/a.h5", str(dest))
    assert second.exit_code == 0, second.output
    resumed = transport.downloads()[-1]
    assert (resumed.headers["range"], resumed.headers["if-range"]) == ("bytes=30000-", '"fake-76800"')
    assert (dest / "a.h5").read_bytes() == H5
    assert [p.name for p in dest.iterdir()] == ["a.h5"]  # the partial copy and its ETag are gone


def test_a_download_stopped_with_ctrl_c_says_how_to_go_on(
    run: Callable[..., Result], transport: Recording, tmp_path: Path
) -> None:
    """Issue #17 trial: ^C during `files get` ended it without a word (exit 130), though the part
    received is kept and the same command asks only for the rest."""

    class CtrlC(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = transport.handle_request(request)
            if not request.url.path.endswith("/download"):
                return response
            body = response.read()[:30_000]

            def cut() -> Iterator[bytes]:
                yield body
                raise KeyboardInterrupt  # ^C while the bytes arrive

            return httpx.Response(response.status_code, headers=response.headers, stream=_Stream(cut()))

    dest = tmp_path / "d"
    stopped = run("files", "get", "results/a.h5", f"{dest}/", http=CtrlC())
    assert stopped.exit_code == 130, stopped.output
    assert "Interrupted: home:results/a.h5 was not finished" in stopped.stderr
    assert "run the same command again" in stopped.stderr and "(0 of 1 file(s)" in stopped.stderr
    assert (dest / ".a.h5.part").read_bytes() == H5[:30_000]
    again = run("files", "get", "results/a.h5", f"{dest}/")
    assert again.exit_code == 0 and (dest / "a.h5").read_bytes() == H5


def test_a_partial_copy_of_a_file_that_changed_is_downloaded_again_whole(
    token: str, transport: Recording, tree: FakeTree, tmp_path: Path
) -> None:
    (tmp_path / ".a.h5.part").write_bytes(b"stale bytes of an older file")
    (tmp_path / ".a.h5.part.etag").write_text('"fake-1"')  # the ETag the old bytes came with
    with Client(URL, token, http=httpx.Client(transport=transport)) as client:
        written = client.download_file("home", "results/a.h5", tmp_path)
    assert written == tmp_path / "a.h5" and written.read_bytes() == H5
    assert transport.downloads()[0].headers["range"] == "bytes=28-"  # asked, refused by If-Range
    assert not (tmp_path / ".a.h5.part").exists() and not (tmp_path / ".a.h5.part.etag").exists()


def test_a_partial_copy_longer_than_the_file_starts_afresh(
    token: str, transport: Recording, tmp_path: Path
) -> None:
    (tmp_path / ".b.h5.part").write_bytes(b"x" * 5000)
    (tmp_path / ".b.h5.part.etag").write_text('"fake-1000"')
    with Client(URL, token, http=httpx.Client(transport=transport)) as client:
        written = client.download_file("home", "results/b.h5", tmp_path)
        made = client.download_file("home", "results/b.h5", f"{tmp_path}/new/")  # a directory, made
    assert written.read_bytes() == H5[:1000] and made == tmp_path / "new" / "b.h5"
    assert [r.headers.get("range") for r in transport.downloads()][:2] == ["bytes=5000-", None]  # 416, whole


def test_a_download_short_of_its_announced_size_is_not_kept(token: str, tmp_path: Path) -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"12345", headers={"content-length": "9"})

    # h11 is not in the way here: MockTransport hands the body as is, shorter than announced.
    dest = tmp_path / "d"
    dest.mkdir()
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    with Client(URL, token, http=http) as client, pytest.raises(StagingError, match="received 5 bytes"):
        client.download_file("home", "x.bin", dest, cluster="devcluster")
    assert list(dest.iterdir()) == []


# --- trial faults (issues #15/#17) -------------------------------------------------------------
def _names(done: Result) -> list[str]:
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()


def test_paths_copied_from_a_shell_are_placed_in_their_area(
    run: Callable[..., Result], fake: FakeClusterFilesFactory
) -> None:
    roots = {a["name"]: a["root"] for a in json.loads(run("files", "areas", "--json").stdout)}
    assert _names(run("files", "ls", "~")) == _names(run("files", "ls"))
    assert _names(run("files", "ls", "~/run1")) == _names(run("files", "ls", "home:run1"))
    assert _names(run("files", "ls", f"{roots['scratch']}/")) == _names(run("files", "ls", "scratch:"))
    if roots["home"].startswith("/"):
        assert _names(run("files", "ls", f"{roots['home']}/run1")) == _names(run("files", "ls", "run1"))
    listed = [(call[2], call[3]) for call in fake.calls if call[1] == "list"]
    assert (roots["scratch"], b"") in listed


@pytest.mark.parametrize("path", ["/etc", "~bob/x", "/scratch/alicex", "/"])
def test_a_path_outside_every_area_is_refused_naming_the_areas(
    run: Callable[..., Result], fake: FakeClusterFilesFactory, path: str
) -> None:
    done = run("files", "ls", path)
    assert done.exit_code == 5, done.output
    assert "home (" in done.stderr and "scratch (/scratch/alice)" in done.stderr, done.stderr
    assert done.stdout == "" and not [call for call in fake.calls if call[1] == "list"]


def test_get_to_dash_writes_the_file_to_stdout(
    run: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    done = run("files", "get", "results/a.h5", "-")
    assert done.exit_code == 0, done.output
    assert done.stdout_bytes == H5 and list(here.iterdir()) == []
    several = run("files", "get", "results/*.h5", "-")
    assert several.exit_code == 5 and "one file" in several.stderr and list(here.iterdir()) == []


def test_cat_shows_control_characters_and_raw_gives_the_text(
    run: Callable[..., Result], tree: FakeTree
) -> None:
    tree.files[b"run1/colours.txt"] = b"\x1b[31mred\x1b]0;OWNED\x07\rgone\n\ttab\n"
    shown = run("files", "cat", "run1/colours.txt")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "^[[31mred^[]0;OWNED^G^Mgone\n\ttab\n"
    raw = run("files", "cat", "--raw", "run1/colours.txt")
    assert raw.exit_code == 0 and raw.stdout_bytes == tree.files[b"run1/colours.txt"]


def test_entries_a_wildcard_leaves_out_say_why_in_their_own_words() -> None:
    def entry(name: str, kind: FileKind) -> FileEntryOut:
        at = datetime.now(UTC)
        return FileEntryOut(name=name, path=f"d/{name}", exact=True, type=kind, size_bytes=0,
                            modified_at=at, permissions="", mode="0644", uid=1, gid=1)  # fmt: skip

    listed = [
        entry("a.fifo", FileKind.OTHER),
        entry("b.link", FileKind.SYMLINK),
        entry("c.dir", FileKind.DIRECTORY),
    ]
    matched = match_files(listed, Pattern("d", "*"), RemotePath("home", "d/*"))
    said = {e.name: why for e, why in matched.skipped}
    assert said == {
        "a.fifo": "not a regular file (a fifo, socket or device)",
        "b.link": "a symbolic link (links are never followed)",
        "c.dir": "a directory, not a file (nothing is fetched recursively)",
    }
