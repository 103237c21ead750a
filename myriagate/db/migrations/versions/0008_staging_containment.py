"""Staging containment: unpredictable output directories and how a dataset's files were chosen.

``job_staging.output_dir`` is the random directory name (under ``<storage root>/<account>``)
chosen when the job is submitted, so a retried stage-out resumes into it and nobody can plant
a link at a name derived from the job id. ``datasets.selection`` records how the files were
picked: ``job_dir`` (every match in the job's own directory) or ``newer_than_start`` (a
``--chdir`` the researcher chose: only files modified after the job started).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_staging", schema=None) as batch_op:
        batch_op.add_column(sa.Column("output_dir", sa.String(length=64), nullable=True))
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("selection", sa.String(length=32), server_default="job_dir", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("selection")
    with op.batch_alter_table("job_staging", schema=None) as batch_op:
        batch_op.drop_column("output_dir")
