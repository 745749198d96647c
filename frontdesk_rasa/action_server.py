"""The action server: rasa-sdk's app, closed to everyone but our Rasa server.

``rasa run actions`` listens on every interface, answers anyone, and its error handler echoes the
posted tracker back. Its ``/webhook`` trusts whatever tracker it is sent, so whoever can reach it
can run any action for any conversation with any slots (a billing lookup for another customer's
id, reset e-mails, tickets). This entry point serves the same actions with:

- a listen address from ``FRONTDESK_BIND_HOST`` (loopback unless configured);
- a shared secret on every call: Rasa sends ``Authorization: Bearer <ACTION_SERVER_SECRET>``
  (``endpoints.yml``, ``action_endpoint.headers``); a call without it, or with another, gets 401
  before anything runs. Compared in constant time;
- errors answered with a fixed message: no tracker, slots, PII or stack trace in any body;
- no CORS: browsers never call it.

``/health`` stays open (it says "ok" and nothing else) for the launcher's readiness check.
Run: ``python -m frontdesk_rasa.action_server`` (``frontdesk serve`` does).
"""

from __future__ import annotations

import hmac
import logging
import sys
import threading
import time

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from frontdesk.core.privacy import default_redactor
from frontdesk.insights.metrics import CONTENT_TYPE, ActionMetrics, authorised, render
from frontdesk.settings import Settings, SettingsError

log = logging.getLogger(__name__)

# /metrics has a token of its own (FRONTDESK_METRICS_TOKEN), checked by its handler.
OPEN_PATHS = frozenset({"/health", "/metrics"})
# Rasa posts the whole tracker: long conversations are large, but not this large.
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def secure_action_app(secret: str, actions_package: str = "actions", metrics_token: str = "") -> Sanic:
    if not secret:
        raise SettingsError("the action server needs ACTION_SERVER_SECRET")
    app = create_app(actions_package, cors_origins="")
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    expected = f"Bearer {secret}".encode()

    @app.middleware("request")
    async def require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        presented = (request.headers.get("authorization") or "").encode()
        if not hmac.compare_digest(presented, expected):
            log.warning("action server: refused a call without the shared secret (%s %s)",
                        request.method, request.path)
            return response.json({"error": "unauthorized"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="frontdesk-actions"'})
        return None

    action_metrics = ActionMetrics()

    @app.middleware("request")
    async def start_timer(request: Request) -> None:
        request.ctx.started = time.perf_counter()

    @app.middleware("response")
    async def time_the_action(request: Request, answer: HTTPResponse) -> None:
        if request.path != "/webhook" or not hasattr(request.ctx, "started"):
            return
        try:
            action = str((request.json or {}).get("next_action") or "unknown")[:80]
        except Exception:  # an unreadable body was answered already: count it as unknown
            action = "unknown"
        action_metrics.observe(action, time.perf_counter() - request.ctx.started, answer.status >= 500)

    @app.get("/metrics")
    async def metrics(request: Request) -> HTTPResponse:
        if not metrics_token:
            return response.text("not found", status=404)
        if not authorised(request.headers.get("authorization"), metrics_token):
            return response.text("unauthorized", status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return response.raw(render(action_metrics.registry), content_type=CONTENT_TYPE)

    async def fail_quietly(request: Request, exception: Exception) -> HTTPResponse:
        # rasa-sdk's own handler answers with the posted tracker: slots, messages, PII.
        status = getattr(exception, "status_code", 500)
        if status >= 500:
            log.error("action server: %s on %s", type(exception).__name__, request.path, exc_info=exception)
        return response.json({"error": "the action could not be run" if status >= 500 else "bad request"},
                             status=status if 400 <= status < 600 else 500)

    app.error_handler.add(Exception, fail_quietly)
    return app


def warm_up_redactor(sensitive_identifiers: tuple[str, ...] = ()) -> threading.Thread:
    """Presidio and spaCy take seconds to load: load them now, in the background (start-up does not
    wait), not in the first customer's handoff. The handoffs share this redactor (an lru_cache)."""
    thread = threading.Thread(target=lambda: default_redactor(sensitive_identifiers).redact("warm up"),
                              name="presidio-warm-up",
                              daemon=True)
    thread.start()
    return thread


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        app = secure_action_app(settings.action_server_secret, metrics_token=settings.insights.metrics_token)
    except SettingsError as problem:
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    warm_up_redactor(settings.privacy.sensitive_identifiers)
    log.info("action server on http://%s:%s (calls need the shared secret)", settings.bind_host, settings.action_port)
    app.run(host=settings.bind_host, port=settings.action_port, access_log=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
