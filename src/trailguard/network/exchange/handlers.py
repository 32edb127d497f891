"""Message handlers: what a capability registers to receive a message type (declared in its
``capability.py``, registered by the app), and what a handler sees of an accepted message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from trailguard.network.envelope import (
    check_message_type,
)
from trailguard.node import Node

RECEIPT_MESSAGE_TYPE = "network.receipt"
PING_MESSAGE_TYPE = "network.ping"


# --- handlers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """What a handler sees of an accepted message (already verified and decrypted)."""

    message_id: str
    sender: str
    recipient: str
    message_type: str
    correlation_id: str | None
    created_at: datetime
    expires_at: datetime
    received_at: datetime
    payload: dict[str, Any]


Handler = Callable[[Session, Node, ReceivedMessage], None]


@dataclass(frozen=True)
class HandlerSpec:
    handler: Handler
    requires_ack: bool


_HANDLERS: dict[str, HandlerSpec] = {}


def register_handler(message_type: str, handler: Handler, *, requires_ack: bool = False) -> None:
    """React to ``message_type`` inside the inbox transaction. Raise ``ValidationFailed`` to
    reject the message (``rejected_by_handler``; nothing is stored). ``requires_ack`` starts
    the acknowledgement clock for every accepted message of that type."""
    check_message_type(message_type)
    _HANDLERS[message_type] = HandlerSpec(handler=handler, requires_ack=requires_ack)


def registered_types() -> dict[str, bool]:
    return {name: spec.requires_ack for name, spec in sorted(_HANDLERS.items())}
