"""Roles and the authenticated principal. Plain Python: no web or database imports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a person may do on a node. Admin administers the node; it is not a superuser of
    casework (separation of duties): an admin who also handles requests holds that role too."""

    DUTY_OFFICER = "duty_officer"  # staffs the 24/7 point of contact (Convention Art. 35)
    INVESTIGATOR = "investigator"  # holds the case and drafts requests
    CENTRAL_AUTHORITY = "central_authority"  # sends and answers MLA requests (Art. 27(2))
    PROVIDER_LIAISON = "provider_liaison"  # provider's law-enforcement response team
    ADMIN = "admin"  # users, directory, keys and node settings


@dataclass(frozen=True)
class Principal:
    """Who is acting: a logged-in person (or an API token holder) on this node."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[Role]

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"user:{self.username}"
