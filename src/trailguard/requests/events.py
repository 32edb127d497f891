"""What the requests capability announces to others in-process (``trailguard.core.events``)."""

TRANSITION_EVENT = "requests.transition"
"""The in-process event every request transition publishes: ``{"request_id", "from", "to",
"origin"}``, in the transaction of the transition."""
