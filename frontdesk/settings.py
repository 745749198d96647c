"""One settings object, read from the environment, with safe defaults.

Every process (Rasa server, action server, web app, CLI) reads the same variables, so the
launcher only has to export them once.

It fails closed: ``FRONTDESK_ENV`` is ``production`` unless it says ``development``, and an
unknown value is an error. Production refuses to start without its secrets (the message names
each one missing). Only development may use the built-in key, and only there can the demo
sign-in (``FRONTDESK_DEMO_SIGN_IN``) and the development mailbox be switched on.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Only with FRONTDESK_ENV=development: it is public (it is in this file), so anything it keys --
# one-time codes, conversation sessions, pseudonyms -- is only as secret as this repository.
_DEV_SECRET_KEY = "frontdesk-development-key-not-for-production"  # noqa: S105
ENVIRONMENTS = ("development", "production")
MIN_SECRET_CHARS = 32


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
    (frontdesk_rasa/speedups.py) and the SQLite engine settings (frontdesk/core/db.py). For
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
class AbuseLimits:
    """Limits on the public channels that a client cannot sidestep by rotating conversation ids:
    per client address (IP, or Slack user), per e-mail address, and for everyone together. A
    request over a limit gets a clear "try again later" and changes nothing."""

    messages_per_conversation_per_minute: int = 20
    # Offices share one address behind NAT: 60 a minute is about 20 people typing at once.
    messages_per_client_per_minute: int = 60
    messages_per_minute: int = 6000  # all channels of one Rasa process together
    reset_emails_per_client_per_hour: int = 10
    code_emails_per_client_per_hour: int = 10
    handoffs_per_client_per_hour: int = 5
    handoffs_per_account_per_hour: int = 5
    emails_per_hour: int = 500  # reset and code e-mails, every address together
    handoffs_per_hour: int = 300  # tickets from the chat, every customer together
    # Whatever the conversation or kind: the most any one address receives from us in a day.
    emails_per_address_per_day: int = 10


@dataclass(frozen=True)
class ClientAddressSettings:
    """Where a request's client address comes from. Behind a reverse proxy every request comes
    from the proxy, so its header is read instead -- only when the request really comes from a
    trusted proxy, else anyone could choose their own address."""

    header: str = ""  # e.g. X-Forwarded-For or X-Real-IP; empty: the peer address
    proxies: int = 1  # X-Forwarded-For: how many trusted proxies appended to it
    trusted_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


STATUS_SOURCES = ("incidents", "statuspage")


@dataclass(frozen=True)
class StatusSettings:
    """Where the service status customers are told about comes from (docs/status.md): the
    ``incidents`` table operators keep with ``frontdesk status incident …``, or a Statuspage feed."""

    source: str = "incidents"
    statuspage_url: str = ""  # the feed's summary.json, e.g. https://status.example.com/api/v2/summary.json
    # A customer waits for the answer, so the feed gets little time; what it said last is cached.
    statuspage_timeout_seconds: int = 2
    statuspage_cache_seconds: int = 60


def status_problems(status: StatusSettings, development: bool) -> list[str]:
    """Why these status settings cannot work, one line a variable; empty when they can."""
    if status.source not in STATUS_SOURCES:
        return [f"FRONTDESK_STATUS_SOURCE must be incidents or statuspage, got {status.source!r}"]
    if status.source != "statuspage":
        return []
    if not status.statuspage_url:
        return ["FRONTDESK_STATUS_SOURCE=statuspage needs FRONTDESK_STATUSPAGE_URL (the feed's summary.json)"]
    parts = urlsplit(status.statuspage_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return [f"FRONTDESK_STATUSPAGE_URL must be an https:// URL, got {status.statuspage_url!r}"]
    # Plain HTTP lets anyone on the path tell customers the service is fine (or down).
    if parts.scheme == "http" and not (development or _loopback(parts.hostname)):
        return ["FRONTDESK_STATUSPAGE_URL must use https:// (plain http only in development or on loopback)"]
    return []


@dataclass(frozen=True)
class PrivacySettings:
    """How long each kind of data is kept, and what else counts as personal data
    (docs/privacy.md). A period of 0 days keeps that kind forever (an explicit choice)."""

    # Raw messages in Rasa's tracker store: long enough for a customer to come back to a
    # conversation and for an agent to read it; after that, only redacted copies remain.
    tracker_events_days: int = 90
    tickets_days: int = 730
    # The audit trail is evidence: kept longest; its hash chain is checkpointed before pruning.
    audit_days: int = 2190
    telemetry_days: int = 400
    mail_outbox_days: int = 30
    verification_days: int = 30
    # How often `frontdesk serve` runs retention itself; 0: it does not (a cron job or a single
    # scheduled worker runs `frontdesk privacy retention run` instead).
    retention_every_hours: int = 24
    # The company's own identifiers that count as personal data (regular expressions, separated
    # by whitespace), e.g. licence keys or internal user ids: redacted like e-mail addresses.
    sensitive_identifiers: tuple[str, ...] = ()
    # Where the audit trail's chain head is written, outside the database, so whoever owns the
    # database cannot rewrite the trail without it showing (frontdesk audit verify).
    audit_checkpoint_file: Path = PROJECT_ROOT / "var" / "audit-checkpoints.jsonl"


def privacy_problems(privacy: PrivacySettings) -> list[str]:
    """Sensitive-identifier patterns that do not compile: a typo must not silently redact nothing."""
    problems = []
    for pattern in privacy.sensitive_identifiers:
        try:
            re.compile(pattern)
        except re.error as problem:
            problems.append(f"FRONTDESK_SENSITIVE_IDENTIFIERS: {pattern!r} is not a regular expression ({problem})")
    return problems


# -- Where Rasa's event broker publishes (FRONTDESK_EVENT_BROKER_URL) ------------------------------
#
# - ``sqlite:///path`` or ``postgresql://user@host:port/db``: Rasa's SQL event broker, a table
#   ``events`` in that database. Never the tracker store's database: Rasa's tracker store has a
#   table ``events`` of its own.
# - ``amqp://user@host:port/?queue=…&exchange=…``: Rasa's RabbitMQ (Pika) broker, publishing to a
#   durable queue (default ``frontdesk_events``) bound to its fanout exchange (``rasa-exchange``).
# - ``off``: no broker (analytics then has no telemetry).
# Passwords never go in the URL (it shows in process lists and logs): FRONTDESK_EVENT_BROKER_PASSWORD.

SQL, RABBITMQ, OFF = "sql", "rabbitmq", "off"
DEFAULT_QUEUE = "frontdesk_events"
DEFAULT_EXCHANGE = "rasa-exchange"  # Rasa's (rasa.core.brokers.pika.RABBITMQ_EXCHANGE)


class BrokerUrlError(SettingsError):
    pass


@dataclass(frozen=True)
class BrokerAddress:
    kind: str  # SQL, RABBITMQ or OFF
    dialect: str = ""  # SQL: sqlite or postgresql
    host: str | None = None
    port: int | None = None
    database: str = ""  # SQL: the SQLite file or the PostgreSQL database
    username: str | None = None
    queue: str = DEFAULT_QUEUE
    exchange: str = DEFAULT_EXCHANGE

    def sqlalchemy_url(self, password: str = "") -> str:
        """The broker database for SQLAlchemy (the consumer's side)."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.database}"
        from sqlalchemy.engine import URL

        return URL.create("postgresql", username=self.username, password=password or None, host=self.host,
                          port=self.port, database=self.database).render_as_string(hide_password=False)


def parse_broker_url(url: str) -> BrokerAddress:
    value = url.strip()
    if value.lower() in {"", OFF, "none"}:
        return BrokerAddress(OFF)
    parts = urlsplit(value)
    if parts.password:
        raise BrokerUrlError("FRONTDESK_EVENT_BROKER_URL must not hold a password: "
                             "set FRONTDESK_EVENT_BROKER_PASSWORD")
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    if parts.scheme == "sqlite":
        if not parts.path or parts.path == "/":
            raise BrokerUrlError("FRONTDESK_EVENT_BROKER_URL: sqlite:///path/to/file.db names a file")
        # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute.db
        return BrokerAddress(SQL, dialect="sqlite", database=parts.path[1:])
    if parts.scheme in {"postgresql", "postgresql+psycopg2"}:
        if not parts.hostname or len(parts.path) < 2:
            raise BrokerUrlError("FRONTDESK_EVENT_BROKER_URL: postgresql://user@host:5432/database")
        return BrokerAddress(SQL, dialect="postgresql", host=parts.hostname, port=parts.port or 5432,
                             database=parts.path.lstrip("/"), username=unquote(parts.username or "") or None)
    if parts.scheme in {"amqp", "amqps"}:
        if not parts.hostname:
            raise BrokerUrlError("FRONTDESK_EVENT_BROKER_URL: amqp://user@host:5672/")
        return BrokerAddress(RABBITMQ, host=parts.hostname, port=parts.port or 5672,
                             username=unquote(parts.username or "") or "guest",
                             queue=query.get("queue", DEFAULT_QUEUE),
                             exchange=query.get("exchange", DEFAULT_EXCHANGE))
    raise BrokerUrlError(f"FRONTDESK_EVENT_BROKER_URL must be sqlite:///…, postgresql://…, amqp://… or off, "
                         f"got {parts.scheme or value!r}")


def same_database(address: BrokerAddress, database_url: str) -> bool:
    """Whether the broker's table would land in the tracker store's database (both call it events)."""
    if address.kind != SQL:
        return False
    tracker = urlsplit(database_url)
    if address.dialect == "sqlite":
        return (tracker.scheme.startswith("sqlite")
                and Path(tracker.path[1:]).resolve() == Path(address.database).resolve())
    return (tracker.scheme.startswith("postgresql") and tracker.hostname == address.host
            and (tracker.port or 5432) == address.port and tracker.path.lstrip("/") == address.database)


@dataclass(frozen=True)
class InsightsSettings:
    """Telemetry and measurement (docs/measurement.md): where Rasa's event broker publishes, how
    often the consumer reads it, and the goals and monitoring files the reports compare against."""

    # Rasa's SQL event broker in a SQLite file beside the app database; amqp://user@host:5672/ for
    # RabbitMQ in production; "off" for none. Never the tracker store's database (both use a table
    # called events): Settings refuses that.
    event_broker_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'event-broker.db'}"
    event_broker_password: str = field(default="", repr=False)
    # How often `frontdesk serve`'s worker reads the broker; 0: it does not (`frontdesk insights
    # consume` runs as its own worker instead).
    consume_every_seconds: int = 5
    goals_file: Path = PROJECT_ROOT / "goals.yml"
    monitoring_file: Path = PROJECT_ROOT / "monitoring.yml"
    # Trained models, the registry (registry.json) and its kept copies (archive/).
    model_dir: Path = PROJECT_ROOT / "models"
    # What Prometheus sends as a bearer token to GET /metrics (web app, action server); unset: off.
    metrics_token: str = field(default="", repr=False)


