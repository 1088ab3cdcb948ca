"""The store's tables (SQLAlchemy Core). Migrations in ``migrations/`` create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

VERSION_TABLE = "tunebook_alembic_version"

experiments = sa.Table(
    "experiments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

studies = sa.Table(
    "studies", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(300), nullable=False, unique=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("identity", sa.String(64), nullable=False),
    sa.Column("round", sa.Integer, nullable=False, default=1),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=True),
    sa.Column("combo", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("budget", sa.Integer, nullable=True),
)

trials = sa.Table(
    "trials", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
    sa.Column("trial_index", sa.Integer, nullable=False),
    sa.Column("params", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("worker", sa.String(200), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("heartbeat_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("metrics", sa.JSON, nullable=True),
    sa.Column("warnings", sa.JSON, nullable=True),
    sa.Column("code", sa.String(64), nullable=True),
    sa.Column("devices", sa.String(200), nullable=True),
    sa.UniqueConstraint("study_id", "trial_index", name="uq_trials_study_index"),
    sa.Index("ix_trials_status", "status", "study_id", "trial_index"),
)

metric_points = sa.Table(
    "metric_points", metadata,
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("time", sa.Float, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("kept", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_checkpoints_trial", "trial_id", "step"),
)

baselines = sa.Table(
    "baselines", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("why", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.Text, nullable=False, default=""),
    # The launching study by name, not by key: a launch outlives a deleted study.
    sa.Column("study", sa.String(300), nullable=True),
    sa.Column("evidence", sa.JSON, nullable=True),
    sa.Column("forced", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("name", "version", name="uq_baselines_name_version"),
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The autopilot by its study's name, not by key: its timeline outlives a deleted study.
    sa.Column("pilot", sa.String(300), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(40), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("study", sa.String(300), nullable=True),
    sa.Column("spent", sa.Float, nullable=False),
    sa.Column("budget", sa.Float, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("pilot", "seq", name="uq_decisions_pilot_seq"),
)
