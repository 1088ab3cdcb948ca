"""Shared helpers: write study files and trainer modules into a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def write_study(folder: Path, trainer_source: str | None = None, *,
                module: str = "trainer", **fields: Any) -> Path:
    """Write ``study.yaml`` (and ``<module>.py``) into ``folder``; returns the yaml path."""
    data: dict[str, Any] = {
        "name": "toy",
        "objective": {"metric": "loss", "goal": "minimize"},
        "trainer": {"train": f"{module}:main"},
        "nuisance": {"lr": {"low": 1e-4, "high": 1.0, "scale": "log"}},
        "budget": 6,
    }
    data.update(fields)
    folder.mkdir(parents=True, exist_ok=True)
    if trainer_source is not None:
        (folder / f"{module}.py").write_text(textwrap.dedent(trainer_source))
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


QUADRATIC = """
    import math
    import tunebook

    def main(t):
        lr = t.params["lr"]
        for step in range(1, 4):
            t.report(step, loss=(math.log10(lr) + 2) ** 2 + 1.0 / step)
"""


def tunebook_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
                 timeout: float = 600, input: str | None = None,
                 columns: str | None = "200") -> subprocess.CompletedProcess[str]:
    """Run the real ``tunebook`` console script in a subprocess (stdout is a pipe)."""
    full_env = {**os.environ, **({"COLUMNS": columns} if columns else {}), **(env or {})}
    if columns is None:
        full_env.pop("COLUMNS", None)
    full_env.pop("TUNEBOOK_DB", None)
    if env and "TUNEBOOK_DB" in env:
        full_env["TUNEBOOK_DB"] = env["TUNEBOOK_DB"]
    return subprocess.run([sys.executable, "-m", "tunebook.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=input)


def compete(target: Any, url: str, processes: int = 8, timeout: float = 180) -> list[list[int]]:
    """Run ``target(url, worker, out, start)`` in competing processes; what each returned.

    Each process connects, waits at a barrier so that all really compete, then puts its
    list of trial indices on ``out``; every process must exit cleanly.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(processes)
    procs = [ctx.Process(target=target, args=(url, f"w{i}", out, start))
             for i in range(processes)]
    for p in procs:
        p.start()
    got = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return got


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "tunebook.db")


PG_ENV = "TUNEBOOK_TEST_POSTGRES"


def postgres_admin_url() -> str:
    """The test server's URL; skip loudly outside CI without one, fail inside CI."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_ENV} is not set in CI: .ci/run must start the PostgreSQL test server")
    pytest.skip("!!! no PostgreSQL test server: PostgreSQL tests SKIPPED. Start one with "
                "`eval \"$(scripts/pg-test-server.sh start)\"`")


@pytest.fixture
def postgres_url() -> Any:
    """A fresh, throwaway database on the test server (dropped afterwards)."""
    import uuid

    import sqlalchemy as sa

    admin_url = postgres_admin_url()
    name = f"tb_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    admin.dispose()  # the server may have been restarted by the test
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The storage conformance suite runs every test against both backends."""
    if request.param == "sqlite":
        return str(tmp_path / "tunebook.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Opens a handle on one store, on every backend (the in-memory one included).

    Call it twice for a second connection to the same database; the in-memory store has
    one handle, returned each time.
    """
    from tunebook.store import MemoryStore, open_store

    if request.param == "memory":
        memory = MemoryStore()
        return lambda: memory
    url = (str(tmp_path / "tunebook.db") if request.param == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    return lambda: open_store(url)


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Debian's Chromium for Playwright; fail in CI without it, skip loudly elsewhere."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run must apt-get install chromium")
    pytest.skip("!!! chromium not installed: browser tests SKIPPED (apt-get install chromium)")


class PageWatch:
    """What a Playwright page did that a test forbids: console errors, requests outside
    ``allowed`` prefixes, dialogs (an executed ``alert``)."""

    def __init__(self, page: Any, allowed: tuple[str, ...]):
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.outside.append(r.url)
                if not r.url.startswith(allowed) else None)
