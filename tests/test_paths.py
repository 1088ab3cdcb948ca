"""Paths a new user gets wrong: empty files, read-only mounts, missing output folders."""

from __future__ import annotations

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
