"""One settings object, read from the environment, with safe defaults for a laptop.

Every process (Rasa server, action server, web app, CLI) reads the same variables, so the
launcher only has to export them once. Nothing here is a secret by default: production sets
``FRONTDESK_ENV=production`` and must then provide ``FRONTDESK_SECRET_KEY`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Only for development and tests: it keys the hashes of e-mail addresses in rate-limit rows,
# so leaking it weakens pseudonymisation, not authentication.
_DEV_SECRET_KEY = "frontdesk-development-key-not-for-production"  # noqa: S105


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def speedups_enabled(env: Mapping[str, str] | None = None) -> bool:
    """``FRONTDESK_SPEEDUPS=0`` turns off the profiled speed-ups: those in Rasa's message path
    (frontdesk_rasa/speedups.py) and the SQLite engine settings (frontdesk/db.py). For
    ``make bench``'s before/after numbers, and to rule them out when chasing a problem."""
    return _bool(os.environ if env is None else env, "FRONTDESK_SPEEDUPS", True)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "Frontdesk Support <support@frontdesk.example>"
    timeout_seconds: int = 10


@dataclass(frozen=True)
class ResetPolicy:
    token_ttl_minutes: int = 15
    max_requests_per_email_per_hour: int = 3
    max_requests_per_conversation: int = 3
    # An e-mail request still undelivered after this long is dropped: the customer has moved on
    # and a late link would only confuse them.
    email_max_age_minutes: int = 60


def _id_map(env: Mapping[str, str], name: str) -> dict[str, int]:
    """``"summary=360001,queue=360002"`` -> {"summary": 360001, "queue": 360002}."""
    result: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in env.get(name, "").split(","))):
        key, _, value = item.partition("=")
        if not key.strip() or not value.strip().isdigit():
            raise SettingsError(f"{name} must look like name=123,other=456; got {item!r}")
        result[key.strip()] = int(value)
    return result


@dataclass(frozen=True)
class ZendeskSettings:
    base_url: str = ""
    email: str = ""
    api_token: str = ""
    # Our field names (summary, suggested_reply, conversation_id, queue) -> Zendesk custom field ids.
    custom_fields: dict[str, int] = field(default_factory=dict)
    # Our queue names -> Zendesk group ids, so a ticket lands with the right team.
    group_ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SlackSettings:
    """Slack app credentials (https://api.slack.com/apps): both unset turns the channel off."""

    bot_token: str = ""  # xoxb-…
    signing_secret: str = ""
    api_url: str = "https://slack.com/api/"  # a stand-in's URL in tests; Slack's own otherwise

    @property
    def configured(self) -> bool:
        return bool(self.bot_token and self.signing_secret)


