"""law: JSON API routes (under /api). Same answers, same JSON contract as ``law ... --json``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from trailguard.accounts import Principal
from trailguard.core.apitypes import CountryCode, Day, LawDay, OneOf
from trailguard.law.answers import DATA_KINDS, MEASURES, PURPOSES, REALTIME_DATA
from trailguard.law.engine import CONDUCTS, get_engine
from trailguard.law.reservations import realtime_collection
from trailguard.law.sources import DEFAULT_STALE_DAYS, sources_report, stale_report
from trailguard.web.deps import ANY_ROLE, get_node, require_roles

router = APIRouter(prefix="/law", tags=["law"])

AnyUser = Annotated[Principal, Depends(require_roles(*ANY_ROLE))]


# What each parameter accepts, published as the schema's enum: the engine's own lists.
# A national offence id must be one of the requesting or requested country (the engine says
# which when it is not).
Conduct = Annotated[
    str,
    OneOf((*CONDUCTS, *sorted(get_engine().data.offences)), "conduct"),
]
Measure = Annotated[str, OneOf(MEASURES, "measure")]
DataKind = Annotated[str, OneOf(DATA_KINDS, "data")]
Purpose = Annotated[str, OneOf(PURPOSES, "purpose")]
RealtimeData = Annotated[str, OneOf(REALTIME_DATA, "data")]
AS_OF = "YYYY-MM-DD from 2001-11-23; default today on the node's clock"


def _today(request: Request) -> date:
    return get_node(request).clock.now().date()


@router.get("/check")
def check(
    request: Request,
    _principal: AnyUser,
    requesting: Annotated[
        CountryCode, Query(alias="from", description="Requesting country (ISO 3166-1 alpha-2)")
    ],
    requested: Annotated[
        CountryCode, Query(alias="to", description="Requested country (ISO 3166-1 alpha-2)")
    ],
    conduct: Annotated[
        list[Conduct],
        Query(min_length=1, description="Art. 2-11 conduct or national offence id; repeat"),
    ],
    measure: Annotated[Measure, Query(description="The measure sought")],
    as_of: Annotated[LawDay | None, Query(description=AS_OF)] = None,
) -> dict[str, Any]:
    """Dual criminality for a measure between two countries, dated and cited."""
    answer = get_engine().check(requesting, requested, conduct, measure, as_of or _today(request))
    return answer.to_dict()


@router.get("/channels")
def channels(
    request: Request,
    _principal: AnyUser,
    requesting: Annotated[CountryCode, Query(alias="from", description="Requesting country")],
    requested: Annotated[CountryCode, Query(alias="to", description="Requested country")],
    data: Annotated[DataKind, Query(description="The data sought")],
    emergency: Annotated[bool, Query(description="Risk to life or safety")] = False,
    provider_country: Annotated[
        CountryCode | None,
        Query(description="Where the provider is, if not the requested country"),
    ] = None,
    conduct: Annotated[
        list[Conduct] | None,
        Query(
            description="Art. 2-11 conduct or national offence id; repeat. Lets penalty "
            "thresholds (Regulation (EU) 2023/1543 Art. 5(4)) be checked"
        ),
    ] = None,
    purpose: Annotated[
        Purpose,
        Query(
            description="preserve, obtain or both (default): channels that disclose rank "
            "first when the data is wanted now (obtain, or both in an emergency)"
        ),
    ] = "both",
    as_of: Annotated[LawDay | None, Query(description=AS_OF)] = None,
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
    requesting: Annotated[CountryCode, Query(alias="from", description="Requesting country")],
    requested: Annotated[CountryCode, Query(alias="to", description="Country asked to collect")],
    data: Annotated[RealtimeData, Query(description="The data to collect")] = "traffic",
    as_of: Annotated[LawDay | None, Query(description=AS_OF)] = None,
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
        int, Query(ge=0, le=36_600, description="With stale: age limit in days (0-36600)")
    ] = DEFAULT_STALE_DAYS,
    as_of: Annotated[
        Day | None,
        Query(
            description="With stale: count ages from this date (YYYY-MM-DD; a bare number "
            "is refused, not read as a day in 1970)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Every source the legal data cites; with ``stale``, the facts to refresh by source."""
    data = get_engine().data
    day = as_of
    if stale:
        return stale_report(data, day or _today(request), older_than)
    return {
        "data_version": data.meta.data_version,
        "checked": data.meta.checked.isoformat(),
        "horizon": data.meta.horizon.isoformat(),
        "sources": sources_report(data),
    }
