"""Paths a new user gets wrong: empty files, read-only mounts, missing output folders."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import QUADRATIC, tunebook_cli, write_study


def test_read_only_commands_never_write(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for command in (["status"], ["trials", "x"], ["table"], ["report", "x", "-o",
                                                                str(tmp_path / "r.html")]):
        done = tunebook_cli(*command, "--db", str(empty), cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "no tunebook data yet" in done.stderr
        assert empty.stat().st_size == 0 and not list(tmp_path.glob("empty.db-*"))


def test_output_folders_are_checked_before_the_work(tmp_path: Path, db_path: str) -> None:
    path = write_study(tmp_path, QUADRATIC, budget=2)
    assert tunebook_cli("run", str(path), "--db", db_path, cwd=tmp_path).returncode == 0
    missing = tunebook_cli("report", "toy", "-o", str(tmp_path / "nope" / "r.html"),
                           "--db", db_path, cwd=tmp_path)
    assert missing.returncode == 1 and "folder" in missing.stderr and "does not exist" in \
        missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "afile").touch()
    png = tunebook_cli("report", "toy", "--png", str(tmp_path / "afile" / "plots"),
                       "--db", db_path, cwd=tmp_path)
    assert png.returncode == 1 and "--png" in png.stderr and "Traceback" not in png.stderr


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A folder and a read-only bind mount of it (skipped where mounting is not allowed)."""
    source, view = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    view.mkdir()
    done = subprocess.run(f"mount --bind {source} {view} && "
                          f"mount -o remount,bind,ro {view}", shell=True, capture_output=True)
    if done.returncode != 0:
        subprocess.run(["umount", str(view)], capture_output=True)
        pytest.skip(f"!!! cannot make a read-only mount here ({done.stderr.decode().strip()})"
                    ": read-only mount test SKIPPED")
    yield source, view
    subprocess.run(["umount", "-l", str(view)], check=True)


def test_a_database_on_a_read_only_mount(tmp_path: Path,
                                         read_only_mount: tuple[Path, Path]) -> None:
    source, view = read_only_mount
    path = write_study(tmp_path / "study", QUADRATIC, budget=2)
    made = tunebook_cli("run", str(path), "--db", str(source / "t.db"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    db = str(view / "t.db")
    status = tunebook_cli("status", "--db", db, cwd=tmp_path)
    assert status.returncode == 0 and "toy" in status.stdout, status.stderr
    assert tunebook_cli("trials", "toy", "--db", db, cwd=tmp_path).returncode == 0
    report = tunebook_cli("report", "toy", "-o", str(tmp_path / "r.html"), "--db", db,
                          cwd=tmp_path)
    assert report.returncode == 0 and (tmp_path / "r.html").exists(), report.stderr
    write = tunebook_cli("run", str(path), "--db", db, cwd=tmp_path)
    assert write.returncode == 1 and "read-only" in write.stderr, write.stderr
    runs = tunebook_cli("run", str(path), "--db", str(tmp_path / "other.db"), "--runs-dir",
                        str(view / "runs"), cwd=tmp_path)
    assert runs.returncode == 1 and "--runs-dir" in runs.stderr, runs.stderr
    assert "Traceback" not in write.stderr + runs.stderr


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder any user can read (pytest's own tmp_path is private to its user)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tunebook-ro-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def as_user() -> list[str]:
    """The command prefix that runs a command as a user without write access to files
    the tests make: nothing, or under root (which writes anyway) setpriv to nobody."""
    import os
    import shutil

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("!!! running as root without setpriv: unwritable-path tests SKIPPED")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    why = _nobody_cannot_run(tuple(prefix))
    if why:
        pytest.skip(f"!!! user nobody cannot run this checkout's tunebook ({why}): "
                    "unwritable-path tests SKIPPED; put the checkout (and its virtual "
                    "environment) in a folder other users can enter to run them")
    return prefix


@functools.cache
def _nobody_cannot_run(prefix: tuple[str, ...]) -> str:
    """Why ``prefix`` (run as nobody) cannot import tunebook here ('' when it can): a
    checkout under /root, say, that only root may enter."""
    import subprocess
    import sys

    done = subprocess.run([*prefix, sys.executable, "-c", "import tunebook.cli"], cwd="/",
                          capture_output=True, text=True, timeout=120)
    return "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def _run_as(as_user: list[str], folder: Path, *command: str,
            ) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    home = folder / "home"
    home.mkdir(mode=0o777, exist_ok=True)
    home.chmod(0o777)
    env = {**os.environ, "HOME": str(home), "COLUMNS": "200"}
    env.pop("TUNEBOOK_DB", None)
    return subprocess.run([*as_user, sys.executable, "-m", "tunebook.cli", *command], cwd=home,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("folder_mode", [0o755, 0o777], ids=["folder-unwritable",
                                                             "folder-writable"])
def test_write_commands_on_a_file_this_user_cannot_write(open_folder: Path,
                                                         as_user: list[str],
                                                         folder_mode: int) -> None:
    """Another user's database (or a chmod 444 one, where SQLite can still make its
    journal files beside it): every write command says read-only, with no traceback, and
    the file is left as it was."""
    open_folder.chmod(folder_mode)
    path = write_study(open_folder / "study", QUADRATIC, budget=2, max_steps=3)
    for part in (path.parent, path):
        part.chmod(0o755 if part.is_dir() else 0o644)
    db = open_folder / "t.db"
    made = tunebook_cli("run", str(path), "--db", str(db), cwd=open_folder)
    assert made.returncode == 0, made.stderr
    db.chmod(0o444)
    before = db.read_bytes()
    other = write_study(open_folder / "other", QUADRATIC, name="other", budget=1)
    for part in (other.parent, other):
        part.chmod(0o755 if part.is_dir() else 0o644)
    config = open_folder / "base.yaml"
    config.write_text("lr: 0.1\n")
    config.chmod(0o644)
    runs = str(open_folder / "home" / "runs")
    for command in (["retry", "toy", "--status", "completed"], ["delete", "toy", "--yes"],
                    ["rerun", "toy"], ["run", str(other), "--runs-dir", runs],
                    ["round2", "toy", "--steps-factor", "2"],
                    ["baseline", "set", str(config)]):
        done = _run_as(as_user, open_folder, *command, "--db", str(db))
        assert done.returncode == 1 and "read-only" in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
    assert db.read_bytes() == before


def test_files_written_into_a_folder_this_user_cannot_write(open_folder: Path,
                                                            as_user: list[str]) -> None:
    """init and next into a folder the user cannot write: one line naming the folder and
    the way out, no traceback."""
    path = write_study(open_folder / "study", QUADRATIC, budget=6)
    path.parent.chmod(0o755)
    path.chmod(0o644)
    db = open_folder / "t.db"
    made = tunebook_cli("run", str(path), "--db", str(db), cwd=open_folder)
    assert made.returncode == 0, made.stderr
    db.chmod(0o644)
    cases = {("init", str(open_folder / "new")): "cannot create",
             ("init", str(open_folder)): "is not writable",
             ("next", "toy", "--db", str(db)): "pass -o PATH",
             ("next", "toy", "--db", str(db), "-o", str(open_folder / "n.yaml")):
                 "is not writable"}
    for command, says in cases.items():
        done = _run_as(as_user, open_folder, *command)
        assert done.returncode == 1 and says in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
    assert not (open_folder / "new").exists() and not (open_folder / "study.yaml").exists()
