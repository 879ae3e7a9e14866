"""A real SMTP server on loopback for tests (aiosmtpd): STARTTLS with a throw-away CA, AUTH PLAIN/LOGIN
with one account, and what arrived kept for reading. ``refuse`` makes it refuse recipients (550);
``stall_s`` makes it sit on DATA (to test the client's deadline)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.services import free_port

USER, PASSWORD = "sekreterare@kommun.example", "rätt-lösen-123"


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: bool = False
    stall_s: float = 0.0
    stalled: threading.Event = field(default_factory=threading.Event)


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.box.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.box.stall_s:
            self.box.stalled.set()
            await asyncio.sleep(self.box.stall_s)
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.box.messages.append(msg)
        self.box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself


@contextmanager
def smtp_server(tls_dir: Path, box: Mailbox | None = None) -> Iterator[tuple[int, Mailbox, Path]]:
    """Yields (port, mailbox, CA file). STARTTLS is required before AUTH and MAIL."""
    from tests.deploy.pki import make_pki

    pki = make_pki(tls_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    box = box or Mailbox()
    port = free_port()
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        ready_timeout=30,
    )
    controller.start()
    try:
        yield port, box, pki.ca_cert
    finally:
        controller.stop()
