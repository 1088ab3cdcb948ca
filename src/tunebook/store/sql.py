"""The SQL store: studies, trials, metric points and checkpoints in one database."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tunebook.errors import StaleClaim, StoreError, StudyExists, StudyNotFound
from tunebook.records import (
    Action,
    BaselineRecord,
    CheckpointRecord,
    DecisionRecord,
    DecisionState,
    MetricPoint,
    Phase,
    StudyRecord,
    TrialRecord,
    TrialStatus,
)
from tunebook.space import Params
from tunebook.store import engine as _engine
from tunebook.store.base import (
    Point,
    Store,
    lost_because,
    lost_trial_update,
    pick_reservation,
    retry_update,
)
from tunebook.store.engine import retry
from tunebook.store.schema import (
    baselines,
    checkpoints,
    decisions,
    metric_points,
    studies,
    trials,
)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) or math.isinf(value) else None


def open_store(db: str | None = None, *, create: bool = True,
               read_only: bool = False) -> SQLStore:
    """The store at ``db`` (a SQLAlchemy URL or SQLite path; ``None``: ``$TUNEBOOK_DB``
    or ``./tunebook.db``), its schema checked and migrated.

    ``read_only`` (for commands that only look): never writes, not even a schema into an
    empty file, and works on a read-only mount.
    """
    return SQLStore(db, create=create, read_only=read_only)


def _open_error(url: str, exc: sa.exc.DatabaseError) -> str:
    path = _engine.sqlite_path(url)
    unwritable = path is not None and path.exists() and not os.access(path, os.W_OK)
    if unwritable or _engine.read_only(exc):
        return _engine.read_only_message(url, exc)
    return (f"{url} is not a tunebook database ({exc.orig}); pass another --db path, or "
            "move the file away")


#: Tries to add a baseline version while other writers take the same number.
BASELINE_ATTEMPTS = 200


class SQLStore(Store):
    """The :class:`~tunebook.store.base.Store` contract on SQLite (WAL) or PostgreSQL.

    SQLite serialises writers with ``BEGIN IMMEDIATE``; PostgreSQL claims with
    ``FOR UPDATE SKIP LOCKED`` and reserves indices under a row lock on the study. Every
    operation is retried through lock contention and lost connections (all are safe to
    repeat).

    Args:
        db: a SQLAlchemy URL or a SQLite file path; ``None`` → ``$TUNEBOOK_DB`` or
            ``./tunebook.db``.
        prepare: check the schema and migrate (the CLI and runner do); trial processes
            skip it because their parent already did.
        create: create a missing SQLite file; read-only commands pass False, so that
            looking at the wrong folder does not leave an empty database behind.
    """

    def __init__(self, db: str | None = None, *, prepare: bool = True, create: bool = True,
                 read_only: bool = False):
        self.url = _engine.resolve_url(db)
        path = _engine.sqlite_path(self.url)
        if path is not None and prepare:
            if path.is_dir():
                raise StoreError(f"--db {path} is a folder, not a database file; pass a file "
                                 f"path such as {path / 'tunebook.db'}")
            _engine.check_sqlite_folder(path)
            if (read_only or not create) and not path.exists():
                raise StoreError(f"no tunebook database at {path}; run a study first "
                                 "(tunebook run FILE), or pass --db / set TUNEBOOK_DB")
        self.engine = _engine.make_engine(self.url, read_only=read_only)
        self._writer = self.engine.execution_options(tunebook_begin="IMMEDIATE")
        self.dialect = self.engine.dialect.name
        if not prepare:
            return
        try:
            if not read_only:
                _engine.prepare(self.engine, self.url)
            elif _engine.check(self.engine, self.url):
                self._upgrade_first()
        except sa.exc.DatabaseError as exc:
            self.engine.dispose()
            raise StoreError(_open_error(self.url, exc)) from None
        except StoreError:
            self.engine.dispose()
            raise

    def _upgrade_first(self) -> None:
        """A read-only command on a database of an older tunebook: migrate it once (a
        write, so only where the file is writable), then go on reading."""
        writable = _engine.make_engine(self.url)
        try:
            _engine.prepare(writable, self.url)
        finally:
            writable.dispose()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- studies -------------------------------------------------------------------------

    @retry
    def create_study(self, name: str, spec: dict[str, Any], identity: str, *,
                     round: int = 1, parent_id: int | None = None,
                     combo: Params | None = None, budget: int | None = None,
                     leaves: Sequence[tuple[str, Params]] = ()) -> StudyRecord:
        """Create a study (and its sub-studies), atomically; see :class:`Store`."""
        now = time.time()
        row = {"name": name, "spec": spec, "identity": identity, "round": round,
               "parent_id": parent_id, "combo": combo, "created_at": now, "budget": budget}
        try:
            with self._write() as conn:
                key = conn.execute(studies.insert().values(**row)).inserted_primary_key
                assert key is not None
                for leaf_name, leaf_combo in leaves:
                    conn.execute(studies.insert().values(
                        {**row, "name": leaf_name, "parent_id": key[0], "combo": leaf_combo,
                         "budget": None}))
        except IntegrityError:
            raise StudyExists(f"a study named {name!r} already exists in {self.url}") from None
        return self._study_from_row({**row, "id": key[0]})

    @retry
    def find_study(self, name: str) -> StudyRecord | None:
        with self._read() as conn:
            row = conn.execute(studies.select().where(studies.c.name == name)).mappings().first()
        return self._study_from_row(row) if row else None

    @retry
    def study_by_id(self, study_id: int) -> StudyRecord:
        with self._read() as conn:
            row = conn.execute(studies.select().where(studies.c.id == study_id)).mappings().first()
        if row is None:
            raise StudyNotFound(f"no study with id {study_id} in {self.url}")
        return self._study_from_row(row)

    @retry
    def list_studies(self) -> list[StudyRecord]:
        with self._read() as conn:
            rows = conn.execute(studies.select().order_by(studies.c.id)).mappings().all()
        return [self._study_from_row(r) for r in rows]

    @retry
    def children(self, study_id: int) -> list[StudyRecord]:
        with self._read() as conn:
            rows = conn.execute(studies.select().where(studies.c.parent_id == study_id)
                                .order_by(studies.c.id)).mappings().all()
        return [self._study_from_row(r) for r in rows]

    @retry
    def update_study(self, study_id: int, *, spec: dict[str, Any] | None = None,
                     budget: int | None = None) -> None:
        values = {k: v for k, v in (("spec", spec), ("budget", budget)) if v is not None}
        if values:
            with self._write() as conn:
                conn.execute(studies.update().where(studies.c.id == study_id).values(**values))

    @staticmethod
    def _study_from_row(row: Any) -> StudyRecord:
        return StudyRecord(id=row["id"], name=row["name"], spec=row["spec"],
                           identity=row["identity"], round=row["round"],
                           parent_id=row["parent_id"], combo=row["combo"],
                           created_at=row["created_at"], budget=row["budget"])

    # -- trials --------------------------------------------------------------------------

    @retry
    def enqueue(self, study_id: int, new: Iterable[tuple[int, Params, int]]) -> int:
        """Add queued trials ``(index, params, seed)``; indices that exist are skipped."""
        now = time.time()
        with self._write() as conn:
            existing = set(conn.execute(sa.select(trials.c.trial_index)
                                        .where(trials.c.study_id == study_id)).scalars())
            rows = [{"study_id": study_id, "trial_index": i, "params": p, "seed": s,
                     "status": TrialStatus.QUEUED.value, "attempts": 0, "created_at": now}
                    for i, p, s in new if i not in existing]
            if rows:
                conn.execute(trials.insert(), rows)
        return len(rows)

    @retry
    def claim(self, worker: str, study_ids: Sequence[int] | None = None) -> TrialRecord | None:
        """Atomically take the lowest-index queued trial (of these studies) for ``worker``."""
        query = sa.select(trials.c.id).where(trials.c.status == TrialStatus.QUEUED.value)
        if study_ids is not None:
            query = query.where(trials.c.study_id.in_(study_ids))
        query = query.order_by(trials.c.trial_index, trials.c.id).limit(1)
        if self.dialect != "sqlite":
            query = query.with_for_update(skip_locked=True)
        now = time.time()
        with self._write() as conn:
            trial_id = conn.execute(query).scalar()
            if trial_id is None:
                return None
            conn.execute(trials.update().where(trials.c.id == trial_id).values(
                status=TrialStatus.RUNNING.value, worker=worker, heartbeat_at=now,
                started_at=now, attempts=trials.c.attempts + 1, reason=None))
            row = conn.execute(trials.select().where(trials.c.id == trial_id)).mappings().one()
        return self._trial_from_row(row)

    @retry
    def reserve(self, worker: str, study_ids: Sequence[int] | None = None,
                ) -> TrialRecord | None:
        counts = (sa.select(studies.c.id, sa.func.count(trials.c.id), studies.c.budget)
                  .select_from(studies.outerjoin(trials, trials.c.study_id == studies.c.id))
                  .where(studies.c.budget.is_not(None)).group_by(studies.c.id, studies.c.budget))
        if study_ids is not None:
            counts = counts.where(studies.c.id.in_(study_ids))
        with self._write() as conn:
            for study_id in pick_reservation([tuple(r) for r in conn.execute(counts).all()]):
                trial_id = self._reserve_in(conn, study_id, worker)
                if trial_id is not None:
                    row = conn.execute(trials.select().where(trials.c.id == trial_id)
                                       ).mappings().one()
                    return self._trial_from_row(row)
        return None

    def _reserve_in(self, conn: sa.Connection, study_id: int, worker: str) -> int | None:
        """Insert the study's next index if it is still under budget (under its row lock)."""
        lock = sa.select(studies.c.budget).where(studies.c.id == study_id)
        if self.dialect != "sqlite":
            lock = lock.with_for_update()
        budget = conn.execute(lock).scalar()
        have, last = conn.execute(sa.select(sa.func.count(), sa.func.max(trials.c.trial_index))
                                  .where(trials.c.study_id == study_id)).one()
        if budget is None or have >= budget:
            return None
        now = time.time()
        key = conn.execute(trials.insert().values(
            study_id=study_id, trial_index=0 if last is None else last + 1, params=None,
            seed=0, status=TrialStatus.RUNNING.value, worker=worker, attempts=1,
            heartbeat_at=now, created_at=now, started_at=now)).inserted_primary_key
        assert key is not None
        return int(key[0])

    @retry
    def set_params(self, trial_id: int, attempt: int, params: Params, seed: int) -> TrialRecord:
        with self._write() as conn:
            done = conn.execute(trials.update().where(self._owned(trial_id, attempt))
                                .values(params=params, seed=seed)).rowcount
            row = conn.execute(trials.select().where(trials.c.id == trial_id)).mappings().one()
        if not done:
            raise StaleClaim(f"trial {trial_id} attempt {attempt} is no longer running here")
        return self._trial_from_row(row)

    def _owned(self, trial_id: int, attempt: int) -> Any:
        return sa.and_(trials.c.id == trial_id, trials.c.attempts == attempt,
                       trials.c.status == TrialStatus.RUNNING.value)

    @retry
    def heartbeat(self, trial_id: int, attempt: int) -> None:
        """Say the claim is alive; :class:`StaleClaim` if the trial is no longer ours."""
        with self._write() as conn:
            done = conn.execute(trials.update().where(self._owned(trial_id, attempt))
                                .values(heartbeat_at=time.time())).rowcount
        if not done:
            raise StaleClaim(f"trial {trial_id} attempt {attempt} is no longer running here")

    @retry
    def finish(self, trial_id: int, attempt: int, status: TrialStatus, *,
               value: float | None = None, reason: str | None = None,
               metrics: dict[str, float] | None = None, code: str | None = None,
               devices: str | None = None) -> None:
        """Record a trial's outcome for the claim ``(trial_id, attempt)``."""
        if not status.finished:
            raise ValueError(f"finish() needs a final status, got {status.value}")
        with self._write() as conn:
            done = conn.execute(trials.update().where(self._owned(trial_id, attempt)).values(
                status=status.value, value=value, reason=reason, metrics=metrics or {},
                code=code, devices=devices, finished_at=time.time())).rowcount
            if done:
                return
            row = conn.execute(sa.select(trials.c.status, trials.c.attempts)
                               .where(trials.c.id == trial_id)).first()
        if row is not None and row.status == status.value and row.attempts == attempt:
            return  # the same finish, retried
        raise StaleClaim(f"trial {trial_id} attempt {attempt} was re-queued or re-claimed; "
                         "its result is not recorded")

    @retry
    def add_warning(self, trial_id: int, text: str) -> None:
        """Attach advice to a trial (kept with it whatever its final status)."""
        with self._write() as conn:
            query = sa.select(trials.c.warnings).where(trials.c.id == trial_id)
            if self.dialect != "sqlite":
                query = query.with_for_update()
            current = conn.execute(query).scalar()
            if text not in (current or []):
                conn.execute(trials.update().where(trials.c.id == trial_id)
                             .values(warnings=[*(current or []), text]))

    @retry
    def release(self, trial_id: int, attempt: int, reason: str) -> bool:
        """Put a claimed trial back in the queue (Ctrl-C); False if it was not ours."""
        with self._write() as conn:
            done = conn.execute(trials.update().where(self._owned(trial_id, attempt)).values(
                status=TrialStatus.QUEUED.value, worker=None, reason=reason)).rowcount
        return bool(done)

    @retry
    def requeue_stale(self, study_ids: Sequence[int] | None, *, timeout_s: float,
                      is_dead: Callable[[str], bool] = lambda worker: False,
                      is_ours: Callable[[str], bool] = lambda worker: False,
                      max_attempts: int | None = None) -> list[int]:
        """Re-queue running trials whose worker is dead or silent for ``timeout_s``."""
        cutoff = time.time() - timeout_s
        query = sa.select(trials.c.id, trials.c.attempts, trials.c.worker,
                          trials.c.heartbeat_at, trials.c.warnings).where(
            trials.c.status == TrialStatus.RUNNING.value)
        if study_ids is not None:
            query = query.where(trials.c.study_id.in_(study_ids))
        if self.dialect != "sqlite":
            query = query.with_for_update(skip_locked=True)
        requeued = []
        with self._write() as conn:
            for row in conn.execute(query).all():
                why = lost_because(row.attempts, row.worker, row.heartbeat_at, cutoff, is_dead,
                                   is_ours)
                if why is None:
                    continue
                conn.execute(trials.update().where(self._owned(row.id, row.attempts)).values(
                    **lost_trial_update(row.attempts, row.warnings or [], why,
                                        max_attempts, time.time())))
                requeued.append(row.id)
        return requeued

    @retry
    def lose(self, trial_id: int, attempt: int, why: str, *,
             max_attempts: int | None = None) -> bool:
        query = sa.select(trials.c.warnings).where(self._owned(trial_id, attempt))
        if self.dialect != "sqlite":
            query = query.with_for_update()
        with self._write() as conn:
            row = conn.execute(query).first()
            if row is None:
                return False
            conn.execute(trials.update().where(self._owned(trial_id, attempt)).values(
                **lost_trial_update(attempt, row.warnings or [], why,
                                    max_attempts, time.time())))
        return True

    @retry
    def retry_trials(self, study_ids: Sequence[int], statuses: Sequence[TrialStatus],
                     indices: Sequence[int] | None = None) -> list[int]:
        query = sa.select(trials.c.id, trials.c.attempts, trials.c.status, trials.c.reason,
                          trials.c.warnings).where(
            trials.c.study_id.in_(study_ids), trials.c.status.in_([s.value for s in statuses]))
        if indices is not None:
            query = query.where(trials.c.trial_index.in_(indices))
        with self._write() as conn:
            rows = conn.execute(query).all()
            for row in rows:
                conn.execute(trials.update().where(
                    trials.c.id == row.id, trials.c.status == row.status).values(
                    **retry_update(row.attempts, TrialStatus(row.status), row.reason,
                                   row.warnings or [])))
        return [row.id for row in rows]

    @retry
    def delete_study(self, study_id: int) -> int:
        with self._write() as conn:
            levels = [[study_id]]  # the study, its sub-studies and later rounds, any depth
            while levels[-1]:
                levels.append(list(conn.execute(sa.select(studies.c.id).where(
                    studies.c.parent_id.in_(levels[-1]))).scalars()))
            ids = [i for level in levels for i in level]
            doomed = sa.select(trials.c.id).where(trials.c.study_id.in_(ids))
            conn.execute(metric_points.delete().where(metric_points.c.trial_id.in_(doomed)))
            conn.execute(checkpoints.delete().where(checkpoints.c.trial_id.in_(doomed)))
            gone = conn.execute(trials.delete().where(trials.c.study_id.in_(ids))).rowcount
            for level in reversed(levels):  # children before their parents (foreign keys)
                if level:
                    conn.execute(studies.delete().where(studies.c.id.in_(level)))
        return int(gone)

    @retry
    def trials(self, study_ids: Sequence[int], status: TrialStatus | None = None,
               ) -> list[TrialRecord]:
        query = trials.select().where(trials.c.study_id.in_(study_ids))
        if status is not None:
            query = query.where(trials.c.status == status.value)
        with self._read() as conn:
            rows = conn.execute(query.order_by(trials.c.study_id, trials.c.trial_index)
                                ).mappings().all()
        return [self._trial_from_row(r) for r in rows]

    def get_trial(self, study_id: int, index: int) -> TrialRecord | None:
        with self._read() as conn:
            row = conn.execute(trials.select().where(
                trials.c.study_id == study_id, trials.c.trial_index == index)).mappings().first()
        return self._trial_from_row(row) if row else None

    @retry
    def trial_by_id(self, trial_id: int) -> TrialRecord:
        with self._read() as conn:
            row = conn.execute(trials.select().where(trials.c.id == trial_id)).mappings().one()
        return self._trial_from_row(row)

    @retry
    def counts(self, study_ids: Sequence[int]) -> dict[TrialStatus, int]:
        """Trials by status, in one aggregate query."""
        query = (sa.select(trials.c.status, sa.func.count()).where(
            trials.c.study_id.in_(study_ids)).group_by(trials.c.status))
        with self._read() as conn:
            found = {row[0]: row[1] for row in conn.execute(query).all()}
        return {s: int(found.get(s.value, 0)) for s in TrialStatus}

    @retry
    def best_value(self, study_ids: Sequence[int], goal: str) -> float | None:
        agg = sa.func.min if goal == "minimize" else sa.func.max
        query = sa.select(agg(trials.c.value)).where(
            trials.c.study_id.in_(study_ids), trials.c.status == TrialStatus.COMPLETED.value)
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else float(value)

    @retry
    def last_update(self, study_ids: Sequence[int]) -> float | None:
        cols = (trials.c.created_at, trials.c.started_at, trials.c.heartbeat_at,
                trials.c.finished_at)
        query = sa.select(*(sa.func.max(c) for c in cols)).where(trials.c.study_id.in_(study_ids))
        with self._read() as conn:
            row = conn.execute(query).one()
        times = [float(t) for t in row if t is not None]
        return max(times) if times else None

    @staticmethod
    def _trial_from_row(row: Any) -> TrialRecord:
        return TrialRecord(
            id=row["id"], study_id=row["study_id"], index=row["trial_index"],
            params=dict(row["params"] or {}), seed=int(row["seed"]),
            status=TrialStatus(row["status"]), reason=row["reason"], worker=row["worker"],
            attempts=row["attempts"], heartbeat_at=row["heartbeat_at"],
            created_at=row["created_at"], started_at=row["started_at"],
            finished_at=row["finished_at"], value=row["value"],
            metrics=dict(row["metrics"] or {}), warnings=list(row["warnings"] or []),
            suggested=row["params"] is not None, code=row["code"], devices=row["devices"])

    # -- metrics and checkpoints ---------------------------------------------------------

    def _upsert_sql(self) -> str:
        """``INSERT ... ON CONFLICT (trial, name, step) DO UPDATE``, in the driver's own
        parameter style: metric batches bypass SQL compilation, which dominates the cost of
        writing thousands of small rows through the ORM-less Core API."""
        if self.dialect not in ("sqlite", "postgresql"):  # pragma: no cover
            raise StoreError(f"metric upserts are not implemented for {self.dialect}")
        marks = {"qmark": "?", "numeric": "?", "format": "%s", "pyformat": "%s"}
        mark = marks.get(self.engine.dialect.paramstyle, "?")
        values = ", ".join([mark] * 5)
        return (f"INSERT INTO {metric_points.name} (trial_id, name, step, value, time) "
                f"VALUES ({values}) ON CONFLICT (trial_id, name, step) DO UPDATE SET "
                "value = excluded.value, time = excluded.time")

    @retry
    def report_metrics(self, trial_id: int, points: Sequence[Point]) -> None:
        """Write a batch of ``(step, name, value, time)`` in one transaction (idempotent)."""
        if not points:
            return
        rows = [(trial_id, name, step, _finite_or_none(float(value)), t)
                for step, name, value, t in points]
        with self._write() as conn:
            conn.exec_driver_sql(self._upsert_sql(), rows)

    @retry
    def metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        query = sa.select(metric_points.c.step, metric_points.c.name, metric_points.c.value,
                          metric_points.c.time).where(metric_points.c.trial_id == trial_id)
        if name is not None:
            query = query.where(metric_points.c.name == name)
        with self._read() as conn:
            rows = conn.execute(query.order_by(metric_points.c.name, metric_points.c.step)).all()
        return [MetricPoint(r.step, r.name, math.nan if r.value is None else r.value, r.time)
                for r in rows]

    def metric_points(self, trial_ids: Sequence[int], names: Sequence[str] | None = None,
                      ) -> dict[tuple[int, str], list[tuple[int, float]]]:
        """Every point of some trials (and metrics), by (trial id, name), ordered by step."""
        if not trial_ids:
            return {}
        query = sa.select(metric_points.c.trial_id, metric_points.c.name, metric_points.c.step,
                          metric_points.c.value).where(metric_points.c.trial_id.in_(trial_ids))
        if names is not None:
            query = query.where(metric_points.c.name.in_(names))
        query = query.order_by(metric_points.c.trial_id, metric_points.c.name,
                               metric_points.c.step)
        out: dict[tuple[int, str], list[tuple[int, float]]] = {}
        with self._read() as conn:
            for trial_id, name, step, value in conn.execute(query):
                out.setdefault((trial_id, name), []).append(
                    (step, math.nan if value is None else value))
        return out

    @retry
    def final_metrics(self, trial_id: int) -> dict[str, float]:
        """The value of every metric at its last reported step."""
        last = (sa.select(metric_points.c.name, sa.func.max(metric_points.c.step).label("step"))
                .where(metric_points.c.trial_id == trial_id)
                .group_by(metric_points.c.name).subquery())
        query = sa.select(metric_points.c.name, metric_points.c.value).join(
            last, sa.and_(metric_points.c.name == last.c.name,
                          metric_points.c.step == last.c.step)).where(
            metric_points.c.trial_id == trial_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {r.name: math.nan if r.value is None else r.value for r in rows}

    @retry
    def add_checkpoint(self, trial_id: int, step: int, path: str,
                       value: float | None = None) -> int:
        with self._write() as conn:
            key = conn.execute(checkpoints.insert().values(
                trial_id=trial_id, step=step, path=path, value=value, kept=True,
                created_at=time.time())).inserted_primary_key
        assert key is not None
        return int(key[0])

    @retry
    def drop_checkpoint(self, checkpoint_id: int) -> None:
        with self._write() as conn:
            conn.execute(checkpoints.update().where(checkpoints.c.id == checkpoint_id)
                         .values(kept=False))

    def checkpoints(self, trial_id: int) -> list[CheckpointRecord]:
        with self._read() as conn:
            rows = conn.execute(checkpoints.select().where(checkpoints.c.trial_id == trial_id)
                                .order_by(checkpoints.c.step)).mappings().all()
        return [CheckpointRecord(r["id"], r["trial_id"], r["step"], r["path"], r["value"],
                                 bool(r["kept"])) for r in rows]

    # -- baselines -----------------------------------------------------------------------

    @retry
    def add_baseline(self, name: str, config: dict[str, Any], *, author: str, why: str = "",
                     source: str = "", study: str | None = None,
                     evidence: dict[str, Any] | None = None,
                     forced: bool = False) -> BaselineRecord:
        """Add the next version; a concurrent writer's version wins and this one retries
        as the one after it (the unique (name, version) key decides)."""
        row = {"name": name, "config": config, "created_at": time.time(), "author": author,
               "why": why, "source": source, "study": study, "evidence": evidence,
               "forced": forced}
        for attempt in range(BASELINE_ATTEMPTS):
            try:
                with self._write() as conn:
                    top = conn.execute(sa.select(sa.func.max(baselines.c.version))
                                       .where(baselines.c.name == name)).scalar()
                    row["version"] = int(top or 0) + 1
                    key = conn.execute(baselines.insert().values(**row)).inserted_primary_key
            except IntegrityError:
                # Another writer took this version: back off a random moment, so that
                # writers that keep colliding on a loaded machine spread out.
                time.sleep(random.uniform(0.0, 0.002 * min(attempt + 1, 50)))
                continue
            assert key is not None
            return self._baseline_from_row({**row, "id": key[0]})
        raise StoreError(f"could not add a version of baseline {name!r}: "
                         f"{BASELINE_ATTEMPTS} collisions with other writers in a row")

    @retry
    def baselines(self, name: str | None = None) -> list[BaselineRecord]:
        query = baselines.select().order_by(baselines.c.id)
        if name is not None:
            query = query.where(baselines.c.name == name)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._baseline_from_row(r) for r in rows]

    @staticmethod
    def _baseline_from_row(row: Any) -> BaselineRecord:
        return BaselineRecord(id=row["id"], name=row["name"], version=row["version"],
                              config=row["config"], created_at=row["created_at"],
                              author=row["author"], why=row["why"], source=row["source"],
                              study=row["study"], evidence=row["evidence"],
                              forced=bool(row["forced"]))

    # -- autopilot decisions -------------------------------------------------------------

    @retry
    def add_decision(self, pilot: str, seq: int, *, phase: str, action: str, summary: str,
                     why: str, stats: dict[str, Any], study: str | None, spent: float,
                     budget: float, state: DecisionState) -> DecisionRecord:
        row = {"pilot": pilot, "seq": seq, "phase": phase, "action": action,
               "summary": summary, "why": why, "stats": stats, "study": study,
               "spent": spent, "budget": budget, "state": state.value, "note": "",
               "created_at": time.time()}
        try:
            with self._write() as conn:
                key = conn.execute(decisions.insert().values(**row)).inserted_primary_key
        except IntegrityError:  # the unique (pilot, seq): another driver wrote it first
            raise StaleClaim(f"decision {seq} of autopilot {pilot!r} was written by another "
                             "autopilot") from None
        assert key is not None
        return self._decision_from_row({**row, "id": key[0]})

    @retry
    def decisions(self, pilot: str | None = None) -> list[DecisionRecord]:
        query = decisions.select().order_by(decisions.c.id)
        if pilot is not None:
            query = decisions.select().where(decisions.c.pilot == pilot).order_by(
                decisions.c.seq)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._decision_from_row(r) for r in rows]

    @retry
    def resolve_decision(self, decision_id: int, state: DecisionState, note: str = "",
                         ) -> bool:
        with self._write() as conn:
            done = conn.execute(decisions.update().where(
                decisions.c.id == decision_id,
                decisions.c.state == DecisionState.PROPOSED.value,
            ).values(state=state.value, note=note)).rowcount
        return bool(done)

    @staticmethod
    def _decision_from_row(row: Any) -> DecisionRecord:
        return DecisionRecord(id=row["id"], pilot=row["pilot"], seq=row["seq"],
                              phase=Phase(row["phase"]), action=Action(row["action"]),
                              summary=row["summary"], why=row["why"], stats=row["stats"],
                              study=row["study"], spent=row["spent"], budget=row["budget"],
                              state=DecisionState(row["state"]), note=row["note"] or "",
                              created_at=row["created_at"])
