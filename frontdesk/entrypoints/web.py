"""The project's own web app: the password-reset page the e-mail links to, the agent API and
inbox page, and the background worker (outboxes, waiting messages, solved tickets).

It runs beside the Rasa server and the action server (``frontdesk web``). The reset pages are
server-rendered HTML without JavaScript; the inbox is static HTML with one small script. No
third-party assets, nothing fetched from the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import logging
from importlib import resources
from string import Template
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy import text

from frontdesk.accounts.customer_token import CustomerTokenVerifier, TokenRejected, purge_expired_token_uses
from frontdesk.accounts.passwords import MIN_LENGTH, PasswordPolicyError
from frontdesk.bootstrap import Services
from frontdesk.core.ratelimit import SqlRateLimiter
from frontdesk.entrypoints.agent_api import create_agent_api
from frontdesk.insights.metrics import CONTENT_TYPE, authorised, render, web_registry
from frontdesk.password_reset.service import InvalidResetToken, TokenProblem

log = logging.getLogger(__name__)

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
# The agent inbox: static files, a strict same-origin policy (no inline script, no third party).
_INBOX_HEADERS = {
    **_SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'",
}
_TOKEN_PROBLEMS = {
    TokenProblem.UNKNOWN: "This reset link is not valid. Ask the assistant for a new one.",
    TokenProblem.USED: "This reset link has already been used. Ask the assistant for a new one.",
    TokenProblem.EXPIRED: "This reset link has expired. Ask the assistant for a new one.",
}


@functools.cache
def _resource(path: str) -> str:
    """A file shipped in this package, read on first use (importing the module reads nothing)."""
    return resources.files(__package__).joinpath(path).read_text("utf-8")


def _page(title: str, body: str, status: int = 200) -> response.HTTPResponse:
    content = Template(_resource("templates/page.html")).substitute(title=html.escape(title), body=body)
    return response.html(content, status=status, headers=_SECURITY_HEADERS)


def _static_file(name: str, allowed: set[str], headers: dict[str, str] | None = None) -> response.HTTPResponse:
    if name not in allowed:
        return response.text("not found", status=404)
    content_type = "text/javascript" if name.endswith(".js") else "text/css"
    return response.text(_resource(f"static/{name}"), content_type=f"{content_type}; charset=utf-8", headers=headers)


def _form(token: str, error: str | None = None) -> str:
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""{problem}
<form method="post" action="/reset-password">
  <input type="hidden" name="token" value="{html.escape(token, quote=True)}">
  <label for="password">New password</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required
         minlength="{MIN_LENGTH}" maxlength="128">
  <label for="confirm">Repeat the new password</label>
  <input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
  <p class="hint">At least {MIN_LENGTH} characters. A few unrelated words make a strong password.</p>
  <button type="submit">Set new password</button>
</form>"""


