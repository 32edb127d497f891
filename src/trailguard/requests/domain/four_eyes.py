"""The four-eyes rule over a request's actors: two different people look at every request
before it leaves this node. Plain Python over the actor names the audit log uses.

Who is a person: an actor is a person when it is ``user:<username>`` and the username holds
no ``:``. People's usernames never do (accounts allows lower-case letters, digits, ``.``,
``_`` and ``-``); the principals that act when nobody is at the keyboard always do
(``user:trace:answers`` drafts the next hop's request when an answer arrives,
``user:trace:disclosure:<node>`` drafts an Art. 30 disclosure, ``user:policy:auto-send`` is
a trace's recorded auto-send policy), and other actors are not users at all (``node:<id>``,
``system:cli``).

The rule: a person drafts and another person approves; the sender may then be either of
them. When no person drafted the request, the approver is the only person who looked at it
so far, so the person who approved it may not also send it: another person sends it. A
recorded policy that approves and sends (the trace's auto-send) is not a person and acts
under its own recorded rule, so it is not bound by this one.
"""

from __future__ import annotations

PERSON_PREFIX = "user:"


def is_person(actor: str | None) -> bool:
    """Whether ``actor`` (as the audit log names it) is a person on this node."""
    if not actor or not actor.startswith(PERSON_PREFIX):
        return False
    name = actor.removeprefix(PERSON_PREFIX)
    return bool(name) and ":" not in name


def shown(actor: str) -> str:
    """An actor as a sentence names it: ``trace:answers`` rather than ``user:trace:answers``."""
    return actor.removeprefix(PERSON_PREFIX)


def send_refusal(created_by: str, approved_by: str | None, sender: str) -> str | None:
    """Why ``sender`` may not send a request drafted by ``created_by`` and approved by
    ``approved_by`` under the four-eyes rule, or None when it may."""
    if not is_person(sender) or is_person(created_by) or approved_by != sender:
        return None
    return (
        f"no person drafted this request (it was drafted by {shown(created_by)}) and "
        f"{shown(sender)} approved it, so another person must send it: the four-eyes rule "
        "wants two people to have looked at a request before it leaves this node"
    )
