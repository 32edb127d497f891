"""Live watch services: authorised requesters, orders received over the exchange, hits recorded,
audited and reported to the requester, and (at the requester) hits received.

Message types (handlers declared in ``trailguard/traffic/capability.py``)::

    traffic.watch_order   requester -> provider   an order (see ``domain``); needs acknowledgement
    traffic.watch_cancel  requester -> provider   {"order_ref": ...}
    traffic.watch_hit     provider -> requester   {"order_ref": ..., "hits": [{...}, ...]}

An order is refused (the exchange answers ``rejected_by_handler``, and the refusal is in the
audit log of both sides) when this node is not a provider, when the sender is not in this
node's list of authorised requesters, when the order is malformed, or when it is past its
expiry. Refusals are also counted in ``REFUSALS`` for the watch page.

Before an order is registered (and before one is sent), the law engine is asked, through the
law face, whether real-time collection of traffic data may be asked of the provider's country
(``trailguard.law.realtime_collection``: ETS 185 Art. 33, limited by that Party's Art. 14(3)
reservations and Art. 21 declarations). ``allowed: True`` registers the order ("accepted");
``None``, or ``True`` while the Party's Art. 14(3) reservations are not read into the data,
registers it with the answer's conditions, each naming the reservation and its source
("conditional"); ``False`` refuses it ("law"). The answer is stored with the order
(``law_decision``, ``law_answer``) and in the audit entry, and shown on the page and by
``trailguard traffic watch orders``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.config import NodeRole
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.law import LegalEngine, get_engine, realtime_collection
from trailguard.network import find_entry, send_message
from trailguard.node import Node
from trailguard.traffic.watch.domain import (
    Criteria,
    WatchOrder,
    parse_criteria,
    parse_order,
)
from trailguard.traffic.watch.orm import (
    WatchHitRow,
    WatchOrderRow,
    WatchReceivedRow,
    WatchRequesterRow,
)

ORDER = "traffic.watch_order"
CANCEL = "traffic.watch_cancel"
HIT = "traffic.watch_hit"
MAX_HITS_PER_MESSAGE = 200
MAX_RAW_CHARS = 2000

REFUSALS: Counter[str] = Counter()  # why orders were refused, since start
_VERSION_LOCK = threading.Lock()
_orders_version = 0


def orders_version() -> int:
    """Bumped whenever an order is registered, cancelled or expires (runtimes reload)."""
    return _orders_version


def _bump() -> None:
    global _orders_version
    with _VERSION_LOCK:
        _orders_version += 1


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- requesters --------------------------------------------------------------------------


def authorise_requester(
    session: Session, node: Node, requester: str, *, actor: str, note: str = ""
) -> None:
    """Allow ``requester`` (a node in this node's directory) to send watch orders here."""
    if find_entry(session, requester) is None:
        raise NotFound(f"node {requester!r} is not in this node's directory")
    if requester == node.config.node_id:
        raise ValidationFailed(f"{requester!r} is this node")
    now = node.clock.now()
    existing = session.get(WatchRequesterRow, requester)
    if existing is not None:
        return
    session.add(WatchRequesterRow(node_id=requester, added_by=actor[:200], added_at=now,
                                  note=note[:2000]))  # fmt: skip
    record(session, actor=actor, action="traffic.watch_requester_authorised",
           subject=f"node:{requester}", details={"note": note[:200]}, at=now)  # fmt: skip


def revoke_requester(session: Session, node: Node, requester: str, *, actor: str) -> None:
    row = session.get(WatchRequesterRow, requester)
    if row is None:
        raise NotFound(f"node {requester!r} is not an authorised watch requester")
    session.delete(row)
    record(session, actor=actor, action="traffic.watch_requester_revoked",
           subject=f"node:{requester}", at=node.clock.now())  # fmt: skip


def authorised_requesters(session: Session) -> list[str]:
    return list(
        session.scalars(select(WatchRequesterRow.node_id).order_by(WatchRequesterRow.node_id))
    )


# --- the law: may real-time collection be asked of this country? ---------------------------

# The engine the watch asks (the packaged legal data); tests may put another in its place.
law_engine: Callable[[], LegalEngine] = get_engine
LAW_DECISIONS = {True: "accepted", None: "conditional", False: "refused"}


def law_check(
    session: Session, node: Node, *, requester: str, provider: str, day: datetime
) -> tuple[str, dict[str, Any]]:
    """Ask the law engine whether ``requester``'s country may ask ``provider``'s country for
    real-time collection of traffic data on ``day`` (ETS 185 Art. 33 with the provider
    country's Art. 14(3)/21 reservations). Nodes are resolved to countries through this node's
    config and directory. Returns the decision (``LAW_DECISIONS``) and the answer's JSON."""

    def country(node_id: str) -> str | None:
        if node_id == node.config.node_id:
            return node.config.country
        entry = find_entry(session, node_id)
        return entry.country if entry is not None else None

    def unchecked(*why: str) -> tuple[str, dict[str, Any]]:
        """The answer's shape when the engine could not answer: conditional, saying why."""
        return "conditional", {
            "as_of": day.date().isoformat(), "requesting": requesting, "requested": requested,
            "data": "traffic", "allowed": None, "reservations": [], "reservations_known": [],
            "conditions": [f"not checked by the law engine: {why[0]}", *why[1:]],
            "reasoning": [], "citations": [], "verified": False, "unverified": [],
        }  # fmt: skip

    requesting, requested = country(requester), country(provider)
    if requesting is None or requested is None:
        missing = requester if requesting is None else provider
        return unchecked(f"node {missing!r} is not in this node's directory, so its country "
                         "is not known")  # fmt: skip
    try:
        answer = realtime_collection(law_engine(), requesting, requested, "traffic", day.date())
    except ValidationFailed as exc:
        return unchecked(str(exc), *exc.problems)
    decision = LAW_DECISIONS[answer.allowed]
    if decision == "accepted" and any(
        k.status in ("not_read", "partial") for k in answer.reservations_known
    ):
        # Art. 33 owes the collection, but the Party's Art. 14(3) reservations were not read:
        # the order carries that as a condition rather than pass as unlimited.
        decision = "conditional"
    return decision, answer.to_dict()


def law_summary(decision: str, answer: dict[str, Any]) -> dict[str, Any]:
    """What the audit entry keeps of the law answer: the decision, the conditions (each names
    the reservation and its source), the reservations and whether they are known."""
    return {
        "decision": decision,
        "as_of": answer.get("as_of"),
        "requesting": answer.get("requesting"),
        "requested": answer.get("requested"),
        "allowed": answer.get("allowed"),
        "conditions": [c[:600] for c in answer.get("conditions", [])][:20],
        "reservations": [r[:600] for r in answer.get("reservations", [])][:20],
        "reservations_known": [
            {"country": k["country"], "status": k["status"]}
            for k in answer.get("reservations_known", [])
        ],
        "verified": answer.get("verified"),
    }


# --- orders ------------------------------------------------------------------------------


def _refuse(reason: str, message: str, problems: list[str] | None = None) -> ValidationFailed:
    REFUSALS[reason] += 1
    return ValidationFailed(message, problems or [])


def handle_order(session: Session, node: Node, message: Any) -> None:
    """Exchange handler for ``traffic.watch_order`` (in the inbox transaction)."""
    if NodeRole.PROVIDER not in node.config.roles:
        raise _refuse("not_a_provider", f"node {node.config.node_id!r} is not a provider node")
    if session.get(WatchRequesterRow, message.sender) is None:
        raise _refuse(
            "unauthorised",
            f"node {message.sender!r} is not authorised to send watch orders to"
            f" {node.config.node_id!r}",
        )
    now = node.clock.now()
    try:
        order = parse_order(message.payload, requester=message.sender, now=now)
    except ValidationFailed as exc:
        expired = any("expired" in p for p in exc.problems)
        REFUSALS["expired" if expired else "invalid"] += 1
        raise
    exists = session.scalar(
        select(WatchOrderRow.id).where(
            WatchOrderRow.requester == order.requester, WatchOrderRow.order_ref == order.order_ref
        )
    )
    if exists is not None:
        raise _refuse("duplicate", f"order {order.order_ref!r} from {order.requester!r} exists")
    decision, law = law_check(
        session, node, requester=order.requester, provider=node.config.node_id, day=now
    )
    if decision == "refused":
        raise _refuse(
            "law",
            f"real-time collection may not be asked of {law.get('requested')} by "
            f"{law.get('requesting')} on {law.get('as_of')} (law engine)",
            list(law.get("conditions", [])),
        )
    row = WatchOrderRow(
        requester=order.requester,
        order_ref=order.order_ref,
        message_id=message.message_id,
        requested_by=order.requested_by,
        legal_reference=order.legal_reference,
        case_reference=order.case_reference,
        criteria=canonical(order.criteria.to_json()),
        start=order.start,
        end=order.end,
        state="active",
        received_at=now,
        hits=0,
        law_decision=decision,
        law_answer=canonical(law),
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=f"node:{order.requester}",
        action="traffic.watch_order_registered",
        subject=f"watch:{row.id}",
        details={"order_ref": order.order_ref, "legal_reference": order.legal_reference[:300],
                 "criteria": order.criteria.to_json(), "start": isoformat_z(order.start),
                 "end": isoformat_z(order.end), "message_id": message.message_id,
                 "law": law_summary(decision, law)},
        at=now,
    )  # fmt: skip
    _bump()


def handle_cancel(session: Session, node: Node, message: Any) -> None:
    ref = message.payload.get("order_ref") if isinstance(message.payload, dict) else None
    if not isinstance(ref, str):
        raise ValidationFailed("a cancellation names its order_ref")
    row = session.scalar(
        select(WatchOrderRow).where(
            WatchOrderRow.requester == message.sender, WatchOrderRow.order_ref == ref
        )
    )
    if row is None:
        raise ValidationFailed(f"no order {ref!r} from {message.sender!r}")
    if row.state != "active":
        return
    now = node.clock.now()
    row.state, row.closed_at = "cancelled", now
    record(session, actor=f"node:{message.sender}", action="traffic.watch_order_cancelled",
           subject=f"watch:{row.id}", details={"order_ref": ref}, at=now)  # fmt: skip
    _bump()


def _order_of(row: WatchOrderRow) -> WatchOrder:
    problems: list[str] = []
    criteria = parse_criteria(json.loads(row.criteria), problems)
    if criteria is None or problems:  # stored orders were validated on arrival
        criteria = Criteria(())
    return WatchOrder(row.order_ref, row.requester, row.requested_by, row.legal_reference,
                      row.case_reference, criteria, ensure_utc(row.start), ensure_utc(row.end),
                      id=row.id)  # fmt: skip


def active_orders(session: Session, now: datetime) -> list[WatchOrder]:
    rows = session.scalars(
        select(WatchOrderRow).where(WatchOrderRow.state == "active", WatchOrderRow.end > now)
    )
    return [_order_of(r) for r in rows]


def expire_orders(session: Session, node: Node) -> int:
    """Close the orders whose end has passed (each closing audited)."""
    now = node.clock.now()
    rows = list(session.scalars(
        select(WatchOrderRow).where(WatchOrderRow.state == "active", WatchOrderRow.end <= now)
    ))  # fmt: skip
    for row in rows:
        row.state, row.closed_at = "expired", now
        record(session, actor="system:watch", action="traffic.watch_order_expired",
               subject=f"watch:{row.id}", details={"order_ref": row.order_ref,
                                                   "hits": row.hits}, at=now)  # fmt: skip
    if rows:
        _bump()
    return len(rows)


def list_orders(session: Session, limit: int = 200) -> list[WatchOrderRow]:
    return list(
        session.scalars(select(WatchOrderRow).order_by(WatchOrderRow.id.desc()).limit(limit))
    )


def list_hits(session: Session, limit: int = 200) -> list[WatchHitRow]:
    return list(session.scalars(select(WatchHitRow).order_by(WatchHitRow.id.desc()).limit(limit)))


def list_received(session: Session, limit: int = 200) -> list[WatchReceivedRow]:
    return list(
        session.scalars(select(WatchReceivedRow).order_by(WatchReceivedRow.id.desc()).limit(limit))
    )


# --- hits --------------------------------------------------------------------------------


@dataclass
class PendingHit:
    """A matched record waiting to be recorded and reported."""

    order_id: int
    order_ref: str
    requester: str
    arrived_at: datetime
    source: str
    record: dict[str, Any]
    raw: str
    arrived_perf: float = 0.0  # time.perf_counter() at arrival, for latency figures
    queued_perf: float = 0.0  # when it was matched and queued for reporting
    sha256: str = field(default="")

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.raw.encode("utf-8", "replace")).hexdigest()


