"""E-mail through SMTP: one notice is one message, with the ``Message-ID`` recorded for it before the send and its
letter (a PDF) attached.

The server and the sender come from the settings (``SETTLE_GATEWAY_SMTP_HOST``, ``_PORT``, ``_FROM``, ``_USER``,
``_STARTTLS``, ``_TIMEOUT``); the password is a secret, ``SETTLE_GATEWAY_SMTP_PASSWORD``, read when connecting and
kept only inside the :class:`Mailer` (its ``repr`` and every message and log line leave it out). With STARTTLS the
server's certificate is checked against the system's trust store.

Sending is at-least-once: a process killed after the server accepted a message and before the notice was marked
sent sends it again with the same ``Message-ID`` (see :mod:`gateway.receivables.notices`), which receiving systems
use to drop the repeat.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from gateway.errors import MailError
from settle.config import secret

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

__all__ = ["PASSWORD_ENV", "Attachment", "Mail", "Mailer", "build_message"]

log = logging.getLogger(__name__)

#: Where the SMTP password comes from (never a settings field: settings are logged and dumped).
PASSWORD_ENV = "SETTLE_GATEWAY_SMTP_PASSWORD"


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes = field(repr=False)
    media_type: str = "application/pdf"


@dataclass(frozen=True)
class Mail:
    """One message to one recipient."""

    message_id: str
    recipient: str
    subject: str
    body: str
    attachments: Sequence[Attachment] = ()


def build_message(mail: Mail, sender: str, *, date: str | None = None) -> EmailMessage:
    """The MIME message: plain-text body, attachments, ``Message-ID`` as recorded (the dedupe key)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = date or formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = mail.message_id
    message.set_content(mail.body)
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name)
    return message


class Mailer:
    """Hands messages to one SMTP server, a connection per call of :meth:`send_many` (or :meth:`send`)."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        user: str = "",
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 30.0,
    ):
        if not host:
            raise MailError("no SMTP host: set SETTLE_GATEWAY_SMTP_HOST")
        self.host, self.port, self.sender = host, port, sender
        self.user, self.starttls, self.timeout = user, starttls, timeout
        self.__password = password

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Mailer | None:
        """The settings' mailer, or None when no SMTP host is set (sending is off)."""
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=secret(PASSWORD_ENV),
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )

    @property
    def where(self) -> str:
        """``smtp://user@host:port`` (no password), for messages and logs."""
        user = f"{self.user}@" if self.user else ""
        return f"smtp://{user}{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Mailer({self.where}, starttls={self.starttls})"

    def send(self, mail: Mail) -> None:
        """Send one message; :class:`MailError` when the server cannot be reached or refuses it."""
        errors = self.send_many([mail])
        if errors[0] is not None:
            raise errors[0]

    def send_many(self, mails: Sequence[Mail], on_result: Callable[[int, MailError | None], None] | None = None) -> list[MailError | None]:
        """Send each message over one connection: per message None (accepted) or the :class:`MailError` that says
        why not. A connection that cannot be made (or breaks) fails every message not yet sent. ``on_result`` is
        called with each message's index and result as soon as the server answered it (to record the send before
        the next message goes out)."""
        results: list[MailError | None] = [None] * len(mails)
        if not mails:
            return results

        def report(index: int, error: MailError | None) -> None:
            results[index] = error
            if on_result is not None:
                on_result(index, error)

        try:
            smtp = self._connect()
        except MailError as exc:
            for index in range(len(mails)):
                report(index, exc)
            return results
        try:
            for index, mail in enumerate(mails):
                try:
                    refused = smtp.send_message(build_message(mail, self.sender))
                except smtplib.SMTPRecipientsRefused as exc:
                    report(
                        index,
                        MailError(f"{self.where} refused the recipient {mail.recipient}: {_reply(exc.recipients.get(mail.recipient))}"),
                    )
                except smtplib.SMTPResponseException as exc:
                    report(index, MailError(f"{self.where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}"))
                except (smtplib.SMTPException, OSError) as exc:
                    error = MailError(f"{self.where}: the connection broke while sending ({_why(exc)})")
                    for rest in range(index, len(mails)):
                        report(rest, error)
                    return results
                else:
                    problem = None
                    if refused:
                        problem = MailError(f"{self.where} refused the recipient {mail.recipient}: {_reply(refused.get(mail.recipient))}")
                    report(index, problem)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        return results

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to the SMTP server {self.where}: {_why(exc)}") from None
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.__password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise MailError(
                f"{self.where} refused the login of {self.user!r} ({exc.smtp_code}); check the user and {PASSWORD_ENV}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            smtp.close()
            raise MailError(
                f"{self.where} does not offer STARTTLS (or login); set SETTLE_GATEWAY_SMTP_STARTTLS=false only for a loopback server"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise MailError(f"{self.where}: {'STARTTLS or login' if self.starttls else 'login'} failed: {_why(exc)}") from None
        return smtp


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def _reply(value: tuple[int, bytes] | None) -> str:
    return f"{value[0]} {_text(value[1])}" if value else "refused"


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return str(exc) or type(exc).__name__
