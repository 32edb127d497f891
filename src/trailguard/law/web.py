"""law: server-rendered pages. ``/law`` is a form; it posts (htmx) to ``/law/answer``, which
renders the answer with its reasoning and citations as a partial (or the whole page without
JavaScript)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from trailguard.accounts import Principal
from trailguard.core.errors import ValidationFailed
from trailguard.law.answers import CONDUCTS, DATA_KINDS, MEASURES
from trailguard.law.engine import get_engine
from trailguard.law.loader import latest_fact_date
from trailguard.law.sources import DEFAULT_STALE_DAYS, stale_report
from trailguard.web.deps import ANY_ROLE, get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)  # pages, like every other web router

AnyUser = Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
FOCUS_COUNTRIES = ("US", "NL", "DE", "FR", "GB", "BR", "JP", "NG", "IN", "VN", "RU", "ZA")


def _form_context(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    engine = get_engine()
    node = get_node(request)
    stale = stale_report(engine.data, node.clock.now().date(), DEFAULT_STALE_DAYS)
    countries = sorted(engine.data.countries.items(), key=lambda item: item[1])
    defaults = {
        "kind": "check",
        "requesting": node.config.country,
        "requested": "NL" if node.config.country != "NL" else "US",
        "conduct": ["illegal_access"],
        "measure": "preservation",
        "data": "subscriber",
        "emergency": False,
        "provider_country": "",
        "purpose": "both",
        "as_of": node.clock.now().date().isoformat(),
    }
    defaults.update({k: v for k, v in values.items() if v is not None})
    national = sorted((o.id, o.country, o.statute) for o in engine.data.offences.values())
    return {
        "form": defaults,
        "countries": countries,
        "focus": [(code, engine.data.countries[code]) for code in FOCUS_COUNTRIES],
        "conducts": [
            (c, engine.data.conducts[c].article, engine.data.conducts[c].title) for c in CONDUCTS
        ],
        "national": national,
        "measures": MEASURES,
        "data_kinds": DATA_KINDS,
        "meta": engine.data.meta,
        "purposes": [
            ("both", "both: preserve first, disclose first in an emergency"),
            ("obtain", "obtain: the data is wanted now"),
            ("preserve", "preserve: keep the data"),
        ],
        "newest_fact": latest_fact_date(engine.data),
        "stale": {"count": stale["stale_facts"], "days": DEFAULT_STALE_DAYS},
    }


@router.get("/law", response_class=HTMLResponse)
def page(request: Request, _principal: AnyUser) -> HTMLResponse:
    return render(request, "law/page.html", _form_context(request, {}))


@router.post("/law/answer", response_class=HTMLResponse)
def answer(
    request: Request,
    _principal: AnyUser,
    kind: Annotated[str, Form()] = "check",
    requesting: Annotated[str, Form()] = "",
    requested: Annotated[str, Form()] = "",
    conduct: Annotated[list[str] | None, Form()] = None,
    measure: Annotated[str, Form()] = "preservation",
    data: Annotated[str, Form()] = "subscriber",
    emergency: Annotated[str | None, Form()] = None,
    provider_country: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "both",
    as_of: Annotated[str, Form()] = "",
) -> HTMLResponse:
    engine = get_engine()
    values: dict[str, Any] = {
        "kind": kind,
        "requesting": requesting,
        "requested": requested,
        "conduct": conduct or [],
        "measure": measure,
        "data": data,
        "emergency": emergency is not None,
        "provider_country": provider_country,
        "purpose": purpose,
        "as_of": as_of,
    }
    context: dict[str, Any] = {"kind": kind}
    status = 200
    try:
        day = _parse_day(as_of) if as_of else get_node(request).clock.now().date()
        if kind == "channels":
            context["channels"] = engine.channels(
                requesting,
                requested,
                data,
                emergency is not None,
                day,
                provider_country=provider_country or None,
                conduct=conduct or None,
                purpose=purpose,
            )
        elif kind == "check":
            context["check"] = engine.check(requesting, requested, conduct or [], measure, day)
        else:
            raise ValidationFailed(f"kind: unknown question {kind!r}", ["kind: check or channels"])
    except ValidationFailed as exc:
        context["error"] = str(exc)
        context["problems"] = exc.problems
        status = 422
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers; the error text is the content to show.
        return render(request, "law/_answer.html", context)
    full = _form_context(request, values)
    full.update(context)
    return render(request, "law/page.html", full, status_code=status)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"as_of: {value!r} is not a date", ["as_of: YYYY-MM-DD"]) from None
