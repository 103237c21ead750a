"""Gateway users, institutions, projects (one Slurm account on one cluster each) and memberships."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from myriagate.db.base import Base, str_enum
from myriagate.domain import values
from myriagate.domain.email_addresses import EmailSource


class MembershipRole(StrEnum):
    RESEARCHER = "researcher"
    PROJECT_LEAD = "project_lead"


class User(Base):
    """A person known to the gateway, and the cluster login their jobs run as."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(sa.String(255), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(255), default="")
    email: Mapped[str | None] = mapped_column(sa.String(320))
    # Where ``email`` came from; notifications go only to an address someone vouched for
    # (docs/notifications.md, "The address"). None: set before sources were recorded (admin).
    email_source: Mapped[EmailSource | None] = mapped_column(str_enum(EmailSource, length=16))
    email_verified_at: Mapped[datetime | None]
    # An address the user asked for and has not confirmed yet: nothing is sent to it but the
    # confirmation link, and ``email`` keeps working meanwhile.
    email_pending: Mapped[str | None] = mapped_column(sa.String(320))
    email_pending_at: Mapped[datetime | None]
    cluster_login: Mapped[str] = mapped_column(sa.String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Home institution (Institution.code); what a university admin's scope is matched against.
    institution: Mapped[str | None] = mapped_column(sa.String(64))
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    # The institution this user administers (university admin), if any.
    university_admin_of: Mapped[str | None] = mapped_column(sa.String(64))
    # ``scrypt$n$r$p$salt$hash`` for local accounts; None for single-sign-on users (no password).
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @validates("cluster_login")
    def _check_login(self, _key: str, value: str) -> str:
        # The login reaches ssh and sbatch command lines: refuse anything unsafe at the door.
        return values.login(value, "cluster_login")

    def led_accounts(self) -> set[tuple[str, str]]:
        """(cluster, slurm_account) of the projects this user leads."""
        return {
            (m.cluster, m.slurm_account) for m in self.memberships if m.role is MembershipRole.PROJECT_LEAD
        }

    def accounts_on(self, cluster: str) -> list[str]:
        """The Slurm accounts this user may charge on ``cluster``."""
        return sorted(m.slurm_account for m in self.memberships if m.cluster == cluster)


class Membership(Base):
    """A user's right to submit with one project's Slurm account (on the project's cluster)."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("user_id", "project_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    # A membership means nothing without its project: it goes with it, like its allocations.
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    role: Mapped[MembershipRole] = mapped_column(str_enum(MembershipRole), default=MembershipRole.RESEARCHER)

    user: Mapped[User] = relationship(back_populates="memberships")
    # Joined: loading a user's memberships (selectin) brings their projects in the same statement,
    # so the cluster and account below never cost a query of their own.
    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)

    @property
    def cluster(self) -> str:
        return self.project.cluster

    @property
    def slurm_account(self) -> str:
        return self.project.slurm_account


class Institution(Base):
    """A university or school of the Region (Caen, Rouen, Le Havre, INSA Rouen, ENSICAEN…)."""

    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))


class Project(Base):
    """A research project: one Slurm account on one cluster, under an institution."""

    __tablename__ = "projects"
    __table_args__ = (sa.UniqueConstraint("cluster", "slurm_account"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    cluster: Mapped[str] = mapped_column(sa.String(64))
    slurm_account: Mapped[str] = mapped_column(sa.String(64))
    institution: Mapped[str] = mapped_column(sa.ForeignKey("institutions.code"))
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    created_at: Mapped[datetime]
    # A suspension by an admin (docs/allocations.md, "Suspending a project"): while set, no new
    # submission for the project is accepted; who lifted it, and when, is in the audit log.
    suspended_at: Mapped[datetime | None] = mapped_column(default=None)
    suspended_by: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    suspension_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)
