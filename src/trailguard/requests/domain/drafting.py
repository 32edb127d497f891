"""Drafting one request from another: the Art. 31 mutual assistance request that follows a
preservation carries its references (T-CY(2018)10 field 10,
https://rm.coe.int/template-article31-mla-subscriber/1680a273d9)."""

from __future__ import annotations

from datetime import date
from typing import Any

from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.types import PreservationRequest


def mla_draft_from_preservation(
    preservation: PreservationRequest,
    *,
    date_issued: date,
    preservation_request_id: str = "",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A draft (plain data, to be completed and validated) of the Art. 31 request that follows
    ``preservation``: parties, authorities, offence, facts, data and the preservation's
    reference are carried over; the caller adds the rest (prosecution office, case numbers,
    applicable law) through ``overrides``."""
    base = preservation.model_dump(mode="json")
    draft: dict[str, Any] = {
        "kind": RequestKind.MLA.value,
        "reference": f"{preservation.reference}-MLA",
        "date_issued": date_issued.isoformat(),
        "requesting_party": preservation.requesting_party,
        "requested_party": preservation.requested_party,
        "requesting_authority": base["requesting_authority"],
        "requested_authority": preservation.requested_authority,
        "confirmation_contact": base["confirmation_contact"],
        "confidentiality": base["confidentiality"],
        "handling": base["handling"],
        "status": "follow_up_to_preservation",
        "previous_preservations": [
            {
                "request_id": preservation_request_id,
                "reference": preservation.reference,
                "date_issued": preservation.date_issued.isoformat(),
                "requesting_authority": preservation.seeking_authority,
                "requested_authority": preservation.requested_authority,
                "custodian": preservation.custodian,
            }
        ],
        "investigative_authority": preservation.seeking_authority,
        "measures_sought": ["disclosure"],
        "offence": preservation.offence,
        "summary_of_facts": preservation.summary_of_facts,
        "data_sought": (
            "The stored computer data preserved under the request "
            f"{preservation.reference}: {preservation.relationship_to_offence}"
        ),
        "identifiers": base["data_to_preserve"],
    }
    draft.update(overrides or {})
    return draft
