"""In-process events between capabilities, inside the caller's transaction.

A capability that changes something others may follow publishes an event
(``publish(name, session, node, data)``) in the transaction that makes the change; a
capability that follows it declares a ``Listener(name, "module:function")`` in its
``capability.py``; the app installs the declared listeners (as it installs exchange
handlers). A listener runs in the publisher's transaction, so what it writes commits or rolls
back with the change; it must not raise for an input it does not recognise (it records
why it did nothing instead). The names and data of each event are documented by the
capability that publishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

EventListener = Callable[[Session, Any, dict[str, Any]], None]
"""``(session, node, data) -> None``."""

_LISTENERS: dict[str, list[EventListener]] = {}


def subscribe(name: str, listener: EventListener) -> None:
    """Follow the event ``name`` (idempotent: one listener is called once per event)."""
    listeners = _LISTENERS.setdefault(name, [])
    if listener not in listeners:
        listeners.append(listener)


def publish(name: str, session: Session, node: Any, data: dict[str, Any]) -> None:
    """Call every listener of ``name`` in order, in the caller's transaction."""
    for listener in list(_LISTENERS.get(name, ())):
        listener(session, node, data)


def listeners(name: str) -> list[EventListener]:
    return list(_LISTENERS.get(name, ()))
