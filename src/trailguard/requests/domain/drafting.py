"""Drafting one request from another: the Art. 31 mutual assistance request that follows a
preservation carries its references (T-CY(2018)10 field 10,
https://rm.coe.int/template-article31-mla-subscriber/1680a273d9), and the Art. 30(1)
expedited disclosure that answers a preservation names the provider in the other State and the
path."""

from __future__ import annotations

from collections.abc import Mapping
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


def disclosure_draft_from_preservation(
    preservation: Mapping[str, Any],
    *,
    date_issued: date,
    confirmation_contact: Mapping[str, Any],
    provider: str,
    provider_country: str,
    provider_prefix: str,
    path: list[dict[str, Any]],
    traffic_data: list[str],
    came_from: str,
) -> dict[str, Any]:
    """A draft (plain data) of the Art. 30(1) disclosure answering the preservation request
    ``preservation`` (its body): the parties and authorities keep their roles (the requesting
    Party asked, the requested Party discloses), the provider in the other State and the path
    are named, and the third-country notice says where to send the next preservation
    (``came_from``: the address, port and time the communication came from), or that the path
    leads back into the requesting Party, whose domestic process applies (Explanatory Report
    §290)."""
    if provider_country != preservation["requesting_party"]:
        notice = (
            f"The communication came from {provider} in {provider_country} ({came_from}); "
            f"send a preservation request to {provider_country}."
        )
    else:
        notice = f"The path leads back into {provider_country}: its domestic process applies."
    return {
        "kind": RequestKind.EXPEDITED_DISCLOSURE.value,
        "reference": f"{preservation['reference']}-A30",
        "date_issued": date_issued.isoformat(),
        "requesting_party": preservation["requesting_party"],
        "requested_party": preservation["requested_party"],
        "requesting_authority": preservation["requesting_authority"],
        "requested_authority": preservation["requested_authority"],
        "confirmation_contact": dict(confirmation_contact),
        "in_response_to": preservation["reference"],
        "provider_in_other_state": {
            "name": provider,
            "country": provider_country,
            "identifiers": [provider_prefix],
        },
        "path": path,
        "traffic_data": traffic_data,
        "third_country_notice": notice,
    }
