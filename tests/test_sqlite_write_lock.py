"""SQLite writers in one process queue on one lock per database file, held from a
transaction's first write until its commit or rollback has finished."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from trailguard.core.db import Database


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'node.db'}")
    with db.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER NOT NULL)"))
    return db


def _held_elsewhere(db: Database) -> bool:
    """Whether another thread holds the write lock right now."""
    lock = db.write_lock
    assert lock is not None
    result: list[bool] = []

    def probe() -> None:
        free = lock.acquire(blocking=False)
        if free:
            lock.release()
        result.append(not free)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


def test_the_lock_is_held_from_the_first_write_to_the_commit(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with db.session() as session:
        session.execute(sa.text("SELECT count(*) FROM t"))
        assert not _held_elsewhere(db)  # reading takes nothing
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert _held_elsewhere(db)
    assert not _held_elsewhere(db)


def test_a_failed_transaction_releases_the_lock_and_keeps_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with pytest.raises(RuntimeError), db.session() as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("the caller fails half-way")
    assert not _held_elsewhere(db)
    with db.session() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM t")) == 0


def test_two_databases_have_two_locks_and_one_file_has_one(tmp_path: Path) -> None:
    db = _db(tmp_path)
    same = Database(f"sqlite:///{tmp_path / 'node.db'}")
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    assert db.write_lock is same.write_lock
    assert db.write_lock is not other.write_lock
    assert Database("postgresql://u@127.0.0.1/x").write_lock is None


def test_concurrent_writers_all_commit(tmp_path: Path) -> None:
    db = _db(tmp_path)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(40):
                with db.session() as session:
                    session.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": k * 1000 + i})
                    session.execute(sa.text("SELECT count(*) FROM t"))
                    session.execute(sa.text("UPDATE t SET x = x WHERE x = :x"), {"x": k})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    with db.session() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM t")) == 160
    assert not _held_elsewhere(db)