def create_app(services: Services, run_outbox_worker: bool = True) -> Sanic:
    app = Sanic("frontdesk_web")
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.config.FALLBACK_ERROR_FORMAT = "html"

    app.blueprint(create_agent_api(services.db, services.workspace, services.agents,
                                   services.settings.client_address))

    @app.get("/")
    async def home(_request: Request) -> response.HTTPResponse:
        return response.redirect("/widget")

    @app.get("/widget")
    async def widget_page(request: Request) -> response.HTTPResponse:
        """The help-centre page with the chat widget. ``?demo_customer=AC-100001`` plays the
        logged-in support site, only when development switched it on (FRONTDESK_ENV=development
        and FRONTDESK_DEMO_SIGN_IN=1, as `make run` does): the page carries a signed token for
        that customer, as the real site would render it. Anywhere else the parameter is ignored."""
        settings = services.settings
        config: dict[str, Any] = {"socketUrl": settings.rasa_public_url}
        who = "You're chatting anonymously."
        demo = request.args.get("demo_customer")
        if demo and settings.is_development and settings.demo_sign_in and settings.customer_token.secret:
            with contextlib.suppress(TokenRejected):
                config["customerToken"] = CustomerTokenVerifier(settings.customer_token).mint(demo[:16], 3600)
                who = f"Signed in (demo) as {demo[:16]}."
        # "</" cannot close the script element the JSON sits in.
        page = Template(_resource("static/widget.html")).substitute(
            config=json.dumps(config).replace("</", "<\\/"), who=html.escape(who))
        rasa = settings.rasa_public_url
        ws = rasa.replace("http://", "ws://").replace("https://", "wss://")
        headers = {**_SECURITY_HEADERS, "X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"font-src 'self'; connect-src 'self' {rasa} {ws}; frame-ancestors 'self'")}
        return response.html(page, headers=headers)

    @app.get("/widget/webchat.js")
    async def widget_bundle(_request: Request) -> response.HTTPResponse:
        bundle = services.settings.widget_bundle
        if not bundle.exists():
            return response.text("The chat widget is not installed: run `make widget`.", status=503)
        return await response.file(str(bundle), mime_type="text/javascript; charset=utf-8",
                                   headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/widget/static/<name:str>")
    async def widget_static(_request: Request, name: str) -> response.HTTPResponse:
        return _static_file(name, {"widget.js", "widget.css"})

    @app.get("/agent")
    async def agent_inbox(_request: Request) -> response.HTTPResponse:
        return response.html(_resource("static/inbox.html"), headers=_INBOX_HEADERS)

    @app.get("/agent/static/<name:str>")
    async def agent_static(_request: Request, name: str) -> response.HTTPResponse:
        return _static_file(name, {"inbox.js", "inbox.css"}, _INBOX_HEADERS)

    metrics_registry = web_registry(services.db.transaction)

    @app.get("/metrics")
    async def metrics(request: Request) -> response.HTTPResponse:
        token = services.settings.insights.metrics_token
        if not token:
            return response.text("not found", status=404)  # off unless FRONTDESK_METRICS_TOKEN is set
        if not authorised(request.headers.get("authorization"), token):
            return response.text("unauthorized", status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, render, metrics_registry)  # database reads: off the event loop
        return response.raw(body, content_type=CONTENT_TYPE)

    @app.get("/healthz")
    async def health(_request: Request) -> response.HTTPResponse:
        try:
            await services.db.in_worker_thread(lambda session: session.execute(text("SELECT 1")))
        except Exception:
            log.exception("health check: database unavailable")
            return response.json({"status": "unavailable"}, status=503)
        return response.json({"status": "ok"})

    @app.get("/reset-password")
    async def reset_form(request: Request) -> response.HTTPResponse:
        token = request.args.get("token", "")
        try:
            await services.db.in_worker_thread(
                lambda session: services.password_reset.check_token(session, token))
        except InvalidResetToken as invalid:
            return _page("Reset link problem", f"<p>{_TOKEN_PROBLEMS[invalid.problem]}</p>", status=400)
        return _page("Choose a new password", _form(token))

    @app.post("/reset-password")
    async def reset_submit(request: Request) -> response.HTTPResponse:
        form = request.form or {}
        token = form.get("token") or ""
        password = form.get("password") or ""
        if password != (form.get("confirm") or ""):
            return _page("Choose a new password", _form(token, "The two passwords don't match."), 400)
        try:
            await services.db.in_worker_thread(
                lambda session: services.password_reset.complete_password_reset(session, token, password))
        except InvalidResetToken as invalid:
            return _page("Reset link problem", f"<p>{_TOKEN_PROBLEMS[invalid.problem]}</p>", status=400)
        except PasswordPolicyError as weak:
            return _page("Choose a new password", _form(token, str(weak)), status=400)
        return _page(
            "Password changed",
            "<p>Your password has been changed. You can now sign in with it. "
            "Other reset links for your account no longer work.</p>",
        )

    if run_outbox_worker:

        @app.listener("after_server_start")
        async def start_worker(app_: Sanic, _loop: Any) -> None:
            app_.ctx.outbox_task = asyncio.ensure_future(outbox_worker(services))

        @app.listener("before_server_stop")
        async def stop_worker(app_: Sanic, _loop: Any) -> None:
            app_.ctx.outbox_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await app_.ctx.outbox_task

    return app


def deliver_once(services: Services, check_ticket_statuses: bool = False, consume_telemetry: bool = False) -> None:
    """One pass of every background delivery: e-mail, tickets, messages of waiting customers,
    and, less often, tickets solved in the ticketing system (an API call per open ticket) and
    what Rasa's event broker published (every FRONTDESK_CONSUME_EVERY_SECONDS)."""
    jobs = [
        ("e-mail outbox", lambda: services.outbox.dispatch_due(services.db, services.mailer)),
        ("waiting messages", lambda: services.handoff.sync_waiting_messages(services.db)),
        ("ticket outbox", lambda: services.ticket_outbox.dispatch_due(services.db)),
    ]
    if consume_telemetry and services.telemetry is not None:
        jobs.append(("telemetry", services.telemetry.consume_all))
    if check_ticket_statuses:
        jobs.append(("solved tickets",
                     lambda: services.workspace.sync_finished_tickets(services.ticket_outbox.backend)))
        jobs.append(("housekeeping", lambda: housekeeping(services)))
    for name, job in jobs:
        try:
            report = job()
            counts = vars(report).values() if hasattr(report, "__dict__") else (
                report.values() if isinstance(report, dict) else [report])
            if any(counts):
                log.info("%s: %s", name, report)
        except Exception:  # one failing job must not stop the others, nor the loop
            log.exception("%s failed; retrying on the next pass", name)


def housekeeping(services: Services) -> dict[str, int]:
    """Forgets what only mattered for a while: rate-limit hits older than their longest window,
    and the conversations of customer tokens that have expired."""
    with services.db.transaction() as session:
        return {"rate_limit_hits": SqlRateLimiter().purge(session),
                "customer_token_uses": purge_expired_token_uses(session)}


async def outbox_worker(services: Services) -> None:
    """Runs the deliveries every few seconds; blocking SMTP, HTTP and SQL run off the event loop."""
    loop = asyncio.get_running_loop()
    last_status_check = last_consumed = 0.0
    consume_every = services.settings.insights.consume_every_seconds
    while True:
        check = loop.time() - last_status_check >= services.settings.ticket_status_poll_seconds
        if check:
            last_status_check = loop.time()
        consume = bool(consume_every) and loop.time() - last_consumed >= consume_every
        if consume:
            last_consumed = loop.time()
        await loop.run_in_executor(None, deliver_once, services, check, consume)
        await asyncio.sleep(services.settings.outbox_poll_seconds)
