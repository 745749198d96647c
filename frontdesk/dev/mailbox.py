"""A development mailbox: an SMTP server on loopback that files every message under var/mail/.

``make run`` starts it when no SMTP server is configured, so a newcomer can follow a reset
link without setting up mail. Production points SMTP_HOST at a real relay instead.
"""

from __future__ import annotations

import email
import email.policy
import logging
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)


class MailboxHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns()}.eml"
        path.write_bytes(envelope.content)
        # Addresses stay out of the log; the file has them.
        log.info("mail filed as %s: %s", path, message["Subject"])
        return "250 Message accepted for delivery"


def start_dev_mailbox(directory: Path, host: str, port: int) -> Controller:
    # aiosmtpd logs every SMTP command at INFO, recipients included.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(MailboxHandler(directory), hostname=host, port=port)
    controller.start()
    return controller
