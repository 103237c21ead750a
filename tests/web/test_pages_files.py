"""The file browser's pages (issue #17) in process, over a fake cluster, in English and French:
areas, directories (sorted, paged, hostile names shown literally and escaped, links never
followed), previews of text and images, downloads, every refusal as an HTML error page, and
the link from a job's page to its working directory."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import Job
from myriagate.db.models.users import User
from myriagate.errors import PermissionDenied
from myriagate.web.api.files import get_file_browser
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_browser
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in
from tests.web.test_pages_access import assert_escaped
from tests.web.test_pages_jobs import JOB_URL, submit_page

HOME = "/files/devcluster/home"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
HOSTILE = {
    b"run1/<script>alert(1)": b"x",
    b'run1/"><img src=x onerror=alert(1)>': b"y",
    b'run1/it\'s "quoted" $(id)': b"z",
    b"run1/new\nline": b"n",
    b"run1/caf\xe9": b"latin-1",
    b"run1/-rf": b"dash",
}


@pytest.fixture
def fake(app: FastAPI, gateway: Gateway) -> FakeClusterFilesFactory:
    fake = FakeClusterFilesFactory()
    browser = file_browser(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_browser] = lambda: browser  # cleared by the app fixture
    tree = fake.tree("alice")
    tree.files.update(
        {
            b"run1/out.txt": b"line 1\nline 2\n",
            b"run1/big.log": b"".join(b"row %06d\n" % i for i in range(20_000)),  # 220 kB
            b"run1/plot.png": PNG,
            b"run1/data.bin": bytes(range(256)) * 4,
            b"run1/empty.txt": b"",
            **HOSTILE,
        }
    )
    tree.links[b"run1/escape"] = b"/etc/<script>alert(1)</script>"
    tree.dirs.add(b"bobs")
    tree.refuse[b"bobs"] = PermissionDenied("the cluster does not let your login read 'bobs'")
    return fake


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user("researcher", username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture(params=["en", "fr"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def browser(app: FastAPI, alice: User, fake: FakeClusterFilesFactory, lang: str) -> TestClient:
    return logged_in(app, alice, lang=lang)


WORDS = {
    "en": {"files": "Files", "home": "Home", "modified": "Modified", "head": "Start of the file"},
    "fr": {
        "files": "Fichiers",
        "home": "Répertoire personnel",
        "modified": "Modifié",
        "head": "Début du fichier",
    },
}


def test_the_header_and_the_areas_page_list_each_area_with_its_root(browser: TestClient, lang: str) -> None:
    page = browser.get("/files")
    assert page.status_code == 200
    assert f'<a href="/files">{WORDS[lang]["files"]}</a>' in page.text  # the header's entry
    assert (
        f'<a href="{HOME}">{html.escape(WORDS[lang]["home"])}</a> <code class="file-root">~</code>'
        in page.text
    )
    assert '<a href="/files/devcluster/scratch">' in page.text and "/scratch/alice" in page.text


def test_a_directory_lists_hostile_names_literally_and_escaped(
    browser: TestClient, fake: FakeClusterFilesFactory, lang: str
) -> None:
    page = browser.get(HOME, params={"path": "run1"})
    assert page.status_code == 200, page.text
    assert_escaped(page.text)
    text = page.text
    assert "&lt;script&gt;alert(1)" in text and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    assert "it&#39;s &#34;quoted&#34; $(id)" in text
    # A newline and a byte that is not UTF-8 are shown escaped, and cannot be opened by that spelling.
    assert ">new\\nline</span>" in text and ">caf\\xe9</span>" in text
    assert "caf\\xe9</a>" not in text
    # A leading dash is only a name: linked by its path, in the query string.
    assert f'href="{HOME}/view?path=run1%2F-rf"' in text
    # The link is shown with its target, never linked nor followed.
    assert "escape" in text and "→ <code>/etc/&lt;script&gt;alert(1)&lt;/script&gt;</code>" in text
    # Never opened nor followed (its own "Change" page renames or deletes the link itself).
    assert "view?path=run1%2Fescape" not in text and f"{HOME}?path=run1%2Fescape" not in text
    assert all(call[0] == "alice" for call in fake.calls)
    assert WORDS[lang]["modified"] in text
    # Sizes in the page's units; breadcrumbs back to the area's root.
    assert ("220 kB" if lang == "en" else "220 ko") in text
    assert f'<li><a href="{HOME}">{html.escape(WORDS[lang]["home"])}</a></li>' in text


def test_sorting_is_a_link_and_the_order_is_the_clusters(browser: TestClient) -> None:
    page = browser.get(HOME, params={"path": "run1", "sort": "size", "order": "desc"})
    names = re.findall(r'<td class="file-name">\s*(?:<a href="[^"]*">|<span[^>]*>)([^<]*)', page.text)
    assert names[0] == "big.log" and names[1] == "data.bin"
    assert 'aria-sort="descending"' in page.text
    assert f'href="{HOME}?path=run1&amp;sort=size&amp;order=asc"' in page.text  # flips the order


def test_a_big_directory_is_paged_with_the_use_cases_cursors(
    browser: TestClient, fake: FakeClusterFilesFactory
) -> None:
    fake.tree("alice").files.update({b"many/f%04d" % i: b"." for i in range(205)})
    first = browser.get(HOME, params={"path": "many"})
    assert first.text.count('<td class="file-name">') == 200 and "f0199" in first.text
    found = re.search(r'href="([^"]*cursor=[^"]*)" rel="next"', first.text)
    assert found is not None
    second = browser.get(html.unescape(found.group(1)))
    assert (
        second.text.count('<td class="file-name">') == 5
        and "f0204" in second.text
        and "f0199" not in second.text
    )
    assert 'rel="next"' not in second.text


def test_a_text_file_previews_its_head_and_its_tail(browser: TestClient, lang: str) -> None:
    page = browser.get(f"{HOME}/view", params={"path": "run1/big.log"})
    assert page.status_code == 200
    assert "row 000000\nrow 000001" in page.text and "row 019999" not in page.text
    assert WORDS[lang]["head"] in page.text
    assert f'href="{HOME}/download?path=run1%2Fbig.log"' in page.text
    tail = browser.get(f"{HOME}/view", params={"path": "run1/big.log", "end": "tail"})
    assert "row 019999\n" in tail.text and "row 000000" not in tail.text
    empty = browser.get(f"{HOME}/view", params={"path": "run1/empty.txt"})
    assert empty.status_code == 200 and 'id="preview-text"' not in empty.text


def test_a_hostile_file_name_is_escaped_on_its_own_page(browser: TestClient) -> None:
    page = browser.get(f"{HOME}/view", params={"path": "run1/<script>alert(1)"})
    assert page.status_code == 200
    assert_escaped(page.text)
    assert "<code>&lt;script&gt;alert(1)</code>" in page.text


def test_binary_data_is_not_previewed_but_offered_for_download(browser: TestClient, lang: str) -> None:
    page = browser.get(f"{HOME}/view", params={"path": "run1/data.bin"})
    assert page.status_code == 200
    assert ("download it instead" if lang == "en" else "téléchargez-le") in page.text
    assert 'id="download"' in page.text


def test_an_image_is_previewed_through_the_download_with_its_type(browser: TestClient) -> None:
    page = browser.get(f"{HOME}/view", params={"path": "run1/plot.png"})
    src = f"{HOME}/download?path=run1%2Fplot.png&amp;inline=true"
    assert f'<img class="file-image" src="{src}"' in page.text
    image = browser.get(html.unescape(src))
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith('attachment; filename="plot.png"')
    assert image.headers["x-content-type-options"] == "nosniff"
    # Not an image type: never sent as one, even when asked inline.
    other = browser.get(f"{HOME}/download", params={"path": "run1/out.txt", "inline": "true"})
    assert other.headers["content-type"] == "application/octet-stream"


def test_a_download_is_streamed_as_an_attachment_with_ranges(browser: TestClient) -> None:
    whole = browser.get(f"{HOME}/download", params={"path": "run1/-rf"})
    assert whole.status_code == 200 and whole.content == b"dash"
    assert whole.headers["content-disposition"] == "attachment; filename=\"-rf\"; filename*=UTF-8''-rf"
    assert whole.headers["content-security-policy"].startswith("sandbox")
    part = browser.get(f"{HOME}/download", params={"path": "run1/out.txt"}, headers={"Range": "bytes=7-"})
    assert part.status_code == 206 and part.content == b"line 2\n"
    assert part.headers["content-range"] == "bytes 7-13/14"
    past = browser.get(
        f"{HOME}/download",
        params={"path": "run1/out.txt"},
        headers={"Range": "bytes=99-", "Accept": "text/html"},
    )
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */14"
    assert past.headers["content-type"].startswith("text/html")


REFUSALS = [
    # (path asked, status, English words, French words)
    (f"{HOME}?path=nowhere", 404, "no file or directory", "Introuvable"),
    (f"{HOME}?path=run1/out.txt", 422, "not a directory", "Requête invalide"),
    (f"{HOME}?path=bobs", 403, "does not let your login read", "Accès refusé"),
    (f"{HOME}?path=../etc", 422, "must not contain a &#39;..&#39; component", "ne doit pas contenir"),
    (f"{HOME}?path=/etc", 422, "must be relative", "doit être relatif"),
    (f"{HOME}?path=run1/escape/inner", 422, "symbolic link", "Valeur dangereuse"),
    (f"{HOME}/view?path=run1/escape/inner", 422, "symbolic link", "Valeur dangereuse"),
    (f"{HOME}/download?path=bobs/secret", 403, "does not let your login read", "Accès refusé"),
    ("/files/devcluster/nosuch", 404, "no file area &#39;nosuch&#39;", "aucune zone de fichiers"),
    ("/files/atlantis/home", 404, "no cluster &#39;atlantis&#39; on this gateway", "aucun cluster"),
]


@pytest.mark.parametrize(("path", "status", "english", "french"), REFUSALS)
def test_every_refusal_is_an_html_page_in_the_readers_language(
    browser: TestClient, lang: str, path: str, status: int, english: str, french: str
) -> None:
    page = browser.get(path, headers={"Accept": "text/html"})
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-language"] == lang
    assert (english if lang == "en" else french) in page.text


def test_a_job_page_links_to_its_directory_when_it_lies_in_an_area(
    app: FastAPI, alice: User, fake: FakeClusterFilesFactory, db: Session
) -> None:
    client = logged_in(app, alice)
    response = submit_page(client, param_message="hi", param_repeat=1, job_name="linked")
    assert response.status_code == 303, response.text
    found = JOB_URL.match(response.headers["location"])
    assert found is not None
    job_id = found.group(1)
    job = db.get(Job, uuid.UUID(job_id))
    assert job is not None
    for work_dir, link in [
        ("/home/alice/run1", f"{HOME}?path=run1"),
        ("/home/alice", HOME),
        ("/scratch/alice/big run/#1", "/files/devcluster/scratch?" + urlencode({"path": "big run/#1"})),
        ("/scratch/alicette", None),
        ("/tmp/elsewhere", None),
        ("/home/alice/a\nb", None),
    ]:
        job.work_dir = work_dir
        db.commit()
        page = client.get(f"/jobs/{job_id}")
        assert page.status_code == 200
        shown = re.search(r'<a href="([^"]*)" id="job-files">', page.text)
        assert (html.unescape(shown.group(1)) if shown else None) == link, work_dir


def test_an_unreachable_cluster_or_another_users_job_gives_no_link(
    app: FastAPI,
    alice: User,
    make_user: MakeUser,
    fake: FakeClusterFilesFactory,
    fake_cluster: FakeCluster,
    db: Session,
) -> None:
    client = logged_in(app, alice)
    response = submit_page(client, param_message="hi", param_repeat=1, job_name="linked")
    found = JOB_URL.match(response.headers["location"])
    assert found is not None
    job = db.get(Job, uuid.UUID(found.group(1)))
    assert job is not None
    job.work_dir = "/home/alice/run1"
    db.commit()
    # A platform admin sees alice's job: her home is not asked as the admin's login, no link.
    admin = logged_in(app, make_user("platform_admin", login="root2"))
    asked = fake_cluster.calls["home_dir"]
    page = admin.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and 'id="job-files"' not in page.text
    assert fake_cluster.calls["home_dir"] == asked
    # The cluster cannot say alice's home now: the page still shows, without the link.
    assert 'id="job-files"' in client.get(f"/jobs/{job.id}").text
    fake_cluster.reachable = False
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and 'id="job-files"' not in page.text


def test_a_link_is_described_on_its_own_page_and_never_followed(browser: TestClient, lang: str) -> None:
    page = browser.get(f"{HOME}/view", params={"path": "run1/escape"})
    assert page.status_code == 200
    assert "<code>/etc/&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page.text
    assert 'id="download"' not in page.text and 'id="preview-text"' not in page.text
    assert ("not followed" if lang == "en" else "non suivi") in page.text


def test_visitors_not_signed_in_are_sent_to_the_login_page(client: TestClient) -> None:
    anonymous = TestClient(client.app, follow_redirects=False)
    for path in [
        "/files",
        f"{HOME}?path=run1",
        f"{HOME}/view?path=run1/out.txt",
        f"{HOME}/download?path=run1/out.txt",
    ]:
        response = anonymous.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
