"""What a page does when a form's input is refused: the errors a form handler catches, and
the lines the page shows (the message first, then each named problem once). The page is
rendered again with them (422), nothing half-written."""

from __future__ import annotations

from trailguard.core.errors import Conflict, NotFound, ValidationFailed

FORM_ERRORS: tuple[type[Exception], ...] = (ValidationFailed, Conflict, NotFound, ValueError)


def form_problems(exc: Exception) -> list[str]:
    """``[str(exc), *exc.problems]`` without repeats."""
    problems = [str(exc)]
    for problem in getattr(exc, "problems", None) or []:
        if str(problem) not in problems:
            problems.append(str(problem))
    return problems
