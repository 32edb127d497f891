"""What every legal answer is built on: the instruments' ids, the texts the rules quote, and
the :class:`Trail` that collects an answer's reasoning, citations and unverified facts.

The lowest module of the engine: ``context``, ``engine``, ``channels``, ``bases``,
``reservations`` and ``sources`` import it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trailguard.law.loader import Dataset
from trailguard.law.schema import Fact

ETS185 = "ets185"
CETS224 = "cets224"
EU_EEVIDENCE = "eu_2023_1543"
G7_NETWORK = "g7_24_7"
UN_CONVENTION = "un_cybercrime"
ETS30 = "ets30"
# Multilateral conventions that are, between their Parties, the mutual assistance treaty that
# ETS 185 Art. 27(1) defers to.
MLA_CONVENTIONS: tuple[str, ...] = (ETS30,)

EU_MEMBER_STATES: tuple[str, ...] = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
)  # fmt: skip


# The texts the rules quote. An article citation starting with a prefix also cites its text;
# "verified" says whether the article body was read (LEGAL.md marks CETS 224 article bodies
# and Regulation (EU) 2023/1543 Arts. 5 and 6 as not checked).
# ETS 185 Art. 24(1)(a): extradition for offences punishable under the laws of both Parties by
# deprivation of liberty for a maximum period of at least one year.
EXTRADITION_RULE = "ETS 185 Art. 24(1)(a)"
EXTRADITION_MIN_YEARS = 1.0

ARTICLE_SOURCES: tuple[tuple[str, str, bool], ...] = (
    ("ETS 185 Explanatory Report para. 290", "ets185_explanatory_290", True),
    ("ETS 185 Art", "ets185_text", True),
    ("ETS 30 Art. 1", "coe_ets30_text", True),
    ("ETS 30 Art. 2", "coe_ets30_text", True),
    ("ETS 30 Art", "coe_ets30_text", False),
    ("CETS 224 Art", "cets224_text", False),
    ("Regulation (EU) 2023/1543 Art. 10", "eu_2023_1543_art10", True),
    ("Regulation (EU) 2023/1543 Art. 11", "eu_2023_1543_art11", True),
    ("Regulation (EU) 2023/1543 Art. 8", "eu_2023_1543_text", True),
    ("Regulation (EU) 2023/1543 Art. 19", "eu_2023_1543_text", True),
    # Art. 5(1)-(4)(b) read in the German text (sources_penalties.yaml: eu_2023_1543_art5).
    ("Regulation (EU) 2023/1543 Art. 5(3)", "eu_2023_1543_art5", True),
    ("Regulation (EU) 2023/1543 Art. 5(4)", "eu_2023_1543_art5", True),
    ("Regulation (EU) 2023/1543 Art", "eu_2023_1543_text", False),
)
RULE_SOURCES: frozenset[str] = frozenset(
    {source for _, source, _ in ARTICLE_SOURCES} | {"iso3166_tzdata"}
)


def article_source(citation: str) -> tuple[str, bool] | None:
    """The source id of the text an article citation quotes, and whether it was read."""
    for prefix, source, verified in ARTICLE_SOURCES:
        if citation.startswith(prefix):
            return source, verified
    return None


@dataclass
class Trail:
    """Collects what an answer rests on: reasoning lines, citations, unverified facts."""

    dataset: Dataset
    reasoning: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.reasoning.append(line)

    def _add(self, text: str) -> bool:
        if text in self.citations:
            return False
        self.citations.append(text)
        return True

    def cite(self, text: str) -> str:
        """Cite an article (e.g. "ETS 185 Art. 29(3)"); its text's source is cited with it."""
        if not self._add(text):
            return text
        quoted = article_source(text)
        if quoted is not None:
            source_id, verified = quoted
            source = self.dataset.sources[source_id]
            label = f"Text of {text}"
            flag = "" if verified else ", article body unverified"
            self.citations.append(
                f"{label}: {source.title} <{source.url}> (checked {source.checked}{flag})"
            )
            if not verified and label not in self.unverified:
                self.unverified.append(label)
        return text

    def fact(self, fact: Fact, label: str) -> str:
        """Cite a data fact: its label, source title and URL, as-of date and verification."""
        source = self.dataset.sources[fact.source]
        flag = "" if fact.verified else ", unverified"
        text = f"{label}: {source.title} <{source.url}> (as of {fact.as_of}{flag})"
        if not fact.verified and label not in self.unverified:
            self.unverified.append(label)
        self._add(text)
        return text

    @property
    def verified(self) -> bool:
        return not self.unverified
