"""law: JSON API routes (under /api). Same answers, same JSON contract as ``law ... --json``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from trailguard.accounts import Principal
from trailguard.core.errors import ValidationFailed
from trailguard.law.engine import get_engine
from trailguard.law.reservations import realtime_collection
from trailguard.law.sources import DEFAULT_STALE_DAYS, sources_report, stale_report
from trailguard.web.deps import ANY_ROLE, get_node, require_roles

router = APIRouter(prefix="/law", tags=["law"])

AnyUser = Annotated[Principal, Depends(require_roles(*ANY_ROLE))]


def _today(request: Request) -> date:
    return get_node(request).clock.now().date()


@router.get("/check")
def check(
    request: Request,
    _principal: AnyUser,
    requesting: Annotated[
        str, Query(alias="from", description="Requesting country (ISO 3166-1 alpha-2)")
    ],
    requested: Annotated[
        str, Query(alias="to", description="Requested country (ISO 3166-1 alpha-2)")
    ],
    conduct: Annotated[
        list[str], Query(description="Art. 2-11 conduct or national offence id; repeat")
    ],
    measure: Annotated[
        str, Query(description="preservation, traffic_disclosure, subscriber_info, ...")
    ],
    as_of: Annotated[
        date | None, Query(description="YYYY-MM-DD; default today on the node's clock")
    ] = None,
) -> dict[str, Any]:
    """Dual criminality for a measure between two countries, dated and cited."""
    answer = get_engine().check(requesting, requested, conduct, measure, as_of or _today(request))
    return answer.to_dict()


@router.get("/channels")
def channels(
    request: Request,
    _principal: AnyUser,
    requesting: Annotated[str, Query(alias="from", description="Requesting country")],
    requested: Annotated[str, Query(alias="to", description="Requested country")],
    data: Annotated[str, Query(description="subscriber, traffic, content or domain")],
    emergency: Annotated[bool, Query(description="Risk to life or safety")] = False,
    provider_country: Annotated[
        str | None, Query(description="Where the provider is, if not the requested country")
    ] = None,
    conduct: Annotated[
        list[str] | None,
        Query(
            description="Art. 2-11 conduct or national offence id; repeat. Lets penalty "
            "thresholds (Regulation (EU) 2023/1543 Art. 5(4)) be checked"
        ),
    ] = None,
    purpose: Annotated[
        str,
        Query(
            description="preserve, obtain or both (default): channels that disclose rank "
            "first when the data is wanted now (obtain, or both in an emergency)"
        ),
    ] = "both",
    as_of: Annotated[
        date | None, Query(description="YYYY-MM-DD; default today on the node's clock")
    ] = None,
) -> dict[str, Any]:
    """The lawful channels to the data, ordered for the purpose, and those ruled out."""
    answer = get_engine().channels(
        requesting,
        requested,
        data,
        emergency,
        as_of or _today(request),
        provider_country=provider_country,
        conduct=conduct or None,
        purpose=purpose,
    )
    return answer.to_dict()


@router.get("/realtime")
def realtime(
    request: Request,
    _principal: AnyUser,
    requesting: Annotated[str, Query(alias="from", description="Requesting country")],
    requested: Annotated[str, Query(alias="to", description="Country asked to collect")],
    data: Annotated[str, Query(description="traffic or content")] = "traffic",
    as_of: Annotated[
        date | None, Query(description="YYYY-MM-DD; default today on the node's clock")
    ] = None,
) -> dict[str, Any]:
    """Real-time collection (ETS 185 Arts. 33-34) checked against the requested Party's
    Art. 14(3) reservations."""
    answer = realtime_collection(
        get_engine(), requesting, requested, data, as_of or _today(request)
    )
    return answer.to_dict()


@router.get("/sources")
def sources(
    request: Request,
    _principal: AnyUser,
    stale: Annotated[bool, Query(description="List old or unverified facts by source")] = False,
    older_than: Annotated[
        int, Query(ge=0, description="With stale: age limit in days")
    ] = DEFAULT_STALE_DAYS,
    as_of: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="With stale: count ages from this date (YYYY-MM-DD; a bare number "
            "is refused, not read as a day in 1970)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Every source the legal data cites; with ``stale``, the facts to refresh by source."""
    data = get_engine().data
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        raise ValidationFailed(f"as_of: {as_of!r} is not a date", ["as_of: YYYY-MM-DD"]) from exc
    if stale:
        return stale_report(data, day or _today(request), older_than)
    return {
        "data_version": data.meta.data_version,
        "checked": data.meta.checked.isoformat(),
        "horizon": data.meta.horizon.isoformat(),
        "sources": sources_report(data),
    }
