"""The audit log: appends chain, any edit or removal is detected and named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from trailguard.audit import service
from trailguard.core.db import Database

T0 = datetime(2026, 11, 20, 8, 14, 7, 123456, tzinfo=UTC)


def _fill(db: Database, count: int) -> None:
    with db.session() as session:
        for i in range(count):
            service.record(
                session,
                actor="user:alice",
                action="request.approved",
                subject=f"request:{i}",
                details={"n": i, "note": "Überprüft"},
                at=T0 + timedelta(seconds=i),
            )


def _drop_guards(db: Database) -> None:
    """An attacker with database access can remove the append-only triggers first."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_log_no_change ON audit_log"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))


def test_chain_verifies_and_keeps_microseconds(db: Database) -> None:
    _fill(db, 5)
    with db.session() as session:
        report = service.verify(session)
        entries = service.recent(session, limit=10)
    assert report.ok and report.entries == 5
    assert entries[0].seq == 5 and entries[-1].seq == 1
    assert entries[-1].at == T0  # microseconds and UTC survive the round trip
    assert entries[1].prev_hash == entries[2].entry_hash


def test_database_refuses_updates_and_deletes(db: Database) -> None:
    _fill(db, 2)
    for statement in (
        "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
    ):
        try:
            with db.engine.begin() as conn:
                conn.execute(sa.text(statement))
        except sa.exc.DBAPIError as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{statement} was allowed")


def test_editing_a_row_is_detected_and_named(db: Database) -> None:
    _fill(db, 6)
    _drop_guards(db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET subject = 'request:999' WHERE seq = 4"))
    with db.session() as session:
        report = service.verify(session)
    assert not report.ok
    assert report.problems[0].seq == 4
    assert "changed" in report.problems[0].reason


def test_removing_the_last_row_is_detected(db: Database) -> None:
    _fill(db, 3)
    _drop_guards(db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))
    with db.session() as session:
        report = service.verify(session)
    assert not report.ok
    assert any("removed" in p.reason for p in report.problems)


def test_removing_a_middle_row_is_detected(db: Database) -> None:
    _fill(db, 4)
    _drop_guards(db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    with db.session() as session:
        report = service.verify(session)
    assert [p.seq for p in report.problems][:1] == [3]


def test_rolled_back_change_leaves_no_entry(db: Database) -> None:
    try:
        with db.session() as session:
            service.record(session, actor="system", action="x.y", subject="s:1", at=T0)
            raise RuntimeError("the audited change failed")
    except RuntimeError:
        pass
    with db.session() as session:
        assert service.verify(session).entries == 0


def test_naive_time_is_refused(db: Database) -> None:
    with db.session() as session:
        try:
            service.record(
                session, actor="system", action="x.y", subject="s:1", at=datetime(2026, 1, 1)
            )
        except ValueError as exc:
            assert "naive" in str(exc)
        else:
            raise AssertionError("naive datetime accepted")


def test_a_rolled_back_savepoint_takes_its_entries_back_and_the_chain_goes_on(
    db: Database,
) -> None:
    """Many entries in one transaction take the chain's lock once; a savepoint rolled back
    in between removes its entries and the next entry follows the last one kept."""
    with db.session() as session:
        service.lock_chain(session)
        service.record(session, actor="system", action="a.kept", subject="x:1", at=T0)
        savepoint = session.begin_nested()
        service.record(session, actor="system", action="a.dropped", subject="x:2", at=T0)
        service.record(session, actor="system", action="a.dropped", subject="x:3", at=T0)
        savepoint.rollback()
        after = service.record(session, actor="system", action="a.kept", subject="x:4", at=T0)
        assert after.seq == 2
    with db.session() as session:
        report = service.verify(session)
        entries = list(service.iter_entries(session))
    assert report.ok, report
    assert [(e.seq, e.subject) for e in entries] == [(1, "x:1"), (2, "x:4")]


def test_overlong_fields_are_cut_before_hashing_so_the_entry_verifies(db: Database) -> None:
    with db.session() as session:
        entry = service.record(
            session, actor="node:" + "n" * 300, action="a." + "b" * 200, subject="s" * 400, at=T0
        )
    assert len(entry.actor) == 200 and len(entry.action) == 100 and len(entry.subject) == 300
    with db.session() as session:
        assert service.verify(session).ok
