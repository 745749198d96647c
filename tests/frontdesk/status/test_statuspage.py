"""The Statuspage adapter against a local stand-in of a status feed (a real HTTP server): parsed,
cached, and when the feed fails, the last good status marked stale -- never an exception."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from frontdesk.status.port import incident_for_component
from frontdesk.status.statuspage import StatuspageSource, parse_summary
from tests.conftest import FakeClock
from tests.standins.statuspage import StatuspageStandIn


@pytest.fixture
def feed() -> Iterator[StatuspageStandIn]:
    with StatuspageStandIn() as server:
        yield server


@pytest.fixture
def source(feed: StatuspageStandIn, clock: FakeClock) -> Iterator[StatuspageSource]:
    adapter = StatuspageSource(feed.url, timeout_seconds=0.5, cache_seconds=60, clock=clock)
    yield adapter
    adapter.close()


def test_a_healthy_feed(source, feed, clock):
    status = source.current()
    assert (status.indicator, status.description, status.source) == ("none", "All Systems Operational", "statuspage")
    assert status.all_operational and status.affected == () and status.incidents == ()
    assert (status.stale, status.as_of) == (False, clock.now)
    assert feed.requests == 1


def test_a_component_outage_and_its_incident(source, feed):
    feed.outage("API", impact="major", name="Elevated API errors", status="identified",
                body="We found the cause and are deploying a fix.", incident_id="p31zjtct2jer")
    status = source.current()
    assert (status.indicator, status.description) == ("major", "Partial System Outage")
    assert [(c.name, c.status) for c in status.affected] == [("API", "partial_outage")]
    [incident] = status.incidents
    assert (incident.id, incident.title, incident.status, incident.impact, incident.components) == (
        "p31zjtct2jer", "Elevated API errors", "identified", "major", ("API",))
    assert incident.message == "We found the cause and are deploying a fix."
    assert incident.started_at is not None and incident.updated_at is not None and incident.started_at.tzinfo is None
    assert incident.tag == "incident-p31zjtct2jer"
    assert incident_for_component(status, "api") == incident
    assert incident_for_component(status, "Billing") is None


def test_a_good_answer_is_cached_for_its_period(source, feed, clock):
    first = source.current()
    feed.outage("Billing", impact="minor")
    clock.advance(seconds=59)
    assert source.current() == first and feed.requests == 1  # within the period: not asked again
    clock.advance(seconds=2)
    fresh = source.current()
    assert feed.requests == 2 and fresh.indicator == "minor" and fresh.as_of == clock.now and not fresh.stale


@pytest.mark.parametrize("fault", ["fail", "hang", "malformed", "wrong_shape"])
def test_a_failing_feed_gives_the_last_good_status_marked_stale(source, feed, clock, fault):
    feed.outage("API", impact="critical")
    good = source.current()
    good_time = clock.now
    clock.advance(seconds=61)
    getattr(feed, fault)()
    started = time.monotonic()
    stale = source.current()
    assert time.monotonic() - started < 3  # the short timeout, not the feed's five-second hang
    assert stale.stale and stale.as_of == good_time
    assert (stale.indicator, stale.incidents, stale.affected) == (good.indicator, good.incidents, good.affected)
    asked = feed.requests
    clock.advance(seconds=30)
    assert source.current() == stale and feed.requests == asked  # a failure is retried after the period, too
    feed.heal()
    clock.advance(seconds=31)
    recovered = source.current()
    assert not recovered.stale and recovered.as_of == clock.now and feed.requests == asked + 1


@pytest.mark.parametrize("fault", ["fail", "hang", "malformed"])
def test_with_nothing_cached_the_status_is_unknown(source, feed, fault):
    getattr(feed, fault)()
    status = source.current()
    assert (status.indicator, status.description, status.stale, status.as_of) == (
        "unknown", "Service status unknown", True, None)
    assert not status.known and status.incidents == ()


def test_a_feed_nobody_listens_on_is_unknown_not_an_error(clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = StatuspageSource(f"http://127.0.0.1:{port}/api/v2/summary.json", 0.5, 60, clock=clock)
    assert source.current().indicator == "unknown"


def test_cache_zero_asks_every_time(feed, clock):
    source = StatuspageSource(feed.url, 0.5, 0, clock=clock)
    source.current()
    source.current()
    assert feed.requests == 2
    feed.fail()
    assert source.current().stale


def test_resolved_incidents_scheduled_and_running_maintenance(clock):
    summary = {
        "page": {"id": "x", "name": "Acme", "url": "https://status.example.com", "updated_at": "2026-11-27T09:00:00Z"},
        "status": {"indicator": "minor", "description": "Minor Service Outage"},
        "components": [
            {"id": "g", "name": "Platform", "status": "partial_outage", "group": True},
            {"id": "a", "name": "API", "status": "degraded_performance", "group": False},
            {"id": "d", "name": "Dashboard", "status": "under_maintenance"},
        ],
        "incidents": [
            {"id": "old", "name": "Fixed", "status": "postmortem", "impact": "major", "components": [],
             "incident_updates": [], "updated_at": "2026-11-27T08:00:00.000-05:00"},
            {"id": "new", "name": "Slow API", "status": "monitoring", "impact": "minor",
             "created_at": "2026-11-27T08:00:00.000-05:00", "updated_at": "2026-11-27T08:30:00.000-05:00",
             "components": [{"name": "API"}],
             "incident_updates": [{"body": "Fix deployed; watching."}, {"body": "Investigating."}]},
        ],
        "scheduled_maintenances": [
            {"id": "m1", "name": "Database upgrade", "status": "in_progress", "impact": "maintenance",
             "components": [{"name": "Dashboard"}], "incident_updates": [{"body": "Under way."}]},
            {"id": "m2", "name": "Next week", "status": "scheduled", "impact": "maintenance", "components": []},
        ],
    }
    status = parse_summary(summary, as_of=clock.now)
    assert [(c.name, c.status) for c in status.affected] == [("API", "degraded_performance"),
                                                             ("Dashboard", "under_maintenance")]
    assert [i.id for i in status.incidents] == ["new", "m1"]
    slow = status.incidents[0]
    assert slow.message == "Fix deployed; watching."  # the newest update comes first in the feed
    assert str(slow.started_at) == "2026-11-27 13:00:00" and str(slow.updated_at) == "2026-11-27 13:30:00"  # UTC
    assert incident_for_component(status, "dashboard").id == "m1"
