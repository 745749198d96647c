"""``rasa`` with its HTTP API secret from the environment instead of the command line.

``rasa run --auth-token X`` shows X to anyone who can list processes (``ps``), and clients must
send it as ``?token=X``, which proxies and access logs keep. Run as
``python -m frontdesk_rasa.rasa_server run …``: the same command line, plus ``--jwt-secret``
from ``RASA_JWT_SECRET``, added inside the process (``ps`` shows the command as it was started).
Clients then send a JWT in the ``Authorization`` header (frontdesk/conversations.py).
"""

from __future__ import annotations

import os
import sys


def rasa_argv(argv: list[str], environ: dict[str, str] | os._Environ[str]) -> list[str]:
    secret = environ.get("RASA_JWT_SECRET", "")
    if argv[:1] == ["run"] and "--enable-api" in argv:
        if not secret:
            raise SystemExit("error: Rasa's HTTP API needs RASA_JWT_SECRET (it would be open to anyone)")
        # Joined to its option: a secret starting with "-" would otherwise read as an option.
        argv = [*argv, f"--jwt-secret={secret}", "--jwt-method=HS256"]
    return ["rasa", *argv]


def main() -> None:
    sys.argv = rasa_argv(sys.argv[1:], os.environ)
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
