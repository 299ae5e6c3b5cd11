"""Initial state store schema: calendar state, cached items, mirrors, runs, history, secrets.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_calendar_state")),
    )
    op.create_table(
        "items",
        sa.Column("calendar", sa.String(), nullable=False),
        sa.Column("href", sa.String(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("uid", sa.String(), nullable=False),
        sa.Column("ics", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("marker", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("calendar", "href", name=op.f("pk_items")),
    )
    op.create_index(op.f("ix_items_marker"), "items", ["marker"], unique=False)
    op.create_table(
        "mirrors",
        sa.Column("sync", sa.String(), nullable=False),
        sa.Column("origin_key", sa.String(), nullable=False),
        sa.Column("mirror_uid", sa.String(), nullable=False),
        sa.Column("href", sa.String(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("source_hash", sa.String(), nullable=False),
        sa.Column("mirror_hash", sa.String(), nullable=False),
        sa.Column("origin_calendar", sa.String(), nullable=False),
        sa.Column("origin_client", sa.String(), nullable=True),
        sa.Column("root_key", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("sync", "origin_key", name=op.f("pk_mirrors")),
    )
    op.create_index(op.f("ix_mirrors_mirror_uid"), "mirrors", ["mirror_uid"], unique=True)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sync", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_sync"), "runs", ["sync"], unique=False)
    op.create_table(
        "history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("sync", sa.String(), nullable=False),
        sa.Column("origin_key", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_history_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    op.create_index("ix_history_sync_id", "history", ["sync", "id"], unique=False)
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )


def downgrade() -> None:
    op.drop_table("secrets")
    op.drop_index("ix_history_sync_id", table_name="history")
    op.drop_table("history")
    op.drop_index(op.f("ix_runs_sync"), table_name="runs")
    op.drop_table("runs")
    op.drop_index(op.f("ix_mirrors_mirror_uid"), table_name="mirrors")
    op.drop_table("mirrors")
    op.drop_index(op.f("ix_items_marker"), table_name="items")
    op.drop_table("items")
    op.drop_table("calendar_state")
