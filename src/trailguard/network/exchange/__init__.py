"""The signed exchange: send through the outbox, deliver with retries, receive into the inbox,
issue and collect receipts, acknowledge and escalate.

Exactly-once processing rests on two things: the sender's outbox row is written in the same
transaction as the business change that caused it (so a crash never loses or invents a
message), and the receiver processes a message id at most once (its ``exchange_messages`` row
is unique by id and is written in the same transaction as the handler's effects). Delivery is
therefore at-least-once and processing exactly-once.

The modules, one seam each: ``handlers`` (what a capability registers to receive), ``outbox``
(sending), ``accept`` (the inbox: checks, storage, handlers, receipts), ``delivery`` (posting
the outbox, retries, receipts collected), ``receipts`` (acknowledgements carried as messages),
``views`` (reading). Callers use this package's names (or ``trailguard.network``'s face).
"""

from trailguard.network.exchange.accept import (
    InboxAnswer,
    receive_batch,
    receive_envelope,
    reject,
    write_serialised,
)
from trailguard.network.exchange.delivery import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    DeliveryReport,
    backoff,
    deliver_pending,
)
from trailguard.network.exchange.handlers import (
    PING_MESSAGE_TYPE,
    RECEIPT_MESSAGE_TYPE,
    Handler,
    HandlerSpec,
    ReceivedMessage,
    register_handler,
    registered_types,
)
from trailguard.network.exchange.outbox import (
    OutboxMessage,
    send_message,
)
from trailguard.network.exchange.receipts import (
    acknowledge,
    handle_ping,
    handle_receipt,
)
from trailguard.network.exchange.views import (
    MessageDetail,
    MessageView,
    counts,
    list_messages,
    message_detail,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "PING_MESSAGE_TYPE",
    "RECEIPT_MESSAGE_TYPE",
    "DeliveryReport",
    "Handler",
    "HandlerSpec",
    "InboxAnswer",
    "MessageDetail",
    "MessageView",
    "OutboxMessage",
    "ReceivedMessage",
    "acknowledge",
    "backoff",
    "counts",
    "deliver_pending",
    "handle_ping",
    "handle_receipt",
    "list_messages",
    "message_detail",
    "receive_batch",
    "receive_envelope",
    "register_handler",
    "registered_types",
    "reject",
    "send_message",
    "write_serialised",
]
