"""The status settings: safe defaults, and a Statuspage source that cannot work refuses to start."""

from __future__ import annotations

import dataclasses

import pytest

from frontdesk.bootstrap import status_source
from frontdesk.core.db import Database
from frontdesk.settings import Settings, SettingsError, StatusSettings
from frontdesk.status.sql import IncidentTableSource
from frontdesk.status.statuspage import StatuspageSource

DEV = {"FRONTDESK_ENV": "development"}
SECRETS = {"FRONTDESK_SECRET_KEY": "k" * 40, "ACTION_SERVER_SECRET": "a" * 40, "RASA_JWT_SECRET": "j" * 40}
FEED = "https://status.example.com/api/v2/summary.json"


def test_defaults():
    status = Settings.from_env(DEV).status
    assert status == StatusSettings("incidents", "", 2, 60)


def test_a_statuspage_source_from_the_environment():
    status = Settings.from_env({**SECRETS, "FRONTDESK_STATUS_SOURCE": "statuspage", "FRONTDESK_STATUSPAGE_URL": FEED,
                                "FRONTDESK_STATUSPAGE_TIMEOUT_SECONDS": "5",
                                "FRONTDESK_STATUSPAGE_CACHE_SECONDS": "0"}).status
    assert status == StatusSettings("statuspage", FEED, 5, 0)


@pytest.mark.parametrize(("env", "problem"), [
    ({"FRONTDESK_STATUS_SOURCE": "pingdom"}, "FRONTDESK_STATUS_SOURCE must be incidents or statuspage"),
    ({"FRONTDESK_STATUS_SOURCE": "statuspage"}, "FRONTDESK_STATUS_SOURCE=statuspage needs FRONTDESK_STATUSPAGE_URL"),
    ({"FRONTDESK_STATUS_SOURCE": "statuspage", "FRONTDESK_STATUSPAGE_URL": "ftp://status.example.com/x"},
     "FRONTDESK_STATUSPAGE_URL must be an https:// URL"),
    ({"FRONTDESK_STATUS_SOURCE": "statuspage", "FRONTDESK_STATUSPAGE_URL": "status.example.com"},
     "FRONTDESK_STATUSPAGE_URL must be an https:// URL"),
    ({"FRONTDESK_STATUS_SOURCE": "statuspage", "FRONTDESK_STATUSPAGE_URL": "http://status.example.com/x.json"},
     "FRONTDESK_STATUSPAGE_URL must use https://"),
    ({"FRONTDESK_STATUSPAGE_TIMEOUT_SECONDS": "0"}, "FRONTDESK_STATUSPAGE_TIMEOUT_SECONDS must be >= 1"),
    ({"FRONTDESK_STATUSPAGE_CACHE_SECONDS": "soon"}, "FRONTDESK_STATUSPAGE_CACHE_SECONDS must be an integer"),
])
def test_a_source_that_cannot_work_fails_at_startup(env, problem):
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env({**SECRETS, **env})


def test_plain_http_only_in_development_or_on_loopback():
    http = {"FRONTDESK_STATUS_SOURCE": "statuspage", "FRONTDESK_STATUSPAGE_URL": "http://status.internal/x.json"}
    assert Settings.from_env({**DEV, **http}).status.statuspage_url == "http://status.internal/x.json"
    for url in ("http://127.0.0.1:8080/api/v2/summary.json", "http://localhost/api/v2/summary.json"):
        assert Settings.from_env({**SECRETS, **http, "FRONTDESK_STATUSPAGE_URL": url}).status.statuspage_url == url
    with pytest.raises(SettingsError, match="must use https://"):  # built directly, the same rule holds
        Settings(env="production", secret_key="k" * 40, action_server_secret="a" * 40, rasa_jwt_secret="j" * 40,
                 status=StatusSettings("statuspage", "http://status.internal/x.json"))


def test_the_configured_source_is_wired(tmp_path):
    settings = Settings(env="development", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    db = Database(settings.database_url)
    assert isinstance(status_source(settings, db), IncidentTableSource)
    feed = dataclasses.replace(settings, status=StatusSettings("statuspage", FEED, 3, 30))
    source = status_source(feed, db)
    assert isinstance(source, StatuspageSource)
    assert (source.url, source.timeout_seconds, source.cache_for.total_seconds()) == (FEED, 3, 30)
