"""Memberships reference their project instead of repeating its (cluster, Slurm account).

``memberships.cluster`` and ``memberships.slurm_account`` give way to ``project_id``, a
foreign key to ``projects`` (deleted with it, like its allocations); a user is a member of a
project at most once. Before this revision a membership could name an account no project
row described: such an orphan gets its project here, under its members' home institution
when they all name the same existing one, otherwise under the ``unassigned`` institution
this migration creates ("Unassigned — move me"; docs/operations.md, Upgrade). Downgrade
writes the two columns back from the project and keeps the projects and institution it
created (they are valid rows of the older schema too).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNASSIGNED = "unassigned"
UNASSIGNED_NAME = "Unassigned — move me"

_memberships = sa.table(
    "memberships",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("cluster", sa.String()),
    sa.column("slurm_account", sa.String()),
    sa.column("project_id", sa.Uuid()),
)
_projects = sa.table(
    "projects",
    sa.column("id", sa.Uuid()),
    sa.column("cluster", sa.String()),
    sa.column("slurm_account", sa.String()),
    sa.column("institution", sa.String()),
    sa.column("name", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_institutions = sa.table("institutions", sa.column("code", sa.String()), sa.column("name", sa.String()))
_users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("institution", sa.String()))


def _create_orphan_projects(bind: sa.Connection) -> None:
    """A project for every (cluster, account) that memberships name and no project describes."""
    known = {(c, a) for c, a in bind.execute(sa.select(_projects.c.cluster, _projects.c.slurm_account))}
    institutions = set(bind.execute(sa.select(_institutions.c.code)).scalars())
    homes: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    rows = bind.execute(
        sa.select(_memberships.c.cluster, _memberships.c.slurm_account, _users.c.institution).join(
            _users, _users.c.id == _memberships.c.user_id
        )
    )
    for cluster, account, home in rows:
        if (cluster, account) not in known:
            homes[(cluster, account)].add(home if home in institutions else None)
    now = datetime.now(UTC)
    for (cluster, account), codes in sorted(homes.items()):
        # Members of several institutions (or of none the gateway knows): an admin decides.
        code = next(iter(codes)) if len(codes) == 1 else None
        if code is None:
            code = UNASSIGNED
            if UNASSIGNED not in institutions:
                bind.execute(_institutions.insert().values(code=UNASSIGNED, name=UNASSIGNED_NAME))
                institutions.add(UNASSIGNED)
        bind.execute(
            _projects.insert().values(
                id=uuid.uuid4(),
                cluster=cluster,
                slurm_account=account,
                institution=code,
                name="",
                created_at=now,
            )
        )


def upgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
    bind = op.get_bind()
    _create_orphan_projects(bind)
    bind.execute(
        _memberships.update().values(
            project_id=sa.select(_projects.c.id)
            .where(
                _projects.c.cluster == _memberships.c.cluster,
                _projects.c.slurm_account == _memberships.c.slurm_account,
            )
            .scalar_subquery()
        )
    )
    with op.batch_alter_table("memberships") as batch:
        batch.alter_column("project_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_constraint("uq_memberships_user_id_cluster_slurm_account", type_="unique")
        batch.create_foreign_key(
            op.f("fk_memberships_project_id_projects"), "projects", ["project_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_unique_constraint(op.f("uq_memberships_user_id_project_id"), ["user_id", "project_id"])
        batch.drop_column("slurm_account")
        batch.drop_column("cluster")


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("cluster", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("slurm_account", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    of_project = sa.select(_projects.c.cluster).where(_projects.c.id == _memberships.c.project_id)
    account_of_project = sa.select(_projects.c.slurm_account).where(
        _projects.c.id == _memberships.c.project_id
    )
    bind.execute(
        _memberships.update().values(
            cluster=of_project.scalar_subquery(), slurm_account=account_of_project.scalar_subquery()
        )
    )
    with op.batch_alter_table("memberships") as batch:
        batch.alter_column("cluster", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("slurm_account", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint("uq_memberships_user_id_project_id", type_="unique")
        batch.drop_constraint("fk_memberships_project_id_projects", type_="foreignkey")
        batch.create_unique_constraint(
            op.f("uq_memberships_user_id_cluster_slurm_account"), ["user_id", "cluster", "slurm_account"]
        )
        batch.drop_column("project_id")
