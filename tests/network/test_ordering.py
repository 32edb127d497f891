"""Messages to one recipient arrive in the order they were written, even with concurrent
delivery, and a message waiting for its retry holds back the later ones (a request's
'preserved' must never overtake its 'in_execution')."""

from __future__ import annotations

from datetime import timedelta

import httpx
from network_kit import Net
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.network import ReceivedMessage, deliver_pending, register_handler, send_message
from trailguard.network.orm import OutboxRow
from trailguard.node import Node

ARRIVALS: list[int] = []


def _arrived(session: Session, node: Node, message: ReceivedMessage) -> None:
    ARRIVALS.append(int(message.payload["n"]))


register_handler("test.ordered", _arrived)


def _send(net: Net, n: int) -> None:
    with net.us.db.session() as session:
        send_message(
            session,
            net.us,
            recipient="nl-poc",
            message_type="test.ordered",
            payload={"n": n},
            actor="system:test",
        )


def test_one_recipient_keeps_order_under_concurrency(net: Net) -> None:
    ARRIVALS.clear()
    for n in range(12):
        _send(net, n)
    report = deliver_pending(net.us, transport=net.transport, concurrency=4)
    assert len(report.delivered) == 12
    assert list(range(12)) == ARRIVALS


def test_a_retrying_message_holds_back_later_ones(net: Net) -> None:
    ARRIVALS.clear()
    nl_host = httpx.URL(net.nl.config.base_url).host
    net.router.down.add(nl_host)
    _send(net, 1)
    first = deliver_pending(net.us, transport=net.transport, concurrency=4)
    assert len(first.retrying) == 1 and ARRIVALS == []
    net.router.down.discard(nl_host)
    _send(net, 2)
    held = deliver_pending(net.us, transport=net.transport, concurrency=4)
    assert held.attempted == 0 and ARRIVALS == []  # 2 waits behind 1's retry
    with net.us.db.session() as session:
        due = session.execute(select(OutboxRow.next_attempt_at).order_by(OutboxRow.id)).scalars()
        retry_at = next(iter(due))
    net.clock.set(retry_at + timedelta(seconds=1))
    both = deliver_pending(net.us, transport=net.transport, concurrency=4)
    assert len(both.delivered) == 2
    assert ARRIVALS == [1, 2]
