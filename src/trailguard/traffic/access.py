"""Who may use the traffic store and its holds (shared by the traffic services)."""

from __future__ import annotations

from trailguard.accounts import Principal, Role
from trailguard.core.errors import PermissionDenied

HOLD_ROLES = (Role.PROVIDER_LIAISON, Role.ADMIN)


def require_hold_role(principal: Principal) -> None:
    if not principal.has_any(*HOLD_ROLES):
        raise PermissionDenied(
            f"{principal.username} may not use the traffic store or its holds: this needs the "
            "provider_liaison or admin role"
        )
