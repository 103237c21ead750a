"""French pages say everything in French (issue #15): the translation completeness test.

Three ways an English string reaches a French reader, three checks:

- the catalogs: every msgid (pages' ``messages.po``, the code's ``errors.po``) has a French
  msgstr with the same placeholders, and so has every message the code says as an
  ``errors.Text``, every error title and every HTTP status phrase the gateway answers with;
- every error code: each class of the error tree, the HTTP layer's own problems (no such page,
  wrong method, invalid form field, a bug) shown on a page in French, detail and fields too;
- every page: each GET page route of the app, as a researcher, a project lead, a university
  admin and a platform admin, in French, with a job, an allocation and a dataset to show, read
  by ``french_check.untranslated`` (English msgids of the catalogs, English words).
"""

from __future__ import annotations

import html
import re
import uuid
from http import HTTPStatus
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.settlement import SettleItem
from myriagate.domain.costs import Cost
from myriagate.domain.field_messages import MESSAGES as FIELD_MESSAGES
from myriagate.errors import ALL_ERRORS, ConfigError, FieldError, MyriagateError, NotAuthenticated, Text
from myriagate.services.allocations.charging import Charge
from myriagate.services.staging.context import StagingContext
from myriagate.web import i18n
from myriagate.web.api.file_changes import get_file_changes
from myriagate.web.api.files import get_file_browser
from myriagate.web.problems import _HTTP_CODES
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_browser, file_changes
from tests.conftest import FakeClock
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.web import pages_helpers
from tests.web.conftest import MakeUser
from tests.web.form_reader import posted_fields
from tests.web.french_check import (
    app_routes,
    catalog_ids,
    code_messages,
    placeholders,
    texts_of,
    untranslated,
)
from tests.web.pages_helpers import logged_in, produce_dataset
from tests.web.test_pages_jobs import grant_hours

# boom_app adds routes that fail on purpose: an app of their own, not the shared one.
pytestmark = pytest.mark.own_app

stager = pages_helpers.stager
staging_ctx = pages_helpers.staging_ctx

FRENCH = {"Accept": "text/html", "Accept-Language": "fr"}
ROLES = ("researcher", "project_lead", "university_admin", "platform_admin")
# Routes that are not pages: programs' routes, assets, downloads, the language switch.
# /interactive/<session id>/…: the proxied app's own pages (JupyterLab's), not the gateway's.
NOT_PAGES = (
    "/api/", "/static/", "/healthz", "/readyz", "/metrics", "/language/", "/docs", "/openapi",
    "/interactive/",
)  # fmt: skip


@pytest.fixture
def settings_overrides(tmp_path: Any) -> dict[str, Any]:
    return {"spool_dir": tmp_path / "spool", "upload_max_bytes": 1 << 20, "enforce_allocations": True}


# --- the catalogs -------------------------------------------------------------------------------
def test_the_code_says_its_messages_as_text_with_msgids() -> None:
    assert len(code_messages()) > 60  # errors.Text is used, and the scan finds it


def test_every_message_of_the_code_has_a_french_translation() -> None:
    # One test for all of them, every gap listed at once: one test per message paid the web
    # tier's per-test fixtures ~300 times (50 s of the unit tier) for a dictionary lookup each.
    catalog = i18n.catalog("fr")
    untranslated = [
        f"{msgid!r} ({where})" for msgid, where in sorted(code_messages().items()) if not catalog.get(msgid)
    ]
    assert not untranslated, "no French (add it to myriagate/locale/fr/LC_MESSAGES/errors.po):\n" + "\n".join(
        untranslated
    )
    mismatched = [
        f"{msgid!r} ({where})"
        for msgid, where in sorted(code_messages().items())
        if placeholders(catalog.get(msgid) or msgid) != placeholders(msgid)
    ]
    assert not mismatched, "French with other placeholders:\n" + "\n".join(mismatched)


def test_every_msgid_of_every_catalog_has_a_french_msgstr_with_its_placeholders() -> None:
    french = catalog_ids("fr")
    missing = [m for m in catalog_ids("en") if not french.get(m)]
    assert not missing, f"msgids of the English catalogs with no French msgstr: {missing}"
    empty = [m for m, s in french.items() if not s]
    assert not empty, f"French catalog entries left empty: {empty}"
    broken = [m for m, s in french.items() if placeholders(s) != placeholders(m)]
    assert not broken, f"French msgstrs whose placeholders differ from their msgid: {broken}"


def test_every_error_title_field_message_and_http_phrase_is_in_french() -> None:
    french = i18n.catalog("fr")
    titles = {cls.title for cls in ALL_ERRORS}
    phrases = {HTTPStatus(s).phrase for s in (*_HTTP_CODES, 422, 500, 502, 503)}
    wanted = titles | phrases | set(FIELD_MESSAGES) | {"Service busy"}
    assert sorted(m for m in wanted if not french.get(m)) == []


