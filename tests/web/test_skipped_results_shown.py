"""A completed job whose stage-out skipped files names them wherever its end is explained
(issue #15): ``GET /api/v1/jobs/{id}``'s explanation (both languages), the job page in English
and French; its timeline's reason in French too (web/stored_text)."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job, JobStateChange
from myriagate.db.models.users import User
from myriagate.domain.skipped_results import SkipKind, SkippedFile, note
from myriagate.domain.states import JobState
from myriagate.web.i18n import Translator
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in

AuthClient = Callable[[User], TestClient]
REASON = "1 result file(s) stored in Caen (FR-NOR)" + note(
    [SkippedFile("results/-rf", SkipKind.NAME), SkippedFile("results/link", SkipKind.LINK)]
)


def text_of(page: Any) -> str:
    return html.unescape(page.text).replace("\u202f", " ").replace("\xa0", " ")


def test_the_skipped_files_are_named_in_the_api_and_on_the_page_in_english_and_french(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, db: Session
) -> None:
    alice = make_user(username="alice", login="alice")
    api = auth_client(alice)
    job = api.post("/api/v1/jobs", json={"script": "#!/bin/bash\n#SBATCH -t 2\ntrue\n"}).json()
    db.execute(sa.update(Job).where(Job.id == uuid.UUID(job["id"]))
               .values(state=JobState.COMPLETED, reason=REASON, exit_code=0))  # fmt: skip
    db.add(JobStateChange(job_id=uuid.UUID(job["id"]), from_state=JobState.STAGING_OUT,
                          to_state=JobState.COMPLETED, reason=REASON, at=datetime.now(UTC)))  # fmt: skip
    db.commit()

    shown = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert shown["state"] == "completed" and shown["reason"] == REASON
    assert shown["explanation"]["code"] == "completed"
    assert shown["explanation"]["hint"]["en"].startswith(
        "2 result file(s) not stored, as they cannot be stored safely: 'results/-rf' (a refused name), "
        "'results/link' (a link). Links are never followed"
    )
    assert shown["explanation"]["hint"]["fr"].startswith(
        "2 fichier(s) de résultats non stocké(s), faute de pouvoir les stocker sans risque : "
        "'results/-rf' (un nom refusé), 'results/link' (un lien). Les liens ne sont jamais suivis"
    )
    page = text_of(logged_in(app, alice).get(f"/jobs/{job['id']}"))
    assert "'results/-rf' (a refused name), 'results/link' (a link)" in page
    french = text_of(logged_in(app, alice, lang="fr").get(f"/jobs/{job['id']}"))
    assert "'results/-rf' (un nom refusé), 'results/link' (un lien)" in french
    assert "cannot be stored safely" not in french
    # The timeline's reason (said by parts: the message, then each value on its own).
    assert (
        "laissé(s) de côté, faute de pouvoir les stocker sans risque : 'results/-rf' (un nom refusé)"
        in french
    )
    assert "(a link)" not in french and "(a refused name)" not in french


def test_the_timeline_reason_is_said_in_french_not_read_as_a_region() -> None:
    assert Translator("fr").stored(REASON) == (
        "1 fichier(s) de résultats stocké(s) à Caen (FR-NOR) et vérifié(s) ; 2 laissé(s) de côté, faute de "
        "pouvoir les stocker sans risque : 'results/-rf' (un nom refusé), 'results/link' (un lien)"
    )
    many = [SkippedFile(f"results/l{i:02}", SkipKind.LINK) for i in range(25)]
    assert (
        Translator("fr")
        .stored("0 result file(s) stored in Caen (FR-NOR)" + note(many))
        .endswith("'results/l19' (un lien), et 5 de plus")
    )
