"""Investigations: create, read, change, add people, observations and links. Every change is
audited in the same transaction; only the people on an investigation see or change it."""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trailguard.accounts import Principal, Role, get_user, principal_of
from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.investigations.domain import (
    DEFAULT_TOLERANCE_S,
    PROTOCOLS,
    InvestigationIn,
    InvestigationPatch,
    ObservationIn,
    SourceKind,
    check_conduct,
    observations_from_hops,
    parse_import,
    typed_event,
)
from trailguard.investigations.headers import read_message
from trailguard.investigations.orm import InvestigationRow, LinkRow, MemberRow, ObservationRow
from trailguard.law import CONDUCTS
from trailguard.node import Node
from trailguard.requests import get_request
from trailguard.traffic import FormatError, ParseOptions, detect_format, get_hold, get_parser

# Who may open and work investigations; membership then decides which ones.
CASE_ROLES = (Role.INVESTIGATOR, Role.DUTY_OFFICER)
LINK_KINDS = ("request", "hold")


@dataclass(frozen=True)
class ObservationView:
    id: str
    seq: int
    kind: str
    source_label: str
    ip: str | None
    port: int | None
    at: datetime | None
    source_zone: str | None
    tolerance_s: float
    protocol: str | None
    direction: str | None
    seen: str
    raw: str
    flags: list[str]
    created_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "kind": self.kind,
            "source_label": self.source_label,
            "ip": self.ip,
            "port": self.port,
            "at": isoformat_z(self.at) if self.at else None,
            "source_zone": self.source_zone,
            "tolerance_s": self.tolerance_s,
            "protocol": self.protocol,
            "direction": self.direction,
            "seen": self.seen,
            "raw": self.raw,
            "flags": self.flags,
            "created_by": self.created_by,
            "created_at": isoformat_z(self.created_at),
        }


@dataclass(frozen=True)
class InvestigationView:
    id: str
    reference: str
    title: str
    conduct: list[str]
    handling_code: str
    tlp: str
    description: str
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    members: list[dict[str, str]] = field(default_factory=list)
    observations: list[ObservationView] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "title": self.title,
            "conduct": self.conduct,
            "handling_code": self.handling_code,
            "tlp": self.tlp,
            "description": self.description,
            "status": self.status,
            "created_by": self.created_by,
            "created_at": isoformat_z(self.created_at),
            "updated_at": isoformat_z(self.updated_at),
            "members": self.members,
            "observations": [o.to_json() for o in self.observations],
            "links": self.links,
        }


def _require_role(principal: Principal) -> None:
    if not principal.has_any(*CASE_ROLES):
        raise PermissionDenied("investigations need the investigator or duty_officer role")


def _invalid(exc: ValueError) -> ValidationFailed:
    errors = getattr(exc, "errors", None)
    problems = []
    if callable(errors):
        for error in errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return ValidationFailed("; ".join(problems) or str(exc), problems)


def _known_conduct() -> tuple[str, ...]:
    return tuple(CONDUCTS)


