"""Institutions and projects (one Slurm account each, per cluster)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.users import Institution, Project


def get_institution(session: Session, code: str) -> Institution | None:
    return session.get(Institution, code)


def add_institution(session: Session, *, code: str, name: str) -> Institution:
    institution = Institution(code=code, name=name)
    session.add(institution)
    session.flush()
    return institution


def get_project(session: Session, cluster: str, slurm_account: str) -> Project | None:
    stmt = sa.select(Project).where(Project.cluster == cluster, Project.slurm_account == slurm_account)
    return session.scalars(stmt).one_or_none()


def add_project(
    session: Session,
    *,
    cluster: str,
    slurm_account: str,
    institution: str,
    created_at: datetime,
    name: str = "",
) -> Project:
    project = Project(
        cluster=cluster,
        slurm_account=slurm_account,
        institution=institution,
        name=name,
        created_at=created_at,
    )
    session.add(project)
    session.flush()
    return project


def institution_of(session: Session, cluster: str, slurm_account: str | None) -> str | None:
    """The institution of the project behind ``slurm_account``, if the gateway knows it."""
    if slurm_account is None:
        return None
    stmt = sa.select(Project.institution).where(
        Project.cluster == cluster, Project.slurm_account == slurm_account
    )
    return session.scalars(stmt).one_or_none()
