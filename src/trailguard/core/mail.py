"""The one SMTP adapter: send a plain-text mail through the node's ``smtp_url``.

``smtp://[user:pass@]host[:port]`` (port 25), ``smtps://...`` (implicit TLS, port 465) or
``smtp+starttls://...`` (upgraded with STARTTLS). A path after the host
(``smtp://host:port/duty@example.org``) names a default recipient (``default_recipient``).
An exercise node passes its ``marking`` (``core.exercise_marking``, issue 17): the subject
then starts with "EXERCISE:" and the body with the marking line, whoever wrote them.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from trailguard.core.errors import ValidationFailed
from trailguard.core.exercise_marking import EXERCISE_WORD

SCHEMES = ("smtp", "smtps", "smtp+starttls")
MailFailed = (OSError, smtplib.SMTPException, ValidationFailed)
"""What ``send_email`` raises when the mail did not go out."""


def default_recipient(smtp_url: str) -> str | None:
    """The recipient named in the URL's path, or None."""
    recipient = unquote(urlsplit(smtp_url).path.lstrip("/"))
    return recipient if "@" in recipient else None


def send_email(
    smtp_url: str,
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    marking: str | None = None,
) -> None:
    """Send one plain-text mail; raises one of ``MailFailed`` when it did not go out.
    ``marking`` (an exercise node's, None on a real node) marks the subject and body."""
    if marking is not None:
        if not subject.startswith(f"{EXERCISE_WORD}:"):
            subject = f"{EXERCISE_WORD}: {subject}"
        if not body.startswith(marking):
            body = f"{marking}\n\n{body}"
    parts = urlsplit(smtp_url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValidationFailed(f"smtp_url {smtp_url!r} must look like smtp://host:port")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(
        parts.hostname, parts.port or (465 if parts.scheme == "smtps" else 25), timeout=10
    ) as client:
        if parts.scheme == "smtp+starttls":
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