def _row(session: Session, investigation_id: str) -> InvestigationRow:
    row = session.get(InvestigationRow, investigation_id)
    if row is None:
        row = session.execute(
            select(InvestigationRow).where(InvestigationRow.reference == investigation_id)
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no investigation {investigation_id!r}")
    return row


def _membership(session: Session, row: InvestigationRow, principal: Principal) -> MemberRow:
    _require_role(principal)
    member = session.execute(
        select(MemberRow).where(
            MemberRow.investigation_id == row.id, MemberRow.username == principal.username
        )
    ).scalar_one_or_none()
    if member is None:
        raise PermissionDenied(f"{principal.username} is not on investigation {row.reference}")
    return member


def _view(session: Session, row: InvestigationRow, *, full: bool = True) -> InvestigationView:
    members: list[dict[str, str]] = []
    observations: list[ObservationView] = []
    links: list[dict[str, str]] = []
    if full:
        members = [
            {"username": m.username, "role": m.role, "added_by": m.added_by}
            for m in session.execute(
                select(MemberRow).where(MemberRow.investigation_id == row.id).order_by(MemberRow.id)
            ).scalars()
        ]
        observations = [
            _observation_view(o)
            for o in session.execute(
                select(ObservationRow)
                .where(ObservationRow.investigation_id == row.id)
                .order_by(ObservationRow.seq)
            ).scalars()
        ]
        links = [
            {
                "kind": link.target_kind,
                "id": link.target_id,
                "note": link.note,
                "linked_by": link.linked_by,
                "linked_at": isoformat_z(link.linked_at),
            }
            for link in session.execute(
                select(LinkRow).where(LinkRow.investigation_id == row.id).order_by(LinkRow.id)
            ).scalars()
        ]
    return InvestigationView(
        id=row.id,
        reference=row.reference,
        title=row.title,
        conduct=json.loads(row.conduct),
        handling_code=row.handling_code,
        tlp=row.tlp,
        description=row.description,
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        members=members,
        observations=observations,
        links=links,
    )


def _observation_view(o: ObservationRow) -> ObservationView:
    return ObservationView(
        id=o.id,
        seq=o.seq,
        kind=o.kind,
        source_label=o.source_label,
        ip=o.ip,
        port=o.port,
        at=o.at,
        source_zone=o.source_zone,
        tolerance_s=o.tolerance_s,
        protocol=o.protocol,
        direction=o.direction,
        seen=o.seen,
        raw=o.raw,
        flags=json.loads(o.flags),
        created_by=o.created_by,
        created_at=o.created_at,
    )


def create_investigation(
    node: Node, principal: Principal, data: dict[str, Any]
) -> InvestigationView:
    _require_role(principal)
    try:
        case = InvestigationIn.model_validate(data)
    except ValueError as exc:
        raise _invalid(exc) from None
    conduct = check_conduct(case.conduct, _known_conduct())
    now = node.clock.now()
    try:
        with node.db.session() as session:
            taken = session.execute(
                select(InvestigationRow.id).where(InvestigationRow.reference == case.reference)
            ).first()
            if taken:
                raise Conflict(f"an investigation {case.reference!r} exists already")
            row = InvestigationRow(
                id=str(uuid.uuid4()),
                reference=case.reference,
                title=case.title,
                conduct=json.dumps(conduct),
                handling_code=case.handling_code,
                tlp=case.tlp,
                description=case.description,
                status="open",
                created_by=principal.actor,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.add(
                MemberRow(
                    investigation_id=row.id,
                    username=principal.username,
                    role="lead",
                    added_by=principal.actor,
                    added_at=now,
                )
            )
            record(
                session,
                actor=principal.actor,
                action="investigation.created",
                subject=f"investigation:{row.id}",
                details={"reference": row.reference, "title": row.title, "conduct": conduct},
                at=now,
            )
            session.flush()
            return _view(session, row)
    except IntegrityError:
        raise Conflict(f"an investigation {case.reference!r} exists already") from None


def list_investigations(node: Node, principal: Principal) -> list[InvestigationView]:
    """The investigations this person is on, newest first."""
    _require_role(principal)
    with node.db.session() as session:
        rows = session.execute(
            select(InvestigationRow)
            .join(MemberRow, MemberRow.investigation_id == InvestigationRow.id)
            .where(MemberRow.username == principal.username)
            .order_by(InvestigationRow.created_at.desc())
        ).scalars()
        return [_view(session, row, full=False) for row in rows]


def get_investigation(node: Node, principal: Principal, investigation_id: str) -> InvestigationView:
    with node.db.session() as session:
        row = _row(session, investigation_id)
        _membership(session, row, principal)
        return _view(session, row)


def update_investigation(
    node: Node, principal: Principal, investigation_id: str, data: dict[str, Any]
) -> InvestigationView:
    try:
        patch = InvestigationPatch.model_validate(data)
    except ValueError as exc:
        raise _invalid(exc) from None
    now = node.clock.now()
    with node.db.session() as session:
        row = _row(session, investigation_id)
        _membership(session, row, principal)
        changed: dict[str, Any] = {}
        for name in ("title", "handling_code", "tlp", "description", "status"):
            value = getattr(patch, name)
            if value is not None and value != getattr(row, name):
                changed[name] = {"from": getattr(row, name), "to": value}
                setattr(row, name, value)
        if patch.conduct is not None:
            conduct = check_conduct(patch.conduct, _known_conduct())
            if conduct != json.loads(row.conduct):
                changed["conduct"] = {"from": json.loads(row.conduct), "to": conduct}
                row.conduct = json.dumps(conduct)
        if changed:
            row.updated_at = now
            record(
                session,
                actor=principal.actor,
                action="investigation.changed",
                subject=f"investigation:{row.id}",
                details=changed,
                at=now,
            )
        return _view(session, row)


def add_member(
    node: Node, principal: Principal, investigation_id: str, username: str, role: str = "member"
) -> InvestigationView:
    if role not in ("lead", "member"):
        raise ValidationFailed("a member's role is lead or member", ["role"])
    now = node.clock.now()
    with node.db.session() as session:
        row = _row(session, investigation_id)
        me = _membership(session, row, principal)
        if me.role != "lead":
            raise PermissionDenied("only a lead adds people to an investigation")
        roles = {r.value for r in principal_of(get_user(session, username)).roles}
        if not roles.intersection(r.value for r in CASE_ROLES):
            raise ValidationFailed(
                f"{username} holds neither the investigator nor the duty_officer role",
                ["username"],
            )
        exists = session.execute(
            select(MemberRow).where(
                MemberRow.investigation_id == row.id, MemberRow.username == username
            )
        ).scalar_one_or_none()
        if exists is not None:
            raise Conflict(f"{username} is on {row.reference} already")
        session.add(
            MemberRow(
                investigation_id=row.id,
                username=username,
                role=role,
                added_by=principal.actor,
                added_at=now,
            )
        )
        record(
            session,
            actor=principal.actor,
            action="investigation.member_added",
            subject=f"investigation:{row.id}",
            details={"username": username, "role": role},
            at=now,
        )
        session.flush()
        return _view(session, row)


def add_observations(
    node: Node,
    principal: Principal,
    investigation_id: str,
    observations: list[ObservationIn],
    *,
    how: str,
) -> list[ObservationView]:
    """Store observations (all or nothing) and audit them as one change."""
    if not observations:
        raise ValidationFailed("nothing to add: no observation")
    now = node.clock.now()
    with node.db.session() as session:
        row = _row(session, investigation_id)
        _membership(session, row, principal)
        if row.status != "open":
            raise Conflict(f"investigation {row.reference} is closed")
        last = session.execute(
            select(ObservationRow.seq)
            .where(ObservationRow.investigation_id == row.id)
            .order_by(ObservationRow.seq.desc())
            .limit(1)
        ).scalar_one_or_none()
        seq = last or 0
        rows = []
        for obs in observations:
            seq += 1
            rows.append(
                ObservationRow(
                    id=str(uuid.uuid4()),
                    investigation_id=row.id,
                    seq=seq,
                    kind=obs.kind.value,
                    source_label=obs.source_label,
                    ip=obs.ip,
                    port=obs.port,
                    at=obs.at,
                    source_zone=obs.source_zone,
                    tolerance_s=obs.tolerance,
                    protocol=obs.protocol,
                    direction=obs.direction,
                    seen=obs.seen,
                    raw=obs.raw,
                    flags=json.dumps(list(obs.flags)),
                    created_by=principal.actor,
                    created_at=now,
                )
            )
        session.add_all(rows)
        row.updated_at = now
        record(
            session,
            actor=principal.actor,
            action="investigation.observations_added",
            subject=f"investigation:{row.id}",
            details={
                "how": how,
                "count": len(rows),
                "observations": [r.id for r in rows][:100],
                "flagged": sum(1 for o in observations if o.flags),
            },
            at=now,
        )
        session.flush()
        return [_observation_view(r) for r in rows]


def observe_event(
    node: Node, principal: Principal, investigation_id: str, event: dict[str, Any]
) -> ObservationView:
    return add_observations(
        node, principal, investigation_id, [typed_event(event)], how="typed_event"
    )[0]


def observe_import(
    node: Node, principal: Principal, investigation_id: str, text: str, fmt: str, label: str = ""
) -> list[ObservationView]:
    observations = parse_import(text, fmt, source_label=label or f"{fmt} import")
    return add_observations(node, principal, investigation_id, observations, how=f"{fmt}_import")


def observe_headers(
    node: Node, principal: Principal, investigation_id: str, message: bytes, label: str = ""
) -> list[ObservationView]:
    hops = read_message(message)
    if not hops:
        raise ValidationFailed("the message has no Received: line: no hop to observe")
    observations = observations_from_hops(hops, source_label=label or "e-mail headers")
    return add_observations(node, principal, investigation_id, observations, how="email_headers")


def observe_log_lines(
    node: Node,
    principal: Principal,
    investigation_id: str,
    text: str,
    *,
    fmt: str | None = None,
    tz: str | None = None,
    year: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tolerance_s: float | None = None,
    label: str = "",
) -> list[ObservationView]:
    """Lines of a log (any format the traffic parsers read), optionally only those within
    [start, end]. Every record becomes an observation; a line a parser cannot use is an error
    naming it (nothing is stored): the victim's evidence is either whole or refused."""
    if not text.strip():
        raise ValidationFailed("no log lines given", ["lines"])
    if start is not None and end is not None and end < start:
        raise ValidationFailed("the window ends before it starts", ["end"])
    source = label or "log lines"
    with tempfile.TemporaryDirectory(prefix="tg-observe-") as folder:
        path = Path(folder) / "lines.log"
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        try:
            parser = get_parser(fmt) if fmt else detect_format(path)
            batches = list(parser.parse(path, ParseOptions(tz=tz, year=year, source_name=source)))
        except FormatError as exc:
            raise ValidationFailed(f"the log lines cannot be read: {exc}", ["lines"]) from None
    bad = [f"line {b.line_no}: {b.reason}" for batch in batches for b in batch.bad_lines]
    if bad:
        raise ValidationFailed(f"{len(bad)} line(s) cannot be read; nothing added", bad[:50])
    lines = text.splitlines()
    observations: list[ObservationIn] = []
    for batch in batches:
        for rec in batch.table.to_pylist():
            at = rec["start"]
            if start is not None and at < start:
                continue
            if end is not None and at > end:
                continue
            ip = rec["public_ip"] or rec["inside_ip"]
            port = rec["public_port"] if rec["public_ip"] else rec["inside_port"]
            number = int(rec["source_line"])
            raw = lines[number - 1] if 0 < number <= len(lines) else ""
            seen = f"{parser.NAME} {rec['kind']}"
            if rec.get("dst_ip"):
                seen += f" to {rec['dst_ip']}" + (f":{rec['dst_port']}" if rec["dst_port"] else "")
            observations.append(
                ObservationIn(
                    kind=SourceKind.LOG_LINE,
                    ip=ip,
                    port=port,
                    at=at,
                    source_zone=rec["source_tz"],
                    tolerance_s=tolerance_s,
                    protocol=_protocol(rec["protocol"]),
                    direction="inbound",
                    seen=seen[:2000],
                    source_label=f"{source} line {number}",
                    raw=raw[:20_000],
                )
            )
    if not observations:
        raise ValidationFailed("no record of these lines falls in the window", ["lines"])
    return add_observations(node, principal, investigation_id, observations, how="log_lines")


def _protocol(value: str | None) -> str | None:
    if value is None:
        return None
    return value if value in PROTOCOLS else "other"


def link(
    node: Node,
    principal: Principal,
    investigation_id: str,
    target_kind: str,
    target_id: str,
    note: str = "",
) -> InvestigationView:
    """Link a request (by id) or a hold (by hold id, in this node's traffic store)."""
    if target_kind not in LINK_KINDS:
        raise ValidationFailed(f"link kind must be one of {', '.join(LINK_KINDS)}", ["kind"])
    target_id = (target_id or "").strip()
    if not target_id:
        raise ValidationFailed("link to what? give the id", ["id"])
    if target_kind == "request":
        get_request(node, target_id)  # NotFound when there is no such request
    else:
        get_hold(node, target_id)
    now = node.clock.now()
    with node.db.session() as session:
        row = _row(session, investigation_id)
        _membership(session, row, principal)
        exists = session.execute(
            select(LinkRow.id).where(
                LinkRow.investigation_id == row.id,
                LinkRow.target_kind == target_kind,
                LinkRow.target_id == target_id,
            )
        ).first()
        if exists:
            raise Conflict(f"{target_kind} {target_id} is linked to {row.reference} already")
        session.add(
            LinkRow(
                investigation_id=row.id,
                target_kind=target_kind,
                target_id=target_id,
                note=note[:2000],
                linked_by=principal.actor,
                linked_at=now,
            )
        )
        record(
            session,
            actor=principal.actor,
            action="investigation.linked",
            subject=f"investigation:{row.id}",
            details={"kind": target_kind, "id": target_id, "note": note[:200]},
            at=now,
        )
        session.flush()
        return _view(session, row)


def require_member(node: Node, principal: Principal, investigation_id: str) -> InvestigationView:
    """For other capabilities (the trace): the investigation, if this person is on it."""
    with node.db.session() as session:
        row = _row(session, investigation_id)
        _membership(session, row, principal)
        return _view(session, row, full=False)


def case_reference(node: Node, investigation_id: str) -> str:
    """The investigation's reference, for a reference derived from it (a trace's request
    numbers) when no person is at the keyboard (an answer arriving): nothing else is read."""
    with node.db.session() as session:
        return _row(session, investigation_id).reference


__all__ = ["DEFAULT_TOLERANCE_S"]