# --- every error code on a page -----------------------------------------------------------------
@pytest.fixture
def boom_app(app: FastAPI) -> FastAPI:
    """The app plus page routes that fail with each error of the tree (a translatable detail
    and field), and a page route with a typed query parameter."""
    by_code = {cls.code: cls for cls in ALL_ERRORS}

    def raise_error(code: str) -> None:
        field = FieldError(("options", "time"), Text("must be at least %(ge)s", ge=1))
        raise by_code[code](Text("this field is required"), fields=[field])

    def typed(count: int) -> dict[str, int]:
        return {"count": count}

    def crash() -> None:
        raise RuntimeError("secret database password in a stack trace")

    app.router.add_api_route("/test-error/{code}", raise_error, methods=["GET", "POST"])
    app.router.add_api_route("/test-typed", typed)
    app.router.add_api_route("/test-crash", crash)
    return app


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda cls: cls.code)
def test_every_error_code_is_said_in_french_on_its_page(
    error: type[MyriagateError], boom_app: FastAPI
) -> None:
    client = TestClient(boom_app, follow_redirects=False)
    # GET would send someone not signed in to the login page: a POST shows the error itself.
    method = "POST" if error is NotAuthenticated else "GET"
    page = client.request(method, f"/test-error/{error.code}", headers=FRENCH)
    assert page.status_code == error.http_status
    french_title = i18n.catalog("fr")[error.title]
    assert french_title in page.text
    # A set-up problem says only that (web/problems.py): the others show their own detail.
    detail = "pas configurée pour cela" if error is ConfigError else "ce champ est obligatoire"
    assert html.escape(detail) in page.text and "doit valoir au moins 1" in page.text
    assert untranslated(page.text) == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no-such-page", 404), ("DELETE", "/tokens", 405), ("GET", "/test-typed?count=many", 422),
     ("GET", "/test-crash", 500)],
)  # fmt: skip
def test_the_http_layers_own_problems_are_said_in_french(
    boom_app: FastAPI, method: str, path: str, status: int
) -> None:
    client = TestClient(boom_app, follow_redirects=False, raise_server_exceptions=False)
    page = client.request(method, path, headers=FRENCH)
    assert page.status_code == status
    assert page.headers["content-language"] == "fr"
    assert untranslated(page.text) == []
    if status == 422:
        assert "doit être un nombre entier" in page.text  # pydantic's int_parsing, said in French


# --- every page, as every role ------------------------------------------------------------------
def page_paths(app: FastAPI, ids: dict[str, str]) -> list[str]:
    """Every GET page route with its parameters filled in; a parameter nobody knows fails the
    test, so a new page is read too."""
    paths: list[str] = []
    for route in app_routes(app.routes):
        if "GET" not in route.methods or route.path.startswith(NOT_PAGES):
            continue
        unknown = [n for n in route.params if n not in ids]
        assert not unknown, f"page {route.path}: no value to fill {unknown} with (add one to the test)"
        path = route.path
        for name in route.params:
            path = path.replace("{" + name + ":path}", ids[name]).replace("{" + name + "}", ids[name])
        paths.append(path)
    return sorted(set(paths))


@pytest.fixture
def shown(
    app: FastAPI,
    make_user: MakeUser,
    db: Session,
    gateway: Gateway,
    stager: FakeStager,
    staging_ctx: StagingContext,
    fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory,
    clock: FakeClock,
) -> dict[str, Any]:
    """A client per role, in French, and ids of a job, an allocation and a dataset to show."""
    users = {
        "researcher": make_user("researcher", username="alice@unicaen.fr", login="alice"),
        "project_lead": make_user("project_lead", username="lena@unicaen.fr", login="lena"),
        "university_admin": make_user("university_admin", username="ursula@unicaen.fr"),
        "platform_admin": make_user("platform_admin", username="root@criann.fr"),
    }
    clients = {role: logged_in(app, user, lang="fr") for role, user in users.items()}
    grant_hours(db, clock, "caen-climat", 9870)
    app.state.clock = clock  # inside the period granted (after logging in: cookies stay fresh)
    job_id, dataset_id = produce_dataset(
        clients["researcher"], gateway=gateway, stager=stager, ctx=staging_ctx, fake_cluster=fake_cluster,
        backends=backends, clock=clock, login="alice", results={"results/out.h5": b"\x89HDF"},
    )  # fmt: skip
    listing = clients["platform_admin"].get("/admin/allocations")
    found = re.search(r'href="/allocations/([0-9a-f-]{36})"', listing.text)
    assert found is not None, listing.text
    ids = {
        "job_id": job_id,
        "dataset_id": dataset_id,
        "allocation_id": found.group(1),
        "path": "results/out.h5",
        "cluster": "devcluster",  # the file browser's pages, over a fake cluster's files
        "area": "home",
        "account": "caen-climat",  # a project's members (/projects/{cluster}/{account}/members)
        "user_id": str(users["researcher"].id),  # … and removing one (its confirmation page)
    }
    # A ledger line of each kind the gateway writes itself: a job's charge (settled from
    # sacct) and a job run outside the gateway (issue #15: both reasons were English).
    ledger = SqlLedger(db)
    ledger.settle_many([SettleItem(uuid.UUID(job_id), Cost(120), Charge(Cost(120)).reason)])
    ledger.charge_outside(uuid.UUID(found.group(1)), "4242", Cost(3600))
    db.commit()
    files = FakeClusterFilesFactory()
    for user in users.values():  # an entry of each type the listing names
        tree = files.tree(user.cluster_login)
        tree.files[b"run1/out.txt"] = b"bonjour\n"
        tree.links[b"run1/latest"] = b"out.txt"
        tree.others.add(b"run1/pipe")
    browser = file_browser(gateway, lambda _profile, _settings, _backends: files)
    app.dependency_overrides[get_file_browser] = lambda: browser  # cleared by the app fixture
    changes = file_changes(gateway, lambda _profile, _settings, _backends: files)
    app.dependency_overrides[get_file_changes] = lambda: changes  # disk usage, delete's dry run
    # A save as dataset of the researcher's, for its transfer's page (issue #17).
    researcher = clients["researcher"]
    saved = researcher.post(
        "/api/v1/clusters/devcluster/files/home/datasets",
        json={"path": "run1", "name": "run 1", "store": "caen"},
        headers={"X-CSRF-Token": pages_helpers.page_csrf(researcher)},
    )
    assert saved.status_code == 202, saved.text
    ids["transfer_id"] = saved.json()["id"]
    # The operators' own words in the cluster profiles (partition descriptions) are data.
    data = {p.description for prof in gateway.profiles.values() for p in prof.partitions if p.description}
    return {"clients": clients, "ids": ids, "data": data}


