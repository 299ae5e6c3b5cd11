"""Outgoing e-mail: one message shape, sent over SMTP (aiosmtplib) or kept in an outbox.

``Mail`` is a plain-text message with an optional HTML part. ``SmtpMailer`` sends it to the
server named by an ``smtp://`` URL:

- ``smtp://host:25`` plain; ``smtp://user:password@host:587?starttls=true`` STARTTLS (required
  whenever a password is sent to a host that is not loopback); ``smtps://user:password@host:465``
  implicit TLS. User and password are percent-decoded.

A failure raises ``MailError`` in plain words (unreachable server, refused sign-in, refused
recipient) so the caller can show it and retry later; nothing is retried here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from .errors import MirrorcalError


class MailError(MirrorcalError):
    """A message could not be sent (the text says why, in plain words)."""


@dataclass(frozen=True, slots=True)
class Mail:
    """One message to one recipient."""

    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)
    """Extra headers (e.g. ``("X-Mirrorcal-Kind", "invitation")``)."""

    def __post_init__(self) -> None:
        if not _address_ok(self.to):
            raise MailError(f"{self.to!r} is not an e-mail address")
        if "\n" in self.subject or "\r" in self.subject:
            raise MailError("a subject must be one line")


class Mailer(Protocol):
    async def send(self, mail: Mail) -> str:
        """Send ``mail``; returns its Message-ID. Raises ``MailError``."""
        ...


def _address_ok(address: str) -> bool:
    _, parsed = parseaddr(address)
    local, _, domain = parsed.partition("@")
    return bool(local and "." in domain and parsed == address.strip() and not any(c in address for c in "\r\n,;"))


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach the SMTP server (see the module docstring for the URL forms)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise MailError(f"the mail server address must start with smtp:// or smtps://, not {parts.scheme or url!r}")
        if not parts.hostname:
            raise MailError("the mail server address names no host")
        try:
            port = parts.port
        except ValueError:
            raise MailError("the mail server's port is not a number") from None
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["false"])[-1].lower() in ("1", "true", "yes")
        server = cls(
            host=parts.hostname,
            port=port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=parts.scheme == "smtps",
            starttls=starttls,
        )
        if server.password and not (server.implicit_tls or server.starttls or _loopback(server.host)):
            raise MailError("a mail password would cross the network in clear: use smtps:// or ?starttls=true")
        return server


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_message(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message for ``mail`` from ``sender`` (``"Name <address>"`` or an address)."""
    name, address = parseaddr(sender)
    if not _address_ok(address):
        raise MailError(f"the sender {sender!r} is not an e-mail address")
    message = EmailMessage()
    message["From"] = formataddr((name, address))
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    for key, value in mail.headers:
        message[key] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


class SmtpMailer:
    """Sends over SMTP; one connection per message (interview mail is a trickle, not a stream)."""

    def __init__(self, url: str, sender: str, *, timeout: float = 15.0) -> None:
        """Raises ``MailError`` for a URL or a sender that cannot work (before anything is sent)."""
        self.server = SmtpServer.from_url(url)
        if not _address_ok(parseaddr(sender)[1]) or any(c in sender for c in "\r\n,;"):
            raise MailError(f"the sender {sender!r} is not an e-mail address")
        self.sender = sender
        self.timeout = timeout

    async def send(self, mail: Mail) -> str:
        message = build_message(mail, self.sender)
        s = self.server
        where = f"{s.host}:{s.port}"
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                use_tls=s.implicit_tls,
                start_tls=s.starttls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise MailError(f"the mail server at {where} refused the sign-in: {exc.message}") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"the mail server at {where} refused the recipient {mail.to}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise MailError(f"the mail server at {where} answered {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"could not reach the mail server at {where}: {exc}") from exc
        return str(message["Message-ID"])
