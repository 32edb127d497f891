"""law: JSON API routes (under /api). Same answers, same JSON contract as ``law ... --json``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from trailguard.accounts import Principal
from trailguard.law.engine import get_engine
from trailguard.law.sources import sources_report
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
    as_of: Annotated[
        date | None, Query(description="YYYY-MM-DD; default today on the node's clock")
    ] = None,
) -> dict[str, Any]:
    """The lawful channels to the data, fastest first, and those ruled out."""
    answer = get_engine().channels(
        requesting,
        requested,
        data,
        emergency,
        as_of or _today(request),
        provider_country=provider_country,
        conduct=conduct or None,
    )
    return answer.to_dict()


@router.get("/sources")
def sources(_principal: AnyUser) -> dict[str, Any]:
    """Every source the legal data cites."""
    data = get_engine().data
    return {
        "data_version": data.meta.data_version,
        "checked": data.meta.checked.isoformat(),
        "horizon": data.meta.horizon.isoformat(),
        "sources": sources_report(data),
    }
