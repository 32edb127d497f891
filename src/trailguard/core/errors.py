"""Errors that every layer may raise; entry points turn them into clear messages."""


class TrailguardError(Exception):
    """Base class: the message is written for the person who has to act on it."""


class ValidationFailed(TrailguardError):
    """Input was refused; ``problems`` names each bad field."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NotFound(TrailguardError):
    pass


class NotAuthenticated(TrailguardError):
    """No valid credential; ``challenge`` asks the client to present a bearer token."""

    def __init__(self, message: str, *, challenge: bool = False) -> None:
        super().__init__(message)
        self.challenge = challenge


class PermissionDenied(TrailguardError):
    pass


class Conflict(TrailguardError):
    pass
