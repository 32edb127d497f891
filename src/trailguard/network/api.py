"""network: JSON API routes (under /api): directory and exchange."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from trailguard.accounts import Principal, Role
from trailguard.core.apitypes import Instant, InstantText, IpAddress, NotBool, OneOf, text_field
from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.errors import ValidationFailed
from trailguard.network import clocks, directory_service, exchange, notifications
from trailguard.network.directory import (
    DirectoryEntry,
    EntryKind,
    SearchHit,
    Shift,
    lookup_prefix,
    search,
)
from trailguard.node import Node
from trailguard.web.deps import ANY_ROLE, get_node, require_roles

router = APIRouter(tags=["network"])

OPERATIONAL = (Role.DUTY_OFFICER, Role.INVESTIGATOR, Role.CENTRAL_AUTHORITY, Role.PROVIDER_LIAISON)

# What the routes depend on, declared once: the node, and who may call (by role).
CurrentNode = Annotated[Node, Depends(get_node)]
AnyUser = Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
Operational = Annotated[Principal, Depends(require_roles(*OPERATIONAL))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


def _at(value: datetime | None, node: Node) -> datetime:
    if value is None:
        return node.clock.now()
    try:
        return ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), ["at"]) from exc


def _shift_json(shift: Shift | None) -> dict[str, Any] | None:
    return shift.to_json() if shift else None


def hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "entry": hit.entry.to_json(),
        "available": hit.available,
        "local_time": hit.local_time.isoformat(),
        "on_duty": _shift_json(hit.on_duty.primary),
        "backup": _shift_json(hit.on_duty.backup),
        "contact": _shift_json(hit.on_duty.contact),
    }


@router.get("/directory", summary="Who can help in country X now, in language Y")
def directory_search(
    country: str | None = Query(
        None, description="ISO 3166-1 alpha-2, e.g. NL", pattern="^[A-Za-z]{2}$"
    ),
    language: str | None = Query(None, description="ISO 639-1, e.g. en", pattern="^[A-Za-z]{2}$"),
    kind: EntryKind | None = Query(None),
    at: Annotated[Instant | None, Query(description="Default now")] = None,
    *,
    node: CurrentNode,
    _principal: AnyUser,
) -> dict[str, Any]:
    instant = _at(at, node)
    with node.db.session() as session:
        entries = directory_service.list_entries(session)
    hits = search(
        entries,
        at=instant,
        country=country.upper() if country else None,
        language=language.lower() if language else None,
        kind=kind,
    )
    return {"at": isoformat_z(instant), "results": [hit_json(hit) for hit in hits]}


@router.get("/directory/entries")
def directory_entries(node: CurrentNode, _principal: AnyUser) -> list[dict[str, Any]]:
    with node.db.session() as session:
        return [entry.to_json() for entry in directory_service.list_entries(session)]


@router.get("/directory/entries/{node_id}")
def directory_entry(node_id: str, node: CurrentNode, _principal: AnyUser) -> dict[str, Any]:
    with node.db.session() as session:
        return directory_service.get_entry(session, node_id).to_json()


# --- what a directory entry is (network.directory.DirectoryEntry.from_json), published ------

_NODE_ID = r"^[a-z0-9][a-z0-9.-]{1,62}$"
_PHONE = r"^\+[0-9 ()-]{6,24}$"
_EMAIL = r"^[^@\s\x1c-\x1f]+@[^@\s\x1c-\x1f]+\.[^@\s\x1c-\x1f]+$"
_ENDPOINT = r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^\s\x1c-\x1f]*)?$"
_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"
_B64_KEY = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
Phone = Annotated[str, Field(pattern=_PHONE, description="International number, +...")]
Email = Annotated[str, Field(pattern=_EMAIL, max_length=320)]
Zone = Annotated[str, OneOf(sorted(available_timezones()), "time zone")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ShiftBase(_Strict):
    person: Annotated[str, text_field(200)]
    role: Literal["primary", "backup"] = "primary"
    phone: Phone | None = None
    email: Email | None = None


class WeeklyShift(_ShiftBase):
    """On duty every week on ``weekdays`` from ``start_time`` to ``end_time`` in the entry's
    zone (an end before the start runs past midnight)."""

    weekdays: list[Annotated[int, Field(ge=0, le=6), NotBool]] = Field(
        default_factory=lambda: list(range(7)), description="0 (Monday) to 6 (Sunday)"
    )
    start_time: str = Field(pattern=_CLOCK, description="HH:MM")
    end_time: str = Field(pattern=_CLOCK, description="HH:MM, not start_time")


class PeriodShift(_ShiftBase):
    """On duty for one period."""

    start: InstantText
    end: InstantText = Field(description="After start")


ShiftIn = WeeklyShift | PeriodShift


class ChannelsIn(_Strict):
    endpoint: str | None = Field(None, pattern=_ENDPOINT, max_length=2_000)
    phone: Phone | None = None
    email: Email | None = None


class KeyRecordIn(_Strict):
    key_id: str = Field(description="The id derived from the signing key")
    signing_key: str = Field(pattern=_B64_KEY, description="Base64 Ed25519 key (32 bytes)")
    encryption_key: str = Field(pattern=_B64_KEY, description="Base64 X25519 key (32 bytes)")
    valid_from: InstantText
    valid_until: InstantText | None = None


class EntryIn(_Strict):
    kind: EntryKind
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. NL")
    organisation: Annotated[str, text_field(300)]
    roles: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=lambda: ["en"], description="ISO 639 codes, e.g. en"
    )
    timezone: Zone = "UTC"
    roster: list[ShiftIn] = Field(default_factory=list)
    channels: ChannelsIn | None = None
    keys: list[KeyRecordIn] = Field(default_factory=list)
    prefixes: list[Annotated[str, Field(max_length=50)]] = Field(
        default_factory=list,
        description="Networks the entry operates, e.g. 198.51.100.0/24 (no host bits set)",
    )
    updated_at: InstantText | None = None


def _shift_in(shift: ShiftIn) -> dict[str, Any]:
    return shift.model_dump(mode="json", exclude_none=True)


@router.put("/directory/entries/{node_id}", summary="Add or replace an entry (admin)")
def directory_put(
    node_id: Annotated[str, Path(pattern=_NODE_ID)],
    body: EntryIn,
    node: CurrentNode,
    principal: Admin,
) -> dict[str, Any]:
    # an entry that does not name its network is taken to be of this node's own (issue 17)
    raw = body.model_dump(mode="json", exclude_none=True)
    entry = DirectoryEntry.from_json(
        {"network": node.config.network_name, **raw, "node_id": node_id}
    )
    with node.db.session() as session:
        saved = directory_service.save_entry(
            session, node, entry, actor=principal.actor, source="manual"
        )
    return saved.to_json()


@router.delete("/directory/entries/{node_id}", status_code=204)
def directory_delete(node_id: str, node: CurrentNode, principal: Admin) -> None:
    with node.db.session() as session:
        directory_service.remove_entry(session, node, node_id, actor=principal.actor)


class SelfEntry(_Strict):
    kind: EntryKind | None = None
    roster: list[ShiftIn] | None = None
    phone: Phone | None = None
    email: Email | None = None
    prefixes: list[Annotated[str, Field(max_length=50)]] | None = Field(
        None, description="Networks this node operates (no host bits set)"
    )


@router.post("/directory/self", summary="Publish this node's own entry (admin)")
def directory_self(body: SelfEntry, node: CurrentNode, principal: Admin) -> dict[str, Any]:
    roster = None
    if body.roster is not None:
        roster = [
            Shift.from_json(_shift_in(raw), f"shift {i}") for i, raw in enumerate(body.roster)
        ]
    with node.db.session() as session:
        entry = directory_service.publish_self(
            session,
            node,
            actor=principal.actor,
            kind=body.kind,
            roster=roster,
            phone=body.phone,
            email=body.email,
            prefixes=body.prefixes,
        )
    return entry.to_json()


@router.get("/directory/lookup", summary="Which provider operates this IP (longest prefix)")
def directory_lookup(
    ip: Annotated[IpAddress, Query()], node: CurrentNode, _principal: AnyUser
) -> dict[str, Any]:
    with node.db.session() as session:
        found = lookup_prefix(directory_service.list_entries(session), ip)
    if found is None:
        return {"ip": ip, "match": None}
    entry, network = found
    return {"ip": ip, "match": {"prefix": str(network), "entry": entry.to_json()}}


@router.get("/directory/export", summary="The directory, signed by this node (admin)")
def directory_export(node: CurrentNode, principal: Admin) -> dict[str, Any]:
    with node.db.session() as session:
        return directory_service.export_directory(session, node, actor=principal.actor).to_json()


class ImportBody(BaseModel):
    document: dict[str, Any]
    publisher_key: str | None = Field(
        None, description="Base64 Ed25519 key of the publisher, if not already in the directory"
    )


@router.post("/directory/import", summary="Import a signed directory (admin)")
def directory_import(body: ImportBody, node: CurrentNode, principal: Admin) -> dict[str, Any]:
    with node.db.session() as session:
        report = directory_service.import_directory(
            session, node, body.document, actor=principal.actor, publisher_key=body.publisher_key
        )
    return {
        "publisher": report.publisher,
        "published_at": isoformat_z(report.published_at),
        "imported": report.imported,
        "skipped": report.skipped,
    }


# --- exchange ----------------------------------------------------------------------------


@router.get("/exchange/inbox")
def exchange_inbox(
    pending_only: bool = Query(False, description="only messages awaiting acknowledgement"),
    limit: int = Query(100, ge=1, le=1000),
    *,
    node: CurrentNode,
    _principal: Operational,
) -> list[dict[str, Any]]:
    with node.db.session() as session:
        views = exchange.list_messages(
            session, direction="received", limit=limit, pending_ack_only=pending_only
        )
    return [view.to_json() for view in views]


@router.get("/exchange/outbox")
def exchange_outbox(
    limit: int = Query(100, ge=1, le=1000), *, node: CurrentNode, _principal: Operational
) -> list[dict[str, Any]]:
    with node.db.session() as session:
        views = exchange.list_messages(session, direction="sent", limit=limit)
    return [view.to_json() for view in views]


@router.get("/exchange/messages/{message_id}")
def exchange_message(message_id: str, node: CurrentNode, _principal: Operational) -> dict[str, Any]:
    with node.db.session() as session:
        detail = exchange.message_detail(session, message_id)
    return {
        "message": detail.message.to_json(),
        "payload": detail.payload,
        "envelope": detail.envelope,
        "receipts": detail.receipts,
    }


class AckBody(BaseModel):
    note: str | None = Field(None, max_length=500)


@router.post("/exchange/inbox/{message_id}/ack", summary="Acknowledge a received message")
def exchange_ack(
    message_id: str, body: AckBody | None = None, *, node: CurrentNode, principal: Operational
) -> dict[str, Any]:
    receipt = exchange.acknowledge(
        node, message_id, actor=principal.actor, note=body.note if body else None
    )
    return receipt.to_json()


class SendBody(BaseModel):
    recipient: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,62}$", description="a node id")
    message_type: str = Field(
        exchange.PING_MESSAGE_TYPE,
        description="only network.ping is sent directly; other types by their capability",
        json_schema_extra={"enum": [exchange.PING_MESSAGE_TYPE]},
    )
    payload: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = Field(None, max_length=200)
    expires_in_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)


@router.post("/exchange/messages", status_code=202, summary="Send a message (queued)")
def exchange_send(body: SendBody, node: CurrentNode, principal: Operational) -> dict[str, Any]:
    if body.message_type != exchange.PING_MESSAGE_TYPE:
        raise ValidationFailed(
            f"only {exchange.PING_MESSAGE_TYPE!r} can be sent directly; other types are sent "
            "by their capability (requests, evidence, ...)"
        )
    expires = timedelta(minutes=body.expires_in_minutes) if body.expires_in_minutes else None
    with node.db.session() as session:
        queued = exchange.send_message(
            session,
            node,
            recipient=body.recipient,
            message_type=body.message_type,
            payload=body.payload,
            actor=principal.actor,
            expires_in=expires,
            correlation_id=body.correlation_id,
        )
    return {"message_id": queued.message_id, "state": queued.state, "recipient": queued.recipient}


@router.get("/exchange/escalations")
def exchange_escalations(node: CurrentNode, _principal: Operational) -> list[dict[str, Any]]:
    with node.db.session() as session:
        rows = clocks.list_escalations(session)
    return [
        {
            **row.__dict__,
            "ack_due": isoformat_z(row.ack_due),
            "escalated_at": isoformat_z(row.escalated_at),
        }
        for row in rows
    ]


@router.get("/exchange/notifications")
def exchange_notifications(node: CurrentNode, _principal: AnyUser) -> list[dict[str, Any]]:
    with node.db.session() as session:
        rows = notifications.recent_notifications(session)
    return [{**row.__dict__, "created_at": isoformat_z(row.created_at)} for row in rows]


@router.get("/exchange/summary")
def exchange_summary(node: CurrentNode, _principal: AnyUser) -> dict[str, int]:
    with node.db.session() as session:
        return exchange.counts(session)