def insights_problems(insights: InsightsSettings, database_url: str) -> list[str]:
    try:
        address = parse_broker_url(insights.event_broker_url)
    except BrokerUrlError as problem:
        return [str(problem)]
    if same_database(address, database_url):
        return ["FRONTDESK_EVENT_BROKER_URL must not be FRONTDESK_DATABASE_URL: Rasa's tracker store and its "
                "SQL event broker would share the table events"]
    return []


@dataclass(frozen=True)
class Settings:
    env: str = "production"
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
    # Rasa's HTTP API (agent replies, resuming) takes JWTs signed with this (RASA_JWT_SECRET), and
    # Rasa calls the action server with ACTION_SERVER_SECRET. Development: `frontdesk serve`
    # makes both up when unset; production requires them.
    rasa_jwt_secret: str = ""
    action_server_secret: str = ""
    # Development only: /widget?demo_customer=AC-… signs a customer token (a logged-in site).
    demo_sign_in: bool = False
    # Development only: with the default SMTP address, `frontdesk serve` keeps mail in var/mail/.
    dev_mailbox: bool = False
    abuse: AbuseLimits = field(default_factory=AbuseLimits)
    client_address: ClientAddressSettings = field(default_factory=ClientAddressSettings)
    # Agent API tokens expire after this many days unless issued with another lifetime.
    agent_token_days: int = 90
    # The token `frontdesk agent ...` commands send to the agent API (FRONTDESK_AGENT_TOKEN).
    agent_token: str = field(default="", repr=False)
    # How long an outbox row is leased to the worker that claimed it.
    outbox_lease_seconds: int = 300
    # How often open handoffs are checked for tickets solved in the ticketing system.
    ticket_status_poll_seconds: int = 30
    slack: SlackSettings = field(default_factory=SlackSettings)
    # Where browsers reach Rasa's socket.io channel (the widget page points there).
    rasa_public_url: str = "http://localhost:5005"
    # The rasa-webchat bundle `make widget` fetches from the npm registry (never a CDN at run time).
    widget_bundle: Path = PROJECT_ROOT / "var" / "widget" / "webchat-1.0.1.js"
    # The help-centre articles the knowledge base is built from (Markdown with front matter).
    kb_dir: Path = PROJECT_ROOT / "kb"
    # Whether the bot answers from the knowledge base (off: the fallback clarifies as before; the
    # closed beta measures deflection both ways). Agent assist cites articles either way.
    knowledge_answers: bool = True
    # The SaaS app's billing portal: invoice PDFs, payment method, plan (the bot links, never takes cards).
    billing_portal_url: str = "https://app.frontdesk.example/billing"
    # Threads each Rasa and action-server process gives numpy/BLAS and TensorFlow (0: the
    # libraries' own default, a thread per core each). docs/benchmarks.md, "Speed benchmark", has why 1.
    math_threads: int = 1
    status: StatusSettings = field(default_factory=StatusSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    insights: InsightsSettings = field(default_factory=InsightsSettings)

    def __post_init__(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise SettingsError(f"FRONTDESK_ENV must be development or production, got {self.env!r}")
        problems = (status_problems(self.status, self.is_development) + privacy_problems(self.privacy)
                    + insights_problems(self.insights, self.database_url))
        if problems:
            raise SettingsError("; ".join(problems))
        if self.is_production:
            problems = production_problems(self)
            if problems:
                raise SettingsError("production refuses to start: " + "; ".join(problems))
        elif not _loopback(self.bind_host):
            # The built-in key is public and the demo sign-in signs in as anyone: never on a network.
            raise SettingsError(f"FRONTDESK_ENV=development listens on loopback only, not FRONTDESK_BIND_HOST="
                                f"{self.bind_host!r}")

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.bind_host}:{self.rasa_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://{self.bind_host}:{self.action_port}/webhook"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        # Unset means production: the conveniences below must be asked for. The rules for each
        # environment are checked where every Settings is made (__post_init__).
        deployment = env.get("FRONTDESK_ENV") or "production"
        development = deployment == "development"
        secret_key = env.get("FRONTDESK_SECRET_KEY") or (_DEV_SECRET_KEY if development else "")
        demo_sign_in = _bool(env, "FRONTDESK_DEMO_SIGN_IN", False)
        dev_mailbox = _bool(env, "FRONTDESK_DEV_MAILBOX", development)
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
        if customer_token.secret and len(customer_token.secret) < MIN_SECRET_CHARS:
            raise SettingsError(f"CUSTOMER_TOKEN_SECRET must be at least {MIN_SECRET_CHARS} characters")
        if customer_token.configured and not (customer_token.issuer and customer_token.audience):
            # A token minted for another site or service of the same issuer must not work here.
            raise SettingsError("customer tokens need CUSTOMER_TOKEN_ISSUER and CUSTOMER_TOKEN_AUDIENCE "
                                "(the claims the support site signs as iss and aud)")
        defaults = AbuseLimits()
        abuse = AbuseLimits(**{
            name: _int(env, f"FRONTDESK_LIMIT_{name.upper()}", getattr(defaults, name), 1)
            for name in AbuseLimits.__dataclass_fields__
        })
        header = env.get("FRONTDESK_CLIENT_IP_HEADER", "").strip()
        if header and not header.replace("-", "").isalnum():
            raise SettingsError(f"FRONTDESK_CLIENT_IP_HEADER must be a header name, got {header!r}")
        networks = tuple(n.strip() for n in env.get("FRONTDESK_TRUSTED_PROXIES", "").split(",") if n.strip())
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise SettingsError(f"FRONTDESK_TRUSTED_PROXIES: {network!r} is not an address or network") from exc
        client_address = ClientAddressSettings(
            header=header, proxies=_int(env, "FRONTDESK_CLIENT_IP_PROXIES", 1, 1),
            trusted_networks=networks or ClientAddressSettings.trusted_networks,
        )
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
            rasa_jwt_secret=env.get("RASA_JWT_SECRET", ""),
            action_server_secret=env.get("ACTION_SERVER_SECRET", ""),
            demo_sign_in=demo_sign_in,
            dev_mailbox=dev_mailbox,
            abuse=abuse,
            client_address=client_address,
            agent_token_days=_int(env, "FRONTDESK_AGENT_TOKEN_DAYS", cls.agent_token_days, 1),
            agent_token=env.get("FRONTDESK_AGENT_TOKEN", ""),
            outbox_lease_seconds=_int(env, "OUTBOX_LEASE_SECONDS", cls.outbox_lease_seconds, 1),
            billing_portal_url=(env.get("BILLING_PORTAL_URL") or cls.billing_portal_url).rstrip("/"),
            rasa_public_url=(env.get("FRONTDESK_RASA_PUBLIC_URL")
                             or f"http://localhost:{_int(env, 'RASA_PORT', cls.rasa_port, 1)}").rstrip("/"),
            widget_bundle=Path(env.get("FRONTDESK_WIDGET_BUNDLE") or cls.widget_bundle),
            kb_dir=Path(env.get("FRONTDESK_KB_DIR") or cls.kb_dir),
            knowledge_answers=_bool(env, "FRONTDESK_KNOWLEDGE_ANSWERS", cls.knowledge_answers),
            slack=SlackSettings(
                bot_token=env.get("SLACK_BOT_TOKEN", ""),
                signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
                api_url=env.get("SLACK_API_URL") or SlackSettings.api_url,
            ),
            ticket_status_poll_seconds=_int(env, "TICKET_STATUS_POLL_SECONDS", cls.ticket_status_poll_seconds, 1),
            status=StatusSettings(
                source=(env.get("FRONTDESK_STATUS_SOURCE") or StatusSettings.source).strip(),
                statuspage_url=env.get("FRONTDESK_STATUSPAGE_URL", "").strip(),
                statuspage_timeout_seconds=_int(env, "FRONTDESK_STATUSPAGE_TIMEOUT_SECONDS",
                                                StatusSettings.statuspage_timeout_seconds, 1),
                statuspage_cache_seconds=_int(env, "FRONTDESK_STATUSPAGE_CACHE_SECONDS",
                                              StatusSettings.statuspage_cache_seconds, 0),
            ),
            privacy=PrivacySettings(
                tracker_events_days=_int(env, "FRONTDESK_RETAIN_TRACKER_DAYS", PrivacySettings.tracker_events_days),
                tickets_days=_int(env, "FRONTDESK_RETAIN_TICKETS_DAYS", PrivacySettings.tickets_days),
                audit_days=_int(env, "FRONTDESK_RETAIN_AUDIT_DAYS", PrivacySettings.audit_days),
                telemetry_days=_int(env, "FRONTDESK_RETAIN_TELEMETRY_DAYS", PrivacySettings.telemetry_days),
                mail_outbox_days=_int(env, "FRONTDESK_RETAIN_OUTBOX_DAYS", PrivacySettings.mail_outbox_days),
                verification_days=_int(env, "FRONTDESK_RETAIN_VERIFICATION_DAYS",
                                       PrivacySettings.verification_days),
                retention_every_hours=_int(env, "FRONTDESK_RETENTION_EVERY_HOURS",
                                           PrivacySettings.retention_every_hours),
                sensitive_identifiers=tuple(env.get("FRONTDESK_SENSITIVE_IDENTIFIERS", "").split()),
                audit_checkpoint_file=Path(env.get("FRONTDESK_AUDIT_CHECKPOINT_FILE")
                                           or PrivacySettings.audit_checkpoint_file),
            ),
            insights=InsightsSettings(
                event_broker_url=env.get("FRONTDESK_EVENT_BROKER_URL") or InsightsSettings.event_broker_url,
                event_broker_password=env.get("FRONTDESK_EVENT_BROKER_PASSWORD", ""),
                consume_every_seconds=_int(env, "FRONTDESK_CONSUME_EVERY_SECONDS",
                                           InsightsSettings.consume_every_seconds),
                goals_file=Path(env.get("FRONTDESK_GOALS_FILE") or InsightsSettings.goals_file),
                monitoring_file=Path(env.get("FRONTDESK_MONITORING_FILE") or InsightsSettings.monitoring_file),
                model_dir=Path(env.get("FRONTDESK_MODEL_DIR") or InsightsSettings.model_dir),
                metrics_token=env.get("FRONTDESK_METRICS_TOKEN", ""),
            ),
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_problems(settings: Settings) -> list[str]:
    """Why production may not start with these settings, one line a variable; empty when it may."""
    problems = []
    for name, value in (("FRONTDESK_SECRET_KEY", settings.secret_key),
                        ("ACTION_SERVER_SECRET", settings.action_server_secret),
                        ("RASA_JWT_SECRET", settings.rasa_jwt_secret)):
        if not value:
            problems.append(f"{name} is not set")
        elif value == _DEV_SECRET_KEY:
            problems.append(f"{name} is the public development key")
        elif len(value) < MIN_SECRET_CHARS:
            problems.append(f"{name} must be at least {MIN_SECRET_CHARS} characters")
    for name, wanted in (("FRONTDESK_DEMO_SIGN_IN", settings.demo_sign_in),
                         ("FRONTDESK_DEV_MAILBOX", settings.dev_mailbox)):
        if wanted:
            problems.append(f"{name} is a development convenience: it needs FRONTDESK_ENV=development")
    # One secret doing two jobs lets whoever holds it for one do the other (the support site
    # signing Rasa API tokens, say).
    shared = [settings.secret_key, settings.action_server_secret, settings.rasa_jwt_secret,
              settings.customer_token.secret]
    present = [value for value in shared if value]
    if len(set(present)) < len(present):
        problems.append("FRONTDESK_SECRET_KEY, ACTION_SERVER_SECRET, RASA_JWT_SECRET and CUSTOMER_TOKEN_SECRET "
                        "must all be different")
    return problems
