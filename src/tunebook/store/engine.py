"""Open a database for tunebook: URL resolution, SQLite set-up, schema check, migrations.

A file that is not a tunebook database, or one written by a newer tunebook, is refused
with a clear error and left untouched: nothing is written before the check passes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from tunebook.errors import StoreError
from tunebook.store.schema import VERSION_TABLE

DEFAULT_DB = "tunebook.db"
MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_LOCK = 7_214_031_955  # "tunebook schema" on PostgreSQL


def resolve_url(db: str | None = None) -> str:
    """``--db`` value, else ``$TUNEBOOK_DB``, else ``./tunebook.db``; a path becomes a URL."""
    value = db or os.environ.get("TUNEBOOK_DB") or DEFAULT_DB
    if "://" in value:
        try:
            sa.engine.make_url(value)
        except sa.exc.ArgumentError:
            raise StoreError(f"--db {value!r} is not a database URL; pass a SQLite file path "
                             "(tunebook.db) or a URL such as "
                             "postgresql+psycopg://user@host/db") from None
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (``None`` for other databases and ``:memory:``)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine with tunebook's per-connection settings.

    SQLite: a 30 s busy timeout, foreign keys on, and explicit ``BEGIN``: read
    transactions use ``BEGIN DEFERRED``; connections opened with the execution option
    ``tunebook_begin="IMMEDIATE"`` take the write lock up front, so two writers never
    deadlock on a lock upgrade (the "database is locked" errors Optuna users hit).
    ``read_only`` opens a SQLite file with ``mode=ro``: SQLite itself then refuses every
    write, so a command that only reads can never change the file (or create a schema in
    an empty one), and a database on a read-only mount can still be read. On PostgreSQL
    every transaction is ``READ ONLY``: the server refuses writes the same way.
    """
    try:
        backend = sa.engine.make_url(url).get_backend_name()
        if backend != "sqlite":
            engine = sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(f"--db {url!r} is not a database tunebook can open ({exc}); pass "
                         "a SQLite file path (tunebook.db) or a URL such as "
                         "postgresql+psycopg://user@host/db") from None
    except ImportError as exc:  # the dialect's driver is not installed
        raise StoreError(f"--db {url!r} needs a database driver that is not installed "
                         f"({exc}); for PostgreSQL: pip install 'tunebook[postgres]'") from None
    if backend != "sqlite":
        return engine.execution_options(postgresql_readonly=True) if read_only else engine
    path = sqlite_path(url)
    if read_only and path is not None:
        import sqlite3
        from urllib.parse import quote

        def connect() -> sqlite3.Connection:
            target = f"file:{quote(str(path))}"
            try:
                conn = sqlite3.connect(f"{target}?mode=ro", uri=True, timeout=30,
                                       check_same_thread=False)
                conn.execute("PRAGMA schema_version")  # a WAL file needs its -shm here
                return conn
            except sqlite3.OperationalError:
                # A WAL database on a read-only mount cannot create its -shm file: read it
                # as immutable (nothing can be writing to a read-only mount anyway).
                return sqlite3.connect(f"{target}?immutable=1", uri=True, timeout=30,
                                       check_same_thread=False)

        engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.QueuePool)
    else:
        engine = sa.create_engine(url, connect_args={"timeout": 30,
                                                     "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("tunebook_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def check_sqlite_folder(path: Path) -> None:
    """A clear error for a missing folder (SQLite would say only "unable to open").

    The file itself is not read here: closing any descriptor of a SQLite file drops every
    lock this process holds on it (POSIX semantics), which corrupts other open
    connections. SQLite itself refuses a file that is not a database, without writing.
    """
    if not path.exists() and not path.parent.exists():
        raise StoreError(f"{path}: folder {path.parent} does not exist; create it or pick "
                         "another --db path")


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _known_revisions(config: Any) -> tuple[set[str], str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    return {rev.revision for rev in script.walk_revisions()}, str(head)


def check(engine: Engine, url: str) -> bool:
    """Check, without writing, that the database is tunebook's; True if it needs a migration.

    Raises:
        StoreError: empty, not a tunebook database, or a schema newer than this tunebook.
    """
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if not tables:
            raise StoreError(f"{url} has no tunebook data yet (nothing was written to it); "
                             "run a study first (tunebook run FILE), or pass another --db")
        if VERSION_TABLE not in tables:
            raise StoreError(f"{url} holds other tables ({', '.join(sorted(tables)[:5])}) "
                             "and is not a tunebook database; pass another --db")
        current = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        known, head = _known_revisions(_alembic_config(conn))
    if current not in known:
        raise StoreError(f"{url} was written by a newer tunebook (schema {current}); "
                         "upgrade tunebook (pip install -U tunebook) to open it")
    return bool(current != head)


def prepare(engine: Engine, url: str) -> None:
    """Check the database is tunebook's (or empty) and bring its schema to the head.

    Raises:
        StoreError: not a tunebook database, or a schema newer than this tunebook.
    """
    from alembic import command

    with engine.connect() as conn:
        # Two processes opening a new database at once create the schema only once:
        # SQLite takes the write lock up front, PostgreSQL a transaction advisory lock.
        conn.execution_options(tunebook_begin="IMMEDIATE")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
        tables = set(sa.inspect(conn).get_table_names())
        if tables and VERSION_TABLE not in tables:
            raise StoreError(f"{url} holds other tables ({', '.join(sorted(tables)[:5])}) and "
                             "is not a tunebook database; pass another --db")
        config = _alembic_config(conn)
        known, head = _known_revisions(config)
        current = None
        if tables:
            current = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        if current is not None and current not in known:
            raise StoreError(f"{url} was written by a newer tunebook (schema {current}); "
                             "upgrade tunebook (pip install -U tunebook) to open it")
        if current != head:
            command.upgrade(config, "head")
            conn.commit()
    if sqlite_path(url) is not None:
        raw = engine.raw_connection()  # outside any transaction, as SQLite requires
        try:
            raw.cursor().execute("PRAGMA journal_mode = WAL")
        finally:
            raw.close()


P = ParamSpec("P")
R = TypeVar("R")
RETRY_FOR_S = 120.0
DISCONNECTED = ("server closed the connection", "connection refused", "terminating connection",
                "could not connect", "connection is lost", "connection is closed",
                "the database system is starting up", "the database system is shutting down",
                "consuming input failed", "connection timed out", "no connection to the server")


def transient(exc: DBAPIError) -> bool:
    """An error that goes away by waiting: SQLite busy, or a lost database connection."""
    if exc.connection_invalidated:
        return True
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "database is locked" in text or any(part in text for part in DISCONNECTED)


def read_only(exc: DBAPIError) -> bool:
    """SQLite refused a write: the file (or its folder) is not writable by this user."""
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "readonly database" in text or "read-only" in text or "read only" in text


def read_only_message(url: str, exc: DBAPIError) -> str:
    return (f"{url} is read-only ({exc.orig}); this command writes to the database: run it "
            "where the file is writable, or copy the file")


def retry(fn: Callable[P, R]) -> Callable[P, R]:
    """Retry an operation through SQLite lock contention and database restarts.

    Every retried operation is safe to repeat: writes are compare-and-set on the claim,
    upserts, or skip what exists. Backoff grows to 2 s; after ``RETRY_FOR_S`` the error is
    raised. A write the database refuses as read-only (a ``chmod 444`` file that opened
    fine) is a :class:`StoreError` with that one line, wherever it surfaces.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.05
        while True:
            try:
                return fn(*args, **kwargs)
            except DBAPIError as exc:
                if read_only(exc):
                    url = str(getattr(args[0], "url", "the database")) if args else "the database"
                    raise StoreError(read_only_message(url, exc)) from None
                if not transient(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    return wrapper
