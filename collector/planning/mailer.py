"""Sending through the municipality's SMTP server: STARTTLS (or implicit TLS), credentials, and a
deadline on every step. Blocking (smtplib); the web layer runs it in a worker thread.

Errors become :class:`MailError` with a Swedish message for the secretary and the English one for
the log: refused recipient, refused sender, failed sign-in, TLS not offered, timeout, connection
refused. A message is sent once per call: the caller records the result per member, and a retry
is the secretary's explicit "send again".
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from likavillkor.config import Section

MAX_PASSWORD_FILE_BYTES = 4096


class SmtpSection(Section):
    """``[smtp]`` in collector.toml."""

    host: str = ""
    port: int = 587
    #: "starttls" (port 587), "tls" (implicit, port 465) or "none" (a relay on the local machine only)
    security: str = "starttls"
    username: str = ""
    password: str = ""
    password_file: str = ""
    sender: str = ""
    timeout_s: float = 20.0
    #: a CA file for a server whose certificate the system store does not know
    ca_file: str = ""
    #: how the invitation is signed, and the Servicedesk number it gives for technical problems (H20)
    signature: str = "Nämndsekreteraren"
    servicedesk: str = ""

    def __post_init__(self) -> None:
        if self.security not in ("starttls", "tls", "none"):
            raise ValueError(f"smtp.security must be starttls, tls or none, not {self.security!r}")
        if not 0 < self.timeout_s <= 300:
            raise ValueError("smtp.timeout_s must be between 0 and 300")
        if self.password and self.password_file:
            raise ValueError("smtp: give password or password_file, not both")

    def secret(self) -> str:
        """The password: ``password_file``'s first line (at most 4 KiB read), else ``password``."""
        if not self.password_file:
            return self.password
        try:
            with open(self.password_file, encoding="utf-8") as f:
                lines = f.read(MAX_PASSWORD_FILE_BYTES).splitlines()
        except OSError as exc:
            raise MailError(
                f"cannot read smtp.password_file: {exc.strerror}",
                "Lösenordsfilen för e-postservern går inte att läsa ([smtp] password_file).",
            ) from None
        return lines[0] if lines else ""

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)


class MailError(Exception):
    def __init__(self, message: str, message_sv: str) -> None:
        super().__init__(message)
        self.message_sv = message_sv


@dataclass(frozen=True, slots=True)
class Sent:
    recipient: str
    message_id: str


def send(config: SmtpSection, msg: EmailMessage, *, password: str | None = None) -> Sent:
    if not config.configured:
        raise MailError("no SMTP server configured", "Ingen e-postserver är inställd ([smtp] i collector.toml).")
    context = ssl.create_default_context(cafile=config.ca_file or None)
    try:
        client = _connect(config, context)
        try:
            _sign_in(client, config, context, password)
            refused = client.send_message(msg)
        finally:
            _quit(client)
    except MailError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(
            f"recipient refused: {exc.recipients}",
            "E-postservern tog inte emot mottagarens adress. Kontrollera adressen.",
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(
            f"sender refused: {exc.smtp_code} {exc.smtp_error!r}",
            "E-postservern tog inte emot avsändaradressen ([smtp] sender).",
        ) from None
    except TimeoutError:
        raise _timeout(config) from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS failed: {exc}", "Krypterad anslutning till e-postservern misslyckades.") from None
    except (smtplib.SMTPException, OSError) as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib reports a read timeout as "disconnected"
            raise _timeout(config) from None
        raise MailError(f"SMTP failed: {exc}", f"Det gick inte att skicka e-post: {_plain(exc)}") from None
    if refused:
        raise MailError(f"recipients refused: {refused}", "E-postservern tog inte emot mottagarens adress.")
    return Sent(recipient=str(msg["To"]), message_id=str(msg["Message-ID"]))


def _timeout(config: SmtpSection) -> MailError:
    return MailError(
        f"SMTP timeout after {config.timeout_s} s",
        f"E-postservern svarade inte inom {config.timeout_s:g} s. Inbjudan skickades inte.",
    )


def _connect(config: SmtpSection, context: ssl.SSLContext) -> smtplib.SMTP:
    if config.security == "tls":
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)


def _sign_in(client: smtplib.SMTP, config: SmtpSection, context: ssl.SSLContext, password: str | None) -> None:
    client.ehlo()
    if config.security == "starttls":
        if not client.has_extn("starttls"):
            raise MailError("server offers no STARTTLS", "E-postservern erbjuder ingen kryptering (STARTTLS).")
        client.starttls(context=context)
        client.ehlo()
    if config.username:
        secret = password if password is not None else config.secret()
        try:
            _login(client, config.username, secret)
        except smtplib.SMTPAuthenticationError:
            raise MailError(
                "SMTP authentication failed", "Inloggningen på e-postservern misslyckades ([smtp] username/password)."
            ) from None


def _login(client: smtplib.SMTP, username: str, secret: str) -> None:
    """One AUTH PLAIN when the server offers it (always inside TLS here). Not smtplib's ``login``:
    it encodes credentials as ASCII and raises on "å", "ä", "ö" (a Swedish password crashed the
    sending), and after a refused password it tries the next mechanism, which counts as a second
    failed sign-in against the account. AUTH PLAIN is UTF-8 by RFC 4616."""
    if "PLAIN" not in (client.esmtp_features.get("auth") or "").upper().split():
        client.login(username, secret)
        return
    token = base64.b64encode(f"\0{username}\0{secret}".encode()).decode("ascii")
    code, reply = client.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _plain(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "servern vägrade anslutningen."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"servern svarade {exc.smtp_code}."
    return type(exc).__name__
