"""Valid example payloads for every request type (synthetic people, documentation addresses)."""

from __future__ import annotations

import copy
from typing import Any

US_AUTHORITY = {
    "organisation": "US 24/7 point of contact (synthetic)",
    "person_in_charge": "Dana Example",
    "address": "1 Example Plaza, Washington DC",
    "phone": "+12025550100",
    "email": "duty@us-poc.example",
    "office_hours": "24/7",
    "time_zone": "America/New_York",
    "preferred_channel": "trailguard",
}
CONTACT = {"name": "Sam Sample", "phone": "+12025550101", "email": "sam@us-poc.example"}

COMMON: dict[str, Any] = {
    "reference": "US-2026-0042",
    "date_issued": "2026-11-20",
    "requesting_party": "US",
    "requested_party": "NL",
    "requesting_authority": US_AUTHORITY,
    "requested_authority": "Netherlands 24/7 point of contact",
    "confirmation_contact": CONTACT,
}

IP_ENDPOINT = {
    "type": "ip_endpoint",
    "ip": "198.51.100.23",
    "port": 41234,
    "timestamp": "2026-11-20T03:14:07.250-05:00",
    "protocol": "tcp",
    "destination_port": 443,
}
IP6_ENDPOINT = {
    "type": "ip_endpoint",
    "ip": "2001:db8::23",
    "port": 50000,
    "timestamp": "2026-11-20T08:14:07Z",
    "protocol": "udp",
}

PRESERVATION: dict[str, Any] = {
    **COMMON,
    "kind": "preservation",
    "seeking_authority": "US Department of Justice, CCIPS (synthetic)",
    "offence": "Illegal access to a bank's web server",
    "offence_articles": [2],
    "summary_of_facts": "An administrator login from an unknown address on 2026-11-20.",
    "data_to_preserve": [
        IP_ENDPOINT,
        IP6_ENDPOINT,
        {"type": "time_range", "start": "2026-11-20T08:00:00Z", "end": "2026-11-20T09:00:00Z"},
        {"type": "account", "service": "vps.polderhost.example", "username": "nightjar"},
        {"type": "email", "address": "nightjar@mail.example"},
        {"type": "domain", "name": "nightjar.example"},
        {"type": "phone", "number": "+31 20 555 0123"},
    ],
    "relationship_to_offence": "The login came from this address and port at that time.",
    "custodian": "Polderhost B.V. (VPS in 198.51.100.0/24)",
    "necessity": "Flow records are deleted after 30 days.",
    "mla_intended": True,
    "data_kinds": ["flow"],
}

EXPEDITED: dict[str, Any] = {
    **COMMON,
    "kind": "expedited_disclosure",
    "reference": "NL-2026-0007",
    "in_response_to": "US-2026-0042",
    "provider_in_other_state": {
        "name": "Rio Litoral Telecom",
        "country": "BR",
        "identifiers": ["203.0.113.0/24"],
    },
    "path": [
        {
            "source": {**IP_ENDPOINT, "ip": "203.0.113.77", "port": 51512, "destination_port": 22},
            "destination": {**IP_ENDPOINT, "port": 22},
            "observed_by": "Polderhost flow records",
        }
    ],
    "traffic_data": ["2026-11-20T08:13:59Z 203.0.113.77:51512 -> 198.51.100.23:22 tcp 48213 bytes"],
    "third_country_notice": "The trail leads to Brazil: send a preservation request to BR.",
}

EMERGENCY: dict[str, Any] = {
    **COMMON,
    "kind": "emergency_disclosure",
    "channel": "convention_art25_3",
    "provider_name": "Polderhost B.V.",
    "provider_address": "Polderweg 1, Amsterdam",
    "offence": "Threat to kill",
    "legal_provisions_and_penalties": "18 U.S.C. 875(c), up to 5 years",
    "emergency_facts": "A named person was threatened with death within 24 hours.",
    "relationship_to_emergency": "The threat was posted from this account.",
    "data_sought": "Subscriber and login IP addresses of the account for 2026-11-20.",
    "identifiers": [{"type": "account", "service": "vps.polderhost.example", "username": "x1"}],
    "statement_under_protocol": False,
}

SUBSCRIBER: dict[str, Any] = {
    **COMMON,
    "kind": "subscriber_info",
    "protocol_article": "7",
    "issuing_authority": "US Attorney's Office (synthetic)",
    "statement_under_protocol": True,
    "provider_name": "Polderhost B.V.",
    "provider_address": "Polderweg 1, Amsterdam",
    "offences": "Illegal access",
    "subscriber_information_sought": "Name, address, billing details of the VPS customer.",
    "identifiers": [IP_ENDPOINT],
    "domestic_legal_grounds": "18 U.S.C. 2703(c)",
    "offence_provisions_and_penalties": "18 U.S.C. 1030, up to 10 years",
}

EU_COMMON: dict[str, Any] = {
    **COMMON,
    "requesting_party": "DE",
    "requested_party": "NL",
    "issuing_state": "DE",
    "issuing_authority": "Staatsanwaltschaft Beispielstadt (synthetic)",
    "issuing_authority_type": "prosecutor",
    "file_number": "DE-123/26",
    "addressee": "Polderhost B.V., designated establishment",
    "service_provider": "Polderhost B.V.",
    "data_categories": ["subscriber"],
    "identifiers": [IP_ENDPOINT],
    "offence": "Computer fraud",
    "maximum_penalty_years": 5,
    "necessity_and_proportionality": "Only the subscriber can identify the suspect.",
}
EPOC: dict[str, Any] = {**EU_COMMON, "kind": "epoc"}
EPOC_PR: dict[str, Any] = {
    **EU_COMMON,
    "kind": "epoc_pr",
    "data_categories": ["traffic"],
    "issuing_authority_type": "investigating_judge",
}

MLA: dict[str, Any] = {
    **COMMON,
    "kind": "mla",
    "reference": "US-2026-0042-MLA",
    "status": "follow_up_to_preservation",
    "previous_preservations": [
        {
            "reference": "US-2026-0042",
            "date_issued": "2026-11-20",
            "requesting_authority": "US 24/7 point of contact",
            "requested_authority": "NL 24/7 point of contact",
        }
    ],
    "investigative_authority": "FBI field office (synthetic)",
    "prosecution_office_or_court": "US Attorney's Office (synthetic)",
    "case_numbers": "1:26-cr-00042",
    "measures_sought": ["disclosure"],
    "offence": "Illegal access",
    "summary_of_facts": "An administrator login from 198.51.100.23.",
    "data_sought": "Flow records preserved under US-2026-0042.",
    "applicable_law": "18 U.S.C. 1030",
}

ART32: dict[str, Any] = {
    **COMMON,
    "kind": "art32_record",
    "basis": "consent",
    "data_description": "Mailbox export of the victim's administrator account.",
    "location": "mail.example (NL)",
    "obtained_at": "2026-11-21T10:00:00+01:00",
    "obtained_by": "Dana Example",
    "consenting_person": "Alex Admin (synthetic)",
    "consenting_person_authority": "Account holder and IT manager of the victim bank",
    "consent_lawful_and_voluntary": True,
}

ALL: dict[str, dict[str, Any]] = {
    "preservation": PRESERVATION,
    "expedited_disclosure": EXPEDITED,
    "emergency_disclosure": EMERGENCY,
    "subscriber_info": SUBSCRIBER,
    "epoc": EPOC,
    "epoc_pr": EPOC_PR,
    "mla": MLA,
    "art32_record": ART32,
}


def payload(kind: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(ALL[kind])
    data.update(changes)
    return data
