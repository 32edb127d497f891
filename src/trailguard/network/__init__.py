"""network capability: node identity, the signed directory, the signed and encrypted exchange
between nodes with receipts, and the acknowledgement clocks.

Other capabilities use::

    from trailguard.network import send_message, register_handler, ReceivedMessage

    register_handler("requests.preservation", on_preservation, requires_ack=True)
    with node.db.session() as session:
        send_message(session, node, recipient="nl-poc", message_type="requests.preservation",
                     payload={...}, actor=principal.actor)
"""

from trailguard.network.clocks import (
    DeliveryWorker,
    Escalation,
    escalate_overdue,
    start_delivery_worker,
)
from trailguard.network.directory import DirectoryEntry, EntryKind, search
from trailguard.network.directory_service import find_entry, list_entries, publish_self
from trailguard.network.exchange import (
    DeliveryReport,
    MessageDetail,
    MessageView,
    OutboxMessage,
    ReceivedMessage,
    acknowledge,
    deliver_pending,
    list_messages,
    message_detail,
    register_handler,
    send_message,
)
from trailguard.network.identity import (
    NodeIdentity,
    PublicKeyRecord,
    b64,
    create_identity,
    load_identity,
    node_identity,
    rotate_keys,
    verify_b64_signature,
)
from trailguard.network.notifications import notify
from trailguard.network.witness import (
    AuditVerification,
    sign_head,
    verify_node,
    witness_head,
    witness_peers,
    witnessed_of,
)

__all__ = [
    "AuditVerification",
    "DeliveryReport",
    "DeliveryWorker",
    "DirectoryEntry",
    "EntryKind",
    "Escalation",
    "MessageDetail",
    "MessageView",
    "NodeIdentity",
    "OutboxMessage",
    "PublicKeyRecord",
    "ReceivedMessage",
    "acknowledge",
    "b64",
    "create_identity",
    "deliver_pending",
    "escalate_overdue",
    "find_entry",
    "list_entries",
    "list_messages",
    "load_identity",
    "message_detail",
    "node_identity",
    "notify",
    "publish_self",
    "register_handler",
    "rotate_keys",
    "search",
    "send_message",
    "sign_head",
    "start_delivery_worker",
    "verify_b64_signature",
    "verify_node",
    "witness_head",
    "witness_peers",
    "witnessed_of",
]
