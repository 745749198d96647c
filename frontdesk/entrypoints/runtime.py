"""What the Rasa processes need from the settings, as the environment variables that
``endpoints.yml`` and ``credentials.yml`` substitute (Rasa's ``${VAR}`` syntax)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from frontdesk.settings import Settings, SettingsError

_MATH_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                          "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def rasa_environment(settings: Settings, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """``inherited``: the environment the processes start from. A thread variable an operator set
    there is kept."""
    env = {
        "FRONTDESK_DATABASE_URL": settings.database_url,
        "ACTION_ENDPOINT_URL": settings.action_server_url,
        # endpoints.yml sends it to the action server as a bearer token on every call.
        "ACTION_SERVER_SECRET": settings.action_server_secret,
        # endpoints.yml's event broker (frontdesk_rasa/event_broker.py); its password, if any, is
        # read there from FRONTDESK_EVENT_BROKER_PASSWORD, never put in a URL.
        "FRONTDESK_EVENT_BROKER_URL": settings.insights.event_broker_url,
        "FRONTDESK_EVENT_BROKER_PASSWORD": settings.insights.event_broker_password,
        "FRONTDESK_LOCK_STORE_TYPE": "in_memory",
        "FRONTDESK_LOCK_STORE_HOST": "localhost",
        "FRONTDESK_LOCK_STORE_PORT": "6379",
        "FRONTDESK_LOCK_STORE_DB": "1",
        "FRONTDESK_LOCK_STORE_PASSWORD": "",
        # credentials.yml substitutes these; empty ones leave the Slack channel off.
        "SLACK_BOT_TOKEN": settings.slack.bot_token,
        "SLACK_SIGNING_SECRET": settings.slack.signing_secret,
        "SLACK_API_URL": settings.slack.api_url,
        # Rasa's telemetry and crash reports (Segment, Sentry) would send usage and exception
        # data off the machine: nothing leaves our servers unless an operator says so.
        "RASA_TELEMETRY_ENABLED": (inherited or {}).get("RASA_TELEMETRY_ENABLED", "false"),
    }
    if settings.math_threads:
        # Requests run concurrently on the event loop, not inside a matrix product: a message's
        # arithmetic (the sentence encoder's) is too small to split, and OpenBLAS's extra threads
        # spin-wait on the cores the other requests need. make bench: CPU per message 43 -> 22 ms
        # from the BLAS variables; TensorFlow's pools (TED, now rarely run) get the same cap.
        threads = str(settings.math_threads)
        env.update({name: threads for name in _MATH_THREAD_VARIABLES if name not in (inherited or {})})
    if settings.redis_url:
        parts = urlsplit(settings.redis_url)
        if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
            raise SettingsError(f"FRONTDESK_REDIS_URL must look like redis://host:6379/1, got {parts.scheme}://…")
        env.update(
            FRONTDESK_LOCK_STORE_TYPE="redis",
            FRONTDESK_LOCK_STORE_HOST=parts.hostname,
            FRONTDESK_LOCK_STORE_PORT=str(parts.port or 6379),
            FRONTDESK_LOCK_STORE_DB=parts.path.lstrip("/") or "1",
            FRONTDESK_LOCK_STORE_PASSWORD=parts.password or "",
        )
    return env

