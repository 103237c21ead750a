"""Admins' figures on French pages (found using the gateway as CRIANN's and Caen's admins would):
the usage CSV a French spreadsheet opens as numbers, hours typed the French way in the admin
forms, and a refused correction that says how much can be taken back."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.models.allocations import Allocation
from myriagate.domain.costs import Cost
from tests.conftest import FakeClock
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in, page_csrf
from tests.web.test_pages_jobs import grant_hours


def _charge_outside(db: Session, clock: FakeClock, slurm_job_id: str, seconds: int) -> None:
    allocation_id = db.scalar(sa.select(Allocation.id))
    assert allocation_id is not None
    SqlLedger(db, clock=clock).charge_outside(allocation_id, slurm_job_id, Cost(seconds, 0))
    db.commit()


def test_the_french_usage_csv_opens_in_a_french_spreadsheet_as_numbers(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    """A French spreadsheet splits on ';' and reads '1,5' as a number ('1.5' as text or a date)
    and needs the byte order mark to read UTF-8; the headers and '(outside)' were English."""
    make_user()  # a member: the project exists
    admin = logged_in(app, make_user("university_admin"), lang="fr")
    grant_hours(db, clock, "caen-climat", 100)
    _charge_outside(db, clock, "777", 5400)  # 1.5 h
    _charge_outside(db, clock, "778", 12)
    response = admin.get("/reports/usage.csv?month=2026-01&group_by=user")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Mois", "Établissement", "Cluster", "Projet", "Utilisateur", "Jobs",
        "Secondes CPU", "Secondes GPU", "h CPU", "h GPU",
    ]  # fmt: skip
    assert rows[1] == [
        "2026-01", "unicaen", "devcluster", "caen-climat", "(hors passerelle)", "2", "5412", "0", "1,5", "0"
    ]  # fmt: skip
    # The page names those jobs in French too.
    page = admin.get("/reports/usage?month=2026-01&group_by=user").text
    assert "(hors passerelle)" in page and "(outside)" not in page


def test_the_english_usage_csv_is_unchanged(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    make_user()
    admin = logged_in(app, make_user("university_admin"))
    grant_hours(db, clock, "caen-climat", 100)
    _charge_outside(db, clock, "777", 5400)
    text = admin.get("/reports/usage.csv?month=2026-01&group_by=user").text
    assert text.splitlines() == [
        "month,institution,cluster,slurm_account,user,jobs,core_seconds,gpu_seconds,core_hours,gpu_hours",
        "2026-01,unicaen,devcluster,caen-climat,(outside),1,5400,0,1.50,0.00",
    ]


def test_a_french_admin_types_hours_as_the_page_writes_them(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    """The French page writes '0,64 h CPU' and '10 000' but refused '1,5' and '1 500' typed in
    its own forms ("'1,5' n'est pas un nombre d'heures")."""
    make_user()
    grant_hours(db, clock, "caen-climat", 100)
    admin = logged_in(app, make_user("university_admin"), lang="fr")
    english = logged_in(app, make_user("university_admin"))
    app.state.clock = clock
    csrf = page_csrf(admin, "/admin/allocations")
    granted = admin.post(
        "/admin/grants",
        data={"csrf_token": csrf, "account": "caen-climat", "core_hours": "1\u202f500,5", "reason": "appel"},
    )
    assert granted.status_code == 303, granted.text
    allocation_id = db.scalar(sa.select(Allocation.id))
    corrected = admin.post(
        f"/allocations/{allocation_id}/adjustments",
        data={"csrf_token": csrf, "core_hours": "-0,25", "gpu_hours": "", "reason": "correction"},
    )
    assert corrected.status_code == 303, corrected.text
    db.expire_all()
    allocation = db.get(Allocation, allocation_id)
    assert allocation is not None
    assert allocation.granted_core_seconds == (100 + 1500.5 - 0.25) * 3600
    # In English a comma is not a decimal mark ('1,500' is fifteen hundred there): still refused.
    refused = english.post(
        "/admin/grants",
        data={"csrf_token": page_csrf(english, "/admin/allocations"), "account": "caen-climat",
              "core_hours": "1,5", "reason": "x"},
    )  # fmt: skip
    assert refused.status_code == 422 and 'id="core_hours-error"' in refused.text


def test_a_refused_correction_says_how_much_can_be_taken_back(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock, auth_client: Any
) -> None:
    """'restant 2 000 sur 2 000 h CPU', then -2000 refused with only 'the grant cannot go below
    what is already held and charged': the 48 charged seconds were hidden by the rounding."""
    make_user()
    grant_hours(db, clock, "caen-climat", 100)
    _charge_outside(db, clock, "777", 48)
    allocation_id = db.scalar(sa.select(Allocation.id))
    admin = make_user("university_admin")
    api = auth_client(admin)
    refused = api.post(
        f"/api/v1/allocations/{allocation_id}/adjustments", json={"core_hours": "-100", "reason": "x"}
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "the grant cannot go below what is already held and charged (0.01 CPU-hours): "
        "at most 99.98 CPU-hours can be taken back"
    )
    french = api.post(
        f"/api/v1/allocations/{allocation_id}/adjustments",
        json={"core_hours": "-100", "reason": "x"},
        headers={"Accept-Language": "fr"},
    )
    assert "(0,01 h CPU) : on peut en reprendre au plus 99,98 h CPU" in french.json()["detail"]
    # What it says can be taken back is accepted, to the last second shown.
    taken = api.post(
        f"/api/v1/allocations/{allocation_id}/adjustments", json={"core_hours": "-99.98", "reason": "x"}
    )
    assert taken.status_code == 201, taken.text
