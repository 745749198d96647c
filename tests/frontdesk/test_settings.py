from __future__ import annotations

import pytest

from frontdesk.entrypoints.runtime import rasa_environment
from frontdesk.settings import _DEV_SECRET_KEY, Settings, SettingsError, parse_broker_url

DEV = {"FRONTDESK_ENV": "development"}
SECRETS = {"FRONTDESK_SECRET_KEY": "k" * 40, "ACTION_SERVER_SECRET": "a" * 40, "RASA_JWT_SECRET": "j" * 40}


def test_unset_means_production_which_refuses_to_start_without_its_secrets():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({})
    for name in ("FRONTDESK_SECRET_KEY", "ACTION_SERVER_SECRET", "RASA_JWT_SECRET"):
        assert f"{name} is not set" in str(refused.value)
    production = Settings.from_env(SECRETS)
    assert production.is_production and not production.demo_sign_in and not production.dev_mailbox


@pytest.mark.parametrize(("env", "problem"), [
    ({"FRONTDESK_ENV": "staging"}, "FRONTDESK_ENV must be development or production"),
    ({"FRONTDESK_ENV": "Production"}, "FRONTDESK_ENV must be development or production"),
    ({**SECRETS, "FRONTDESK_SECRET_KEY": _DEV_SECRET_KEY}, "FRONTDESK_SECRET_KEY is the public development key"),
    ({**SECRETS, "RASA_JWT_SECRET": "short"}, "RASA_JWT_SECRET must be at least 32 characters"),
    ({**SECRETS, "FRONTDESK_DEMO_SIGN_IN": "1"}, "FRONTDESK_DEMO_SIGN_IN is a development convenience"),
    ({**SECRETS, "FRONTDESK_DEV_MAILBOX": "1"}, "FRONTDESK_DEV_MAILBOX is a development convenience"),
])
def test_fail_closed_outside_development(env, problem):
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env(env)
    with pytest.raises(SettingsError):  # built directly, the same rules hold
        Settings(env="production", secret_key=_DEV_SECRET_KEY)


def test_development_is_asked_for_and_gets_its_conveniences():
    settings = Settings.from_env(DEV)
    assert settings.secret_key == _DEV_SECRET_KEY and settings.dev_mailbox and not settings.demo_sign_in
    assert Settings.from_env({**DEV, "FRONTDESK_DEMO_SIGN_IN": "1"}).demo_sign_in


def test_development_defaults_are_safe_for_a_laptop():
    settings = Settings.from_env(DEV)
    assert settings.bind_host == "127.0.0.1"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.redis_url is None
    assert (settings.rasa_port, settings.action_port, settings.web_port) == (5005, 5055, 8000)
    assert settings.reset.token_ttl_minutes == 15
    assert rasa_environment(settings)["FRONTDESK_LOCK_STORE_TYPE"] == "in_memory"
    # Rasa's telemetry and crash reports stay off unless the operator turns them on.
    assert rasa_environment(settings)["RASA_TELEMETRY_ENABLED"] == "false"
    assert rasa_environment(settings, {"RASA_TELEMETRY_ENABLED": "true"})["RASA_TELEMETRY_ENABLED"] == "true"


def test_environment_overrides():
    settings = Settings.from_env(
        {
            **DEV,
            "FRONTDESK_DATABASE_URL": "postgresql://fd@db:5432/frontdesk",
            "FRONTDESK_REDIS_URL": "redis://:s3cret@cache:6380/2",
            "SMTP_HOST": "smtp.example.com",
            "SMTP_PORT": "587",
            "SMTP_STARTTLS": "yes",
            "RESET_MAX_PER_EMAIL_PER_HOUR": "5",
            "ACTION_SERVER_PORT": "6055",
        }
    )
    assert settings.smtp.starttls and settings.smtp.port == 587
    assert settings.reset.max_requests_per_email_per_hour == 5
    env = rasa_environment(settings)
    assert env["FRONTDESK_DATABASE_URL"] == "postgresql://fd@db:5432/frontdesk"
    assert env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:6055/webhook"
    assert (env["FRONTDESK_LOCK_STORE_TYPE"], env["FRONTDESK_LOCK_STORE_HOST"]) == ("redis", "cache")
    assert (env["FRONTDESK_LOCK_STORE_PORT"], env["FRONTDESK_LOCK_STORE_DB"]) == ("6380", "2")
    assert env["FRONTDESK_LOCK_STORE_PASSWORD"] == "s3cret"