@dataclass(frozen=True)
class CustomerTokenSettings:
    """How the support site vouches for a logged-in customer: a signed JWT in the chat metadata.

    Either a shared secret (HS256) or the site's public key (RS256/ES256, PEM text or a file path).
    Neither set means the widget runs anonymous only and every token is refused.
    """

    secret: str = ""
    public_key: str = ""
    issuer: str = ""
    audience: str = ""
    leeway_seconds: int = 30
    max_lifetime_minutes: int = 24 * 60  # a token valid for longer than this is refused

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'frontdesk.db'}"
    redis_url: str | None = None
    secret_key: str = _DEV_SECRET_KEY
    public_url: str = "http://localhost:8000"
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8000
    bind_host: str = "127.0.0.1"
    outbox_poll_seconds: int = 2
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    reset: ResetPolicy = field(default_factory=ResetPolicy)
    handoff_config: Path = PROJECT_ROOT / "handoff.yml"
    # "embedded" keeps tickets in the app database; "zendesk" sends them to Zendesk.
    ticketing_backend: str = "embedded"
    zendesk: ZendeskSettings = field(default_factory=ZendeskSettings)
    customer_token: CustomerTokenSettings = field(default_factory=CustomerTokenSettings)
    # Rasa's HTTP API (agent replies, resuming): `frontdesk serve` makes one up when unset.
    rasa_api_token: str = ""
    # How often open handoffs are checked for tickets solved in the ticketing system.
    ticket_status_poll_seconds: int = 30
    slack: SlackSettings = field(default_factory=SlackSettings)
    # Where browsers reach Rasa's socket.io channel (the widget page points there).
    rasa_public_url: str = "http://localhost:5005"
    # The rasa-webchat bundle `make widget` fetches from the npm registry (never a CDN at run time).
    widget_bundle: Path = PROJECT_ROOT / "var" / "widget" / "webchat-1.0.1.js"
    # The SaaS app's billing portal: invoice PDFs, payment method, plan (the bot links, never takes cards).
    billing_portal_url: str = "https://app.frontdesk.example/billing"
    # Threads each Rasa and action-server process gives numpy/BLAS and TensorFlow (0: the
    # libraries' own default, a thread per core each). README, "Speed benchmark", has why 1.
    math_threads: int = 1

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.bind_host}:{self.rasa_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://{self.bind_host}:{self.action_port}/webhook"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        deployment = env.get("FRONTDESK_ENV", "development")
        secret_key = env.get("FRONTDESK_SECRET_KEY") or ""
        if not secret_key:
            if deployment == "production":
                raise SettingsError("FRONTDESK_SECRET_KEY must be set when FRONTDESK_ENV=production")
            secret_key = _DEV_SECRET_KEY
        smtp = SmtpSettings(
            host=env.get("SMTP_HOST", SmtpSettings.host),
            port=_int(env, "SMTP_PORT", SmtpSettings.port, minimum=1),
            username=env.get("SMTP_USERNAME") or None,
            password=env.get("SMTP_PASSWORD") or None,
            starttls=_bool(env, "SMTP_STARTTLS", SmtpSettings.starttls),
            sender=env.get("MAIL_FROM", SmtpSettings.sender),
            timeout_seconds=_int(env, "SMTP_TIMEOUT_SECONDS", SmtpSettings.timeout_seconds, 1),
        )
        reset = ResetPolicy(
            token_ttl_minutes=_int(env, "RESET_TOKEN_TTL_MINUTES", ResetPolicy.token_ttl_minutes, 1),
            max_requests_per_email_per_hour=_int(
                env, "RESET_MAX_PER_EMAIL_PER_HOUR", ResetPolicy.max_requests_per_email_per_hour, 1
            ),
            max_requests_per_conversation=_int(
                env, "RESET_MAX_PER_CONVERSATION", ResetPolicy.max_requests_per_conversation, 1
            ),
            email_max_age_minutes=_int(
                env, "RESET_EMAIL_MAX_AGE_MINUTES", ResetPolicy.email_max_age_minutes, 1
            ),
        )
        web_port = _int(env, "FRONTDESK_WEB_PORT", cls.web_port, 1)
        backend = env.get("TICKETING_BACKEND", "embedded")
        zendesk = ZendeskSettings(
            base_url=env.get("ZENDESK_URL", "").rstrip("/"),
            email=env.get("ZENDESK_EMAIL", ""),
            api_token=env.get("ZENDESK_API_TOKEN", ""),
            custom_fields=_id_map(env, "ZENDESK_CUSTOM_FIELDS"),
            group_ids=_id_map(env, "ZENDESK_GROUP_IDS"),
        )
        if backend not in {"embedded", "zendesk"}:
            raise SettingsError(f"TICKETING_BACKEND must be embedded or zendesk, got {backend!r}")
        if backend == "zendesk" and not (zendesk.base_url and zendesk.email and zendesk.api_token):
            raise SettingsError("TICKETING_BACKEND=zendesk needs ZENDESK_URL, ZENDESK_EMAIL and ZENDESK_API_TOKEN")
        public_key = env.get("CUSTOMER_TOKEN_PUBLIC_KEY", "")
        if public_key and not public_key.lstrip().startswith("-----BEGIN"):
            try:
                public_key = Path(public_key).read_text()
            except OSError as exc:
                raise SettingsError(f"CUSTOMER_TOKEN_PUBLIC_KEY: cannot read {public_key!r}: {exc}") from exc
        customer_token = CustomerTokenSettings(
            secret=env.get("CUSTOMER_TOKEN_SECRET", ""),
            public_key=public_key,
            issuer=env.get("CUSTOMER_TOKEN_ISSUER", ""),
            audience=env.get("CUSTOMER_TOKEN_AUDIENCE", ""),
            leeway_seconds=_int(env, "CUSTOMER_TOKEN_LEEWAY_SECONDS", CustomerTokenSettings.leeway_seconds),
            max_lifetime_minutes=_int(
                env, "CUSTOMER_TOKEN_MAX_LIFETIME_MINUTES", CustomerTokenSettings.max_lifetime_minutes, 1
            ),
        )
        if customer_token.secret and len(customer_token.secret) < 32:
            raise SettingsError("CUSTOMER_TOKEN_SECRET must be at least 32 characters")
        return cls(
            env=deployment,
            database_url=env.get("FRONTDESK_DATABASE_URL") or cls.database_url,
            redis_url=env.get("FRONTDESK_REDIS_URL") or None,
            secret_key=secret_key,
            public_url=(env.get("FRONTDESK_PUBLIC_URL") or f"http://localhost:{web_port}").rstrip("/"),
            rasa_port=_int(env, "RASA_PORT", cls.rasa_port, 1),
            action_port=_int(env, "ACTION_SERVER_PORT", cls.action_port, 1),
            web_port=web_port,
            bind_host=env.get("FRONTDESK_BIND_HOST", cls.bind_host),
            outbox_poll_seconds=_int(env, "OUTBOX_POLL_SECONDS", cls.outbox_poll_seconds, 1),
            # Part of the speed-ups: FRONTDESK_SPEEDUPS=0 gives the libraries' defaults back.
            math_threads=_int(env, "FRONTDESK_MATH_THREADS", cls.math_threads if speedups_enabled(env) else 0),
            smtp=smtp,
            reset=reset,
            handoff_config=Path(env.get("FRONTDESK_HANDOFF_CONFIG") or cls.handoff_config),
            ticketing_backend=backend,
            zendesk=zendesk,
            customer_token=customer_token,
            rasa_api_token=env.get("RASA_API_TOKEN", ""),
            billing_portal_url=(env.get("BILLING_PORTAL_URL") or cls.billing_portal_url).rstrip("/"),
            rasa_public_url=(env.get("FRONTDESK_RASA_PUBLIC_URL")
                             or f"http://localhost:{_int(env, 'RASA_PORT', cls.rasa_port, 1)}").rstrip("/"),
            widget_bundle=Path(env.get("FRONTDESK_WIDGET_BUNDLE") or cls.widget_bundle),
            slack=SlackSettings(
                bot_token=env.get("SLACK_BOT_TOKEN", ""),
                signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
                api_url=env.get("SLACK_API_URL") or SlackSettings.api_url,
            ),
            ticket_status_poll_seconds=_int(env, "TICKET_STATUS_POLL_SECONDS", cls.ticket_status_poll_seconds, 1),
        )