def test_every_page_is_all_french_for_every_role(app: FastAPI, shown: dict[str, Any]) -> None:
    paths = page_paths(app, shown["ids"])
    assert {"/", "/jobs", "/submit", "/admin/allocations", "/reports/usage", "/files"} <= set(paths)
    # The researcher's directory and file as the file browser shows them (the walk's own
    # /files/devcluster/home/view has no path: the refusal page, read too).
    paths += ["/files/devcluster/home?path=run1", "/files/devcluster/home/view?path=run1/out.txt"]
    problems: dict[str, list[str]] = {}
    read = 0
    for role in ROLES:
        client: TestClient = shown["clients"][role]
        for path in paths:
            page = client.get(path, headers=FRENCH)
            if not page.headers.get("content-type", "").startswith("text/html"):
                continue  # a download or a redirect: not a page to read
            read += 1
            wrong = untranslated(page.text, shown["data"])
            if wrong:
                problems[f"{role} {path} ({page.status_code})"] = wrong
    assert read >= len(ROLES) * 8
    assert not problems, "English on French pages:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_what_the_walk_reads_holds_the_words_of_issue_15(shown: dict[str, Any]) -> None:
    """The walk above reads these pages: they show what the trial found in English (each
    entry type, ledger reasons, partition states), now in French. Words under four letters
    ("up", "yes") escape the checker, so they are asserted here."""
    researcher: TestClient = shown["clients"]["researcher"]
    listing = texts_of(researcher.get("/files/devcluster/home?path=run1", headers=FRENCH).text)
    assert {"Fichier", "Lien symbolique", "Autre (périphérique, tube, socket)"} <= set(listing)
    admin: TestClient = shown["clients"]["platform_admin"]
    ledger = texts_of(admin.get(f"/allocations/{shown['ids']['allocation_id']}", headers=FRENCH).text)
    assert "hors de la passerelle" in ledger
    assert "consommé (facturation relevée par sacct)" in ledger
    cluster = researcher.get("/cluster", headers=FRENCH).text
    assert "<td>ouverte</td>" in cluster and "<td>up</td>" not in cluster


def test_the_submit_form_after_a_bad_value_is_all_french(shown: dict[str, Any]) -> None:
    """Issue #15: '--time: '5x' is not a Slurm time: …' stood in English under the field, and
    --kill-on-invalid-dep offered "yes" and "no"."""
    client: TestClient = shown["clients"]["researcher"]
    form = client.get("/submit", headers=FRENCH)
    fields = {**posted_fields(form.text), "time": "5x", "action": "estimate"}
    page = client.post("/submit", data=fields, headers=FRENCH)
    assert page.status_code == 422
    error = re.search(r'<span class="field-error" id="time-error">(.*?)</span>', page.text, re.S)
    assert error is not None, page.text
    assert "n&#39;est pas une durée Slurm" in error.group(1)
    assert untranslated(page.text, shown["data"]) == []
    options = re.search(r'<select id="kill_on_invalid_dep".*?</select>', page.text, re.S)
    assert options is not None
    assert re.findall(r"<option value=\"(?:yes|no)\">(\w+)</option>", options.group(0)) == ["oui", "non"]


def test_the_checker_finds_english_on_a_french_page() -> None:
    """The checker itself: a catalog msgid, a filled-in one and a sentence of English words."""
    page = (
        "<main><h1>Tableau de bord</h1><p>Permission denied</p><p>Le job x a échoué.</p>"
        "<p>the job needs 12 hours</p><pre>the script's own words</pre><code>must stay</code></main>"
    )
    assert untranslated(page) == ["Permission denied", "the job needs 12 hours"]