def _json_record(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in rec.items():
        if value is None or key in ("source_file",):
            continue
        if isinstance(value, datetime):
            out[key] = isoformat_z(value)
        elif isinstance(value, (str, int, float, bool)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def record_hits(session: Session, node: Node, hits: list[PendingHit]) -> dict[int, str]:
    """Store, audit and report ``hits`` in the caller's transaction: one audit entry per hit
    and one ``traffic.watch_hit`` message per order (up to 200 hits each). Returns the
    message id of each hit's report by position."""
    now = node.clock.now()
    by_order: dict[int, list[tuple[int, WatchHitRow, PendingHit]]] = {}
    for i, hit in enumerate(hits):
        row = WatchHitRow(
            order_id=hit.order_id,
            arrived_at=hit.arrived_at,
            reported_at=now,
            source=hit.source[:100],
            record=canonical(_json_record(hit.record)),
            raw=hit.raw[:MAX_RAW_CHARS],
            sha256=hit.sha256,
        )
        session.add(row)
        by_order.setdefault(hit.order_id, []).append((i, row, hit))
    session.flush()
    sent: dict[int, str] = {}
    for order_id, items in by_order.items():
        session.execute(
            update(WatchOrderRow)
            .where(WatchOrderRow.id == order_id)
            .values(hits=WatchOrderRow.hits + len(items), last_hit_at=now)
        )
        for _, row, hit in items:
            record(session, actor="system:watch", action="traffic.watch_hit",
                   subject=f"watch:{order_id}",
                   details={"hit_id": row.id, "source": hit.source[:100], "sha256": hit.sha256,
                            "arrived_at": isoformat_z(hit.arrived_at),
                            "record": _json_record(hit.record)}, at=now)  # fmt: skip
        first = items[0][2]
        for chunk_start in range(0, len(items), MAX_HITS_PER_MESSAGE):
            chunk = items[chunk_start : chunk_start + MAX_HITS_PER_MESSAGE]
            payload = {
                "order_ref": first.order_ref,
                "hits": [
                    {"hit_id": row.id, "arrived_at": isoformat_z(hit.arrived_at),
                     "source": hit.source[:100], "record": _json_record(hit.record),
                     "raw": hit.raw[:MAX_RAW_CHARS], "sha256": hit.sha256}
                    for _, row, hit in chunk
                ],
            }  # fmt: skip
            msg = send_message(session, node, recipient=first.requester, message_type=HIT,
                               payload=payload, actor="system:watch")  # fmt: skip
            for i, row, _ in chunk:
                row.message_id = msg.message_id
                sent[i] = msg.message_id
    return sent


def handle_hit(session: Session, node: Node, message: Any) -> None:
    """Exchange handler for ``traffic.watch_hit`` at the requester."""
    payload = message.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("order_ref"), str):
        raise ValidationFailed("a watch hit report names its order_ref")
    hits = payload.get("hits")
    if not isinstance(hits, list) or not 1 <= len(hits) <= MAX_HITS_PER_MESSAGE:
        raise ValidationFailed(f"a watch hit report carries 1..{MAX_HITS_PER_MESSAGE} hits")
    now = node.clock.now()
    for hit in hits:
        if not isinstance(hit, dict) or not isinstance(hit.get("arrived_at"), str):
            raise ValidationFailed("each hit is an object with arrived_at")
        try:
            arrived = ensure_utc(datetime.fromisoformat(hit["arrived_at"].replace("Z", "+00:00")))
        except ValueError:
            raise ValidationFailed(f"hit arrived_at {hit['arrived_at']!r} is not a time") from None
        session.add(WatchReceivedRow(sender=message.sender, order_ref=payload["order_ref"][:100],
                                     message_id=message.message_id, hit=canonical(hit),
                                     arrived_at=arrived, received_at=now))  # fmt: skip
    record(session, actor=f"node:{message.sender}", action="traffic.watch_hit_received",
           subject=f"watch-order:{payload['order_ref'][:100]}",
           details={"hits": len(hits), "message_id": message.message_id}, at=now)  # fmt: skip


# --- requester side: sending orders --------------------------------------------------------


def send_order(
    session: Session, node: Node, *, recipient: str, payload: dict[str, Any], actor: str
) -> str:
    """Validate and send a watch order; returns the exchange message id. The law engine's
    answer on real-time collection from the recipient's country is audited with the sending;
    an order the law refuses is not sent."""
    now = node.clock.now()
    order = parse_order(payload, requester=node.config.node_id, now=now)
    decision, law = law_check(
        session, node, requester=node.config.node_id, provider=recipient, day=now
    )
    if decision == "refused":
        raise ValidationFailed(
            f"real-time collection may not be asked of {law.get('requested')} on "
            f"{law.get('as_of')} (law engine); the order was not sent",
            list(law.get("conditions", [])),
        )
    msg = send_message(session, node, recipient=recipient, message_type=ORDER,
                       payload=order.to_payload(), actor=actor)  # fmt: skip
    record(session, actor=actor, action="traffic.watch_order_sent",
           subject=f"watch-order:{order.order_ref}",
           details={"recipient": recipient, "message_id": msg.message_id,
                    "end": isoformat_z(order.end), "law": law_summary(decision, law)},
           at=node.clock.now())  # fmt: skip
    return msg.message_id


def send_cancel(session: Session, node: Node, *, recipient: str, order_ref: str, actor: str) -> str:
    msg = send_message(session, node, recipient=recipient, message_type=CANCEL,
                       payload={"order_ref": order_ref}, actor=actor)  # fmt: skip
    return msg.message_id
