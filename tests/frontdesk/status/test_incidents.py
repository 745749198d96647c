"""Incidents operators declare: open, update, resolve, list, each audited; the default status source
reads the open ones; the tag tickets about an affected component carry."""

from __future__ import annotations

from datetime import datetime

import pytest

from frontdesk.status.incidents import IncidentError, StatusDesk
from frontdesk.status.port import incident_for_component, tag_for
from frontdesk.status.sql import IncidentTableSource


def incidents(services):
    return services.status.incidents


def test_open_update_resolve_and_list_each_audited(services, clock):
    with services.db.transaction() as session:
        opened = incidents(services).open(session, "  Login failures ", "API", "Major",
                                          "We're investigating failed logins.")
    assert (opened.title, opened.components, opened.status, opened.impact) == (
        "Login failures", ("API",), "investigating", "major")
    assert opened.started_at == opened.updated_at == clock.now and opened.resolved_at is None
    assert opened.tag == f"incident-{opened.id}"

    clock.advance(minutes=20)
    with services.db.transaction() as session:
        updated = incidents(services).update(session, int(opened.id), "identified", "A bad deploy; rolling back.",
                                             impact="critical")
    assert (updated.status, updated.impact, updated.message) == (
        "identified", "critical", "A bad deploy; rolling back.")
    assert updated.updated_at == datetime(2026, 11, 27, 9, 20) and updated.started_at == datetime(2026, 11, 27, 9, 0)

    with services.db.transaction() as session:
        other = incidents(services).open(session, "Slow invoices", "Billing", "minor", "Invoices load slowly.")
        assert [i.id for i in incidents(services).list(session)] == [other.id, opened.id]

    clock.advance(minutes=40)
    with services.db.transaction() as session:
        resolved = incidents(services).resolve(session, int(opened.id), "Fixed: logins work again.")
    assert resolved.status == "resolved" and resolved.resolved_at == datetime(2026, 11, 27, 10, 0)
    assert not resolved.is_open

    with services.db.transaction() as session:
        assert [i.id for i in incidents(services).list(session)] == [other.id]
        assert [i.id for i in incidents(services).list(session, open_only=False)] == [other.id, opened.id]
        assert incidents(services).get(session, int(opened.id)) == resolved
        records = services.audit.list(session, decision=None, limit=10)
    decisions = [(r.decision, r.details["incident_id"], r.details["status"]) for r in reversed(records)
                 if r.decision.startswith("status.")]
    assert decisions == [
        ("status.incident_opened", int(opened.id), "investigating"),
        ("status.incident_updated", int(opened.id), "identified"),
        ("status.incident_opened", int(other.id), "investigating"),
        ("status.incident_resolved", int(opened.id), "resolved"),
    ]
    # The audit trail has no free text: neither the title nor the message.
    for record in records:
        assert "Login" not in str(record.details) and "logins" not in str(record.details)
    assert records[0].details == {"incident_id": int(opened.id), "status": "resolved", "impact": "critical",
                                  "component": "API"}


@pytest.mark.parametrize(("change", "problem"), [
    (lambda s, i, _: i.open(s, "Down", "API", "catastrophic", "x"), "impact must be one of minor, major, critical"),
    (lambda s, i, _: i.open(s, "  ", "API", "minor", "x"), "title must not be empty"),
    (lambda s, i, _: i.open(s, "Down", "API", "minor", "  "), "message must not be empty"),
    (lambda s, i, _: i.update(s, 999, "identified", "x"), "no incident 999"),
    (lambda s, i, known: i.update(s, known, "fixed", "x"), "status must be one of investigating"),
    (lambda s, i, known: i.resolve(s, known, "again"), "already resolved"),
])
def test_changes_that_cannot_be_made_are_refused(services, change, problem):
    with services.db.transaction() as session:
        known = int(incidents(services).open(session, "Down", "API", "minor", "x").id)
        incidents(services).resolve(session, known, "done")
    with pytest.raises(IncidentError, match=problem), services.db.transaction() as session:
        change(session, incidents(services), known)


def test_the_incidents_table_is_the_default_source(services, clock):
    assert isinstance(services.status.source, IncidentTableSource)
    calm = services.status.current()
    assert (calm.indicator, calm.description, calm.stale, calm.as_of, calm.source) == (
        "none", "All systems operational", False, clock.now, "incidents")
    assert calm.all_operational and calm.incidents == () and calm.affected == ()

    with services.db.transaction() as session:
        api = incidents(services).open(session, "Login failures", "API", "major", "Investigating.")
        minor = incidents(services).open(session, "Slow API", "API", "minor", "Slower than usual.")
        billing = incidents(services).open(session, "Invoices", "Billing", "minor", "Slow.")
        gone = incidents(services).open(session, "Old", "Dashboard", "critical", "Down.")
        incidents(services).resolve(session, int(gone.id), "Fixed.")
    status = services.status.current()
    assert status.indicator == "major" and status.description == "Partial system outage" and not status.stale
    assert [(c.name, c.status) for c in status.affected] == [("API", "partial_outage"),
                                                             ("Billing", "degraded_performance")]
    assert status.affected_components == ("API", "Billing")
    assert {i.id for i in status.incidents} == {api.id, minor.id, billing.id}  # not the resolved one
    assert incident_for_component(status, " billing ").id == billing.id
    assert incident_for_component(status, "Dashboard") is None
    assert services.status.incident_tag("billing") == f"incident-{billing.id}" == tag_for(billing)
    assert services.status.incident_tag("Dashboard") is None
    assert services.status.incident_tag("") is None


def test_an_unreadable_table_is_unknown_not_an_error(tmp_path, clock):
    from frontdesk.core.db import Database

    source = IncidentTableSource(Database(f"sqlite:///{tmp_path / 'empty.db'}"), clock=clock)  # never migrated
    status = source.current()
    assert (status.indicator, status.stale, status.as_of) == ("unknown", True, None)
    assert StatusDesk(source, None).incident_tag("API") is None  # type: ignore[arg-type]
