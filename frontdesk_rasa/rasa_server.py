"""``rasa`` with its HTTP API secret from the environment instead of the command line.

``rasa run --auth-token X`` shows X to anyone who can list processes (``ps``), and clients must
send it as ``?token=X``, which proxies and access logs keep. Run as
``python -m frontdesk_rasa.rasa_server run …``: the same command line, plus ``--jwt-secret``
from ``RASA_JWT_SECRET``, added inside the process (``ps`` shows the command as it was started).
Clients then send a JWT in the ``Authorization`` header (frontdesk/agents/conversations.py). It also
caps request bodies at 64 KB.
"""

from __future__ import annotations

import os
import sys

from frontdesk.settings import Settings, SettingsError
from frontdesk_rasa import speedups

# Rasa's Sanic app takes 100 MB request bodies by default and parses them before any channel can
# look at the 2,000-character limit. Nothing we serve from Rasa needs more (REST and Slack
# messages, agents' events). Only this process: the action server receives whole trackers.
MAX_REQUEST_BYTES = 64 * 1024


def rasa_argv(argv: list[str], secret: str) -> list[str]:
    """``argv`` for the rasa CLI; an HTTP API (``run --enable-api``) gets ``secret`` as its JWT secret."""
    if argv[:1] == ["run"] and "--enable-api" in argv:
        if not secret:
            raise SystemExit("error: Rasa's HTTP API needs RASA_JWT_SECRET (it would be open to anyone)")
        # Joined to its option: a secret starting with "-" would otherwise read as an option.
        argv = [*argv, f"--jwt-secret={secret}", "--jwt-method=HS256"]
    return ["rasa", *argv]


def main() -> None:
    # Sanic reads SANIC_* variables into the app's config when Rasa creates it: this reaches Rasa's
    # app without touching Rasa, however the server is started.
    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(MAX_REQUEST_BYTES))
    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        raise SystemExit(f"error: {problem}") from None
    sys.argv = rasa_argv(sys.argv[1:], settings.rasa_jwt_secret)
    # Installed here, where the server starts, before Rasa loads the model: never by an import.
    speedups.install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
