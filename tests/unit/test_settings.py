from __future__ import annotations

import pytest

from frontdesk.runtime import rasa_environment
from frontdesk.settings import Settings, SettingsError


def test_defaults_are_safe_for_a_laptop():
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.redis_url is None
    assert (settings.rasa_port, settings.action_port, settings.web_port) == (5005, 5055, 8000)
    assert settings.reset.token_ttl_minutes == 15
    assert rasa_environment(settings)["FRONTDESK_LOCK_STORE_TYPE"] == "in_memory"


def test_environment_overrides():
    settings = Settings.from_env(
        {
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
        {"FRONTDESK_ENV": "production"},
        {"SMTP_PORT": "twenty-five"},
        {"RESET_TOKEN_TTL_MINUTES": "0"},
        {"SMTP_STARTTLS": "maybe"},
    ],
)
def test_bad_settings_name_the_variable(env):
    with pytest.raises(SettingsError, match=next(iter(env)) if "ENV" not in next(iter(env)) else "SECRET"):
        Settings.from_env(env)


def test_bad_redis_url_is_refused():
    with pytest.raises(SettingsError):
        rasa_environment(Settings.from_env({"FRONTDESK_REDIS_URL": "cache:6379"}))


def test_zendesk_field_and_group_ids_are_read_and_checked():
    env = {"TICKETING_BACKEND": "zendesk", "ZENDESK_URL": "https://acme.zendesk.com/", "ZENDESK_EMAIL": "bot@acme.test",
           "ZENDESK_API_TOKEN": "t", "ZENDESK_CUSTOM_FIELDS": "summary=360001, queue=360002",
           "ZENDESK_GROUP_IDS": "billing=20"}
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
    rasa_env = rasa_environment(Settings.from_env(env))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        assert rasa_env.get(name) == threads, name


def test_an_operators_own_thread_variable_is_kept():
    rasa_env = rasa_environment(Settings.from_env({}), {"OMP_NUM_THREADS": "4"})
    assert "OMP_NUM_THREADS" not in rasa_env and rasa_env["OPENBLAS_NUM_THREADS"] == "1"


def test_math_threads_must_be_a_number():
    with pytest.raises(SettingsError, match="FRONTDESK_MATH_THREADS"):
        Settings.from_env({"FRONTDESK_MATH_THREADS": "many"})


def test_rasa_reads_any_api_token_as_the_token():
    # secrets.token_urlsafe starts with "-" one time in 64: Rasa must not take it for an option.
    from rasa.__main__ import create_argument_parser

    from frontdesk.launcher import rasa_server_args

    args = create_argument_parser().parse_args(
        rasa_server_args(Settings.from_env({}), ["--model", "models/frontdesk.tar.gz"], "-Zx_9"))
    assert (args.auth_token, args.port, args.enable_api) == ("-Zx_9", 5005, True)
