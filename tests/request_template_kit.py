"""The request template of the US point of contact's trace (synthetic people), shared by the
trace tests and the evidence tests (tests/ is on the path of every folder's tests)."""

from __future__ import annotations

from typing import Any

TEMPLATE: dict[str, Any] = {
    "requesting_authority": {
        "organisation": "United States 24/7 point of contact (synthetic)",
        "person_in_charge": "Dan Cole",
        "address": "1 Example Plaza, Washington DC",
        "phone": "+12025550100",
        "email": "duty@us-poc.example",
        "office_hours": "24/7",
        "time_zone": "America/New_York",
        "preferred_channel": "trailguard",
    },
    "confirmation_contact": {
        "name": "Iris Reed",
        "phone": "+12025550101",
        "email": "iris.reed@us-poc.example",
    },
    "seeking_authority": "US Department of Justice (synthetic)",
    "offence": "Illegal access to a bank's web server (18 U.S.C. 1030)",
    "offence_articles": [2],
    "summary_of_facts": "An unknown person logged in to a bank's administration interface.",
}
