"""The final checks: every message delivered with verified receipts, every audit chain intact."""

from __future__ import annotations

from collections.abc import Iterator

from trailguard.audit import verify
from trailguard.demo.script.common import (
    DemoContext,
    expect,
)
from trailguard.network.envelope import Receipt
from trailguard.network.exchange import list_messages, message_detail
from trailguard.network.identity import node_identity


def verify_audit_chains(ctx: DemoContext) -> Iterator[str]:
    for node_id, demo_node in ctx.cluster.nodes.items():
        with demo_node.node.db.session() as session:
            report = verify(session)
        expect(report.ok, f"{node_id}'s audit chain is broken: {report.problems[:3]}")
        yield f"{node_id}: audit chain intact, {report.entries} entries"


def verify_receipts(ctx: DemoContext) -> Iterator[str]:
    """Every message any node sent was delivered, and the sender holds the recipient's signed
    ``received`` and ``accepted`` receipts for it."""
    keys = {node_id: node_identity(n.node).history for node_id, n in ctx.cluster.nodes.items()}
    total = 0
    for node_id, demo_node in ctx.cluster.nodes.items():
        with demo_node.node.db.session() as session:
            sent = list_messages(session, direction="sent", limit=1000)
            for view in sent:
                expect(
                    view.delivery_state == "delivered",
                    f"{node_id} -> {view.recipient} {view.message_type} is "
                    f"{view.delivery_state}: {view.last_error}",
                )
                detail = message_detail(session, view.message_id, direction="sent")
                stages = set()
                for raw in detail.receipts:
                    receipt = Receipt.from_json(raw)
                    expect(
                        receipt.verify(keys[receipt.issuer]),
                        f"receipt for {view.message_id} does not verify",
                    )
                    stages.add(receipt.stage.value)
                expect(
                    {"received", "accepted"} <= stages,
                    f"{node_id}'s message {view.message_id} lacks receipts: {stages}",
                )
        total += len(sent)
        yield f"{node_id}: {len(sent)} messages sent, each delivered with verified signed receipts"
    expect(total >= 20, f"only {total} messages were exchanged")
