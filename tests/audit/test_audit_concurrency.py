"""Many writers at once never fork the chain (the read-modify-write of its head is locked)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from trailguard.audit import service
from trailguard.core.db import Database


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with db.session() as session:
                    # a read first, as services do, then the audited write
                    service.recent(session, limit=1)
                    service.record(
                        session,
                        actor=f"user:w{n}",
                        action="test.append",
                        subject=f"item:{n}-{i}",
                        at=datetime.now(UTC),
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with db.session() as session:
        report = service.verify(session)
    assert report.ok, report.problems
    assert report.entries == 60
