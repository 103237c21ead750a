"""Webhook signing secrets sealed at rest (myriagate.sealed_secrets).

``webhooks.secret`` held each secret in clear: anyone who could read the database (a backup,
a world-readable SQLite file) could forge signed deliveries. It now holds the secret sealed
with Fernet under a key derived from ``MYRIAGATE_SECRET_KEY``, which is longer than the
secret: the column widens from 128 to 512 characters. Existing rows are sealed in place;
the key comes from the caller (``migrate.upgrade(..., secret_key=...)``) or the settings, and
is only needed when there are rows. Downgrade opens them again (with the same key).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from myriagate.sealed_secrets import SecretSealer

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_webhooks = sa.table("webhooks", sa.column("id", sa.Uuid()), sa.column("secret", sa.String()))


def _sealer() -> SecretSealer:
    secret_key = context.config.attributes.get("secret_key")
    if secret_key is None:
        from myriagate.settings import get_settings

        secret_key = get_settings().secret_key
    return SecretSealer.for_webhooks(str(secret_key))


def _rewrite(change: Callable[[SecretSealer, str], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_webhooks.c.id, _webhooks.c.secret)).all()
    if not rows:
        return
    sealer = _sealer()
    for webhook_id, secret in rows:
        bind.execute(
            _webhooks.update().where(_webhooks.c.id == webhook_id).values(secret=change(sealer, secret))
        )


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.String(length=128),
            type_=sa.String(length=512),
            existing_nullable=False,
        )
    _rewrite(lambda sealer, secret: sealer.seal(secret))


def downgrade() -> None:
    _rewrite(lambda sealer, sealed: sealer.unseal(sealed))
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.String(length=512),
            type_=sa.String(length=128),
            existing_nullable=False,
        )