@pytest.mark.parametrize(
    "env",
    [
        {"SMTP_PORT": "twenty-five"},
        {"RESET_TOKEN_TTL_MINUTES": "0"},
        {"SMTP_STARTTLS": "maybe"},
        {"FRONTDESK_LIMIT_MESSAGES_PER_CLIENT_PER_MINUTE": "0"},
        {"FRONTDESK_TRUSTED_PROXIES": "10.0.0.0/33"},
        {"FRONTDESK_CLIENT_IP_HEADER": "X-Forwarded-For: evil"},
    ],
)
def test_bad_settings_name_the_variable(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env({**DEV, **env})


def test_abuse_limits_and_the_client_address_header_are_read():
    settings = Settings.from_env({**DEV, "FRONTDESK_LIMIT_HANDOFFS_PER_CLIENT_PER_HOUR": "2",
                                  "FRONTDESK_CLIENT_IP_HEADER": "X-Real-IP", "FRONTDESK_TRUSTED_PROXIES": "10.0.0.0/8"})
    assert settings.abuse.handoffs_per_client_per_hour == 2 and settings.abuse.emails_per_address_per_day == 10
    assert (settings.client_address.header, settings.client_address.trusted_networks) == ("X-Real-IP", ("10.0.0.0/8",))


def test_bad_redis_url_is_refused():
    with pytest.raises(SettingsError):
        rasa_environment(Settings.from_env({**DEV, "FRONTDESK_REDIS_URL": "cache:6379"}))


def test_zendesk_field_and_group_ids_are_read_and_checked():
    env = {"TICKETING_BACKEND": "zendesk", "ZENDESK_URL": "https://acme.zendesk.com/", "ZENDESK_EMAIL": "bot@acme.test",
           "ZENDESK_API_TOKEN": "t", "ZENDESK_CUSTOM_FIELDS": "summary=360001, queue=360002",
           "ZENDESK_GROUP_IDS": "billing=20"}
    env = {**DEV, **env}
    zendesk = Settings.from_env(env).zendesk
    assert (zendesk.base_url, zendesk.custom_fields, zendesk.group_ids) == (
        "https://acme.zendesk.com", {"summary": 360001, "queue": 360002}, {"billing": 20})
    with pytest.raises(SettingsError, match="ZENDESK_GROUP_IDS"):
        Settings.from_env({**env, "ZENDESK_GROUP_IDS": "billing=twenty"})


@pytest.mark.parametrize("env, threads", [
    ({}, "1"),
    ({"FRONTDESK_MATH_THREADS": "2"}, "2"),
    ({"FRONTDESK_MATH_THREADS": "0"}, None),  # the libraries' own defaults
    ({"FRONTDESK_SPEEDUPS": "0"}, None),  # the benchmark's "before"
    ({"FRONTDESK_SPEEDUPS": "0", "FRONTDESK_MATH_THREADS": "1"}, "1"),
])
def test_math_threads_per_process(env, threads):
    rasa_env = rasa_environment(Settings.from_env({**DEV, **env}))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        assert rasa_env.get(name) == threads, name


def test_an_operators_own_thread_variable_is_kept():
    rasa_env = rasa_environment(Settings.from_env(DEV), {"OMP_NUM_THREADS": "4"})
    assert "OMP_NUM_THREADS" not in rasa_env and rasa_env["OPENBLAS_NUM_THREADS"] == "1"


def test_math_threads_must_be_a_number():
    with pytest.raises(SettingsError, match="FRONTDESK_MATH_THREADS"):
        Settings.from_env({**DEV, "FRONTDESK_MATH_THREADS": "many"})


def test_rasa_gets_its_api_secret_from_the_environment_never_the_command_line():
    # secrets.token_urlsafe starts with "-" one time in 64: Rasa must not take it for an option.
    from rasa.__main__ import create_argument_parser

    from frontdesk.entrypoints.launcher import rasa_server_args
    from frontdesk_rasa.rasa_server import rasa_argv

    command_line = rasa_server_args(Settings.from_env(DEV), ["--model", "models/frontdesk.tar.gz"])
    assert not any("secret" in arg or "token" in arg for arg in command_line)
    argv = rasa_argv(command_line, "-Zx_9")
    args = create_argument_parser().parse_args(argv[1:])
    assert (args.jwt_secret, args.jwt_method, args.auth_token, args.port, args.enable_api) == (
        "-Zx_9", "HS256", None, 5005, True)
    with pytest.raises(SystemExit, match="RASA_JWT_SECRET"):
        rasa_argv(command_line, "")  # an API without a secret would be open to anyone


def test_rasa_sends_the_action_server_secret_as_a_header(monkeypatch):
    """endpoints.yml: Rasa substitutes ${VAR} only in plain (unquoted) YAML values; a quoted one
    would send the placeholder itself and every action call would be refused."""
    from rasa.core.utils import read_endpoints_from_path

    from frontdesk.settings import PROJECT_ROOT

    for name, value in rasa_environment(Settings.from_env({**DEV, "ACTION_SERVER_SECRET": "s" * 40})).items():
        monkeypatch.setenv(name, value)
    action = read_endpoints_from_path(PROJECT_ROOT / "endpoints.yml").action
    assert action.headers == {"Authorization": "Bearer " + "s" * 40}
    assert not action.token and "token" not in action.url  # never a secret in the URL


def test_development_never_listens_on_a_network_and_production_secrets_differ():
    with pytest.raises(SettingsError, match="loopback only"):
        Settings.from_env({**DEV, "FRONTDESK_BIND_HOST": "0.0.0.0"})
    assert Settings.from_env({**DEV, "FRONTDESK_BIND_HOST": "::1"}).bind_host == "::1"
    assert Settings.from_env({**SECRETS, "FRONTDESK_BIND_HOST": "10.0.0.5"}).bind_host == "10.0.0.5"
    with pytest.raises(SettingsError, match="must all be different"):
        Settings.from_env({**SECRETS, "RASA_JWT_SECRET": SECRETS["ACTION_SERVER_SECRET"]})
    with pytest.raises(SettingsError, match="must all be different"):
        Settings.from_env({**SECRETS, "CUSTOMER_TOKEN_SECRET": SECRETS["RASA_JWT_SECRET"],
                           "CUSTOMER_TOKEN_ISSUER": "site", "CUSTOMER_TOKEN_AUDIENCE": "chat"})


def test_retention_periods_and_sensitive_identifiers_come_from_the_environment():
    settings = Settings.from_env({"FRONTDESK_ENV": "development", "FRONTDESK_RETAIN_TRACKER_DAYS": "30",
                                  "FRONTDESK_RETAIN_TICKETS_DAYS": "0",
                                  "FRONTDESK_SENSITIVE_IDENTIFIERS": r"LIC-\d{4}  EMP\d{6}"})
    assert (settings.privacy.tracker_events_days, settings.privacy.tickets_days) == (30, 0)
    assert settings.privacy.sensitive_identifiers == (r"LIC-\d{4}", r"EMP\d{6}")
    assert Settings.from_env({"FRONTDESK_ENV": "development"}).privacy.mail_outbox_days == 30
    assert Settings.from_env({"FRONTDESK_ENV": "development"}).privacy.retention_every_hours == 24
    assert Settings.from_env({"FRONTDESK_ENV": "development",
                              "FRONTDESK_RETENTION_EVERY_HOURS": "0"}).privacy.retention_every_hours == 0
    with pytest.raises(SettingsError, match="FRONTDESK_SENSITIVE_IDENTIFIERS: 'LIC-\\(' is not a regular expression"):
        Settings.from_env({"FRONTDESK_ENV": "development", "FRONTDESK_SENSITIVE_IDENTIFIERS": "LIC-("})
    with pytest.raises(SettingsError, match="FRONTDESK_RETAIN_AUDIT_DAYS must be >= 0"):
        Settings.from_env({"FRONTDESK_ENV": "development", "FRONTDESK_RETAIN_AUDIT_DAYS": "-1"})


def test_the_event_broker_is_read_from_one_url_and_its_password_kept_apart():
    settings = Settings.from_env({"FRONTDESK_ENV": "development",
                                  "FRONTDESK_EVENT_BROKER_URL": "amqp://frontdesk@mq.internal:5673/?queue=events",
                                  "FRONTDESK_EVENT_BROKER_PASSWORD": "s3cret"})
    address = parse_broker_url(settings.insights.event_broker_url)
    assert (address.kind, address.host, address.port, address.username, address.queue) == (
        "rabbitmq", "mq.internal", 5673, "frontdesk", "events")
    assert "s3cret" not in repr(settings)
    assert rasa_environment(settings)["FRONTDESK_EVENT_BROKER_PASSWORD"] == "s3cret"
    assert parse_broker_url("off").kind == "off"
    default = parse_broker_url(Settings.from_env({"FRONTDESK_ENV": "development"}).insights.event_broker_url)
    assert default.kind == "sql" and default.database.endswith("var/event-broker.db")


@pytest.mark.parametrize(("url", "problem"), [
    ("amqp://guest:guest@127.0.0.1:5672/", "must not hold a password"),
    ("kafka://127.0.0.1:9092", "must be sqlite"),
    ("sqlite:////tmp/frontdesk-app.db", "must not be FRONTDESK_DATABASE_URL"),
])
def test_a_broker_url_that_leaks_a_password_or_shares_the_trackers_table_is_refused(url, problem):
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env({"FRONTDESK_ENV": "development", "FRONTDESK_EVENT_BROKER_URL": url,
                           "FRONTDESK_DATABASE_URL": "sqlite:////tmp/frontdesk-app.db"})
