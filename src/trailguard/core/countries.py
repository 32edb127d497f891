"""ISO 3166-1 alpha-2 country codes, read from the IANA time zone database's ``iso3166.tab``
(shipped in the ``tzdata`` package), with suggestions for the codes people often type instead
(``UK`` for ``GB``, ``EL`` for ``GR`` as the EU writes Greece) and for country names."""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources

# Codes that are not ISO 3166-1 alpha-2 but are commonly used for a country that has one:
# UK (exceptionally reserved by ISO 3166/MA at the United Kingdom's request) and EL (the EU's
# code for Greece, Interinstitutional Style Guide 7.1) are the two a European office types.
COMMON_MISTAKES = {"UK": "GB", "EL": "GR"}


@lru_cache(maxsize=1)
def iso_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> English short name (tzdata ``zoneinfo/iso3166.tab``)."""
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text("utf-8")
    countries: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, _, name = line.partition("\t")
        countries[code.strip()] = name.strip()
    return countries


def suggest_country(value: str) -> str | None:
    """The code a person most likely meant by ``value`` (a wrong code or a name), or None."""
    cleaned = value.strip()
    upper = cleaned.upper()
    if upper in COMMON_MISTAKES:
        return COMMON_MISTAKES[upper]
    countries = iso_countries()
    by_name = {name.lower(): code for code, name in countries.items()}
    if cleaned.lower() in by_name:
        return by_name[cleaned.lower()]
    close = difflib.get_close_matches(cleaned.lower(), list(by_name), n=1, cutoff=0.8)
    return by_name[close[0]] if close else None


def check_country(value: str) -> str:
    """``value`` upper-cased when it is an ISO 3166-1 alpha-2 code; otherwise ValueError saying
    what to give instead."""
    code = value.strip().upper()
    countries = iso_countries()
    if len(code) == 2 and code in countries:
        return code
    hint = suggest_country(value)
    if hint is not None:
        raise ValueError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code; did you mean "
            f"{hint!r} ({countries[hint]})?"
        )
    raise ValueError(
        f"{value!r} is not an ISO 3166-1 alpha-2 country code (two letters such as 'NL', "
        "'US' or 'BR'; the list is ISO 3166-1 as carried by the IANA time zone database)"
    )
