"""The web app's Prometheus figures, read from the app database (SQLite and PostgreSQL): counts,
histograms cumulative as Prometheus wants them, outbox backlog; and the scrape's token check."""

from __future__ import annotations

from dataclasses import asdict

from prometheus_client.parser import text_string_to_metric_families

from frontdesk.insights.metrics import ActionMetrics, authorised, render, web_registry
from frontdesk.insights.telemetry import TurnFactRow
from tests.frontdesk.insights.test_measures import turn


def scrape(db) -> dict:
    text = render(web_registry(db.transaction)).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_the_figures_come_from_the_facts_counted_once_and_cumulative(db):
    turns = [turn("a", latency=80.0, confidence=0.95), turn("b", latency=300.0, confidence=0.55, fallback=True),
             turn("c", latency=None, intent="greet", confidence=0.99)]
    with db.transaction() as session:
        session.execute(TurnFactRow.__table__.insert(), [
            {**asdict(t), "entity_types": "", "actions": ",".join(t.actions)} for t in turns])
    families = scrape(db)
    assert sum(s.value for s in families["frontdesk_messages"].samples) == 3
    assert sum(s.value for s in families["frontdesk_fallbacks"].samples) == 1
    intents = {s.labels["intent"]: s.value for s in families["frontdesk_intents"].samples}
    assert intents == {"request_password_reset": 2, "greet": 1}
    buckets = {s.labels["le"]: s.value for s in families["frontdesk_message_latency_seconds"].samples
               if s.name.endswith("_bucket")}
    assert (buckets["0.1"], buckets["0.25"], buckets["0.5"], buckets["+Inf"]) == (1, 1, 2, 2)  # two timed turns
    confidence = {s.labels["le"]: s.value for s in families["frontdesk_intent_confidence"].samples
                  if s.name.endswith("_bucket")}
    assert (confidence["0.5"], confidence["0.6"], confidence["1"], confidence["+Inf"]) == (0, 1, 3, 3)
    backlog = {s.labels["outbox"]: s.value for s in families["frontdesk_outbox_backlog"].samples}
    assert backlog == {"email": 0, "ticket": 0}


def test_a_scrape_needs_the_configured_token_and_none_means_off():
    assert authorised("Bearer s3cret", "s3cret")
    assert not authorised("Bearer wrong", "s3cret") and not authorised(None, "s3cret")
    assert not authorised("Bearer ", "")  # no token configured: nobody gets in


def test_the_action_server_times_each_action_and_counts_failures():
    metrics = ActionMetrics()
    metrics.observe("action_handoff", 0.2, failed=False)
    metrics.observe("action_handoff", 3.0, failed=True)
    families = {f.name: f for f in text_string_to_metric_families(render(metrics.registry).decode())}
    count = [s.value for s in families["frontdesk_action_latency_seconds"].samples if s.name.endswith("_count")]
    assert count == [2]
    assert [s.value for s in families["frontdesk_action_errors"].samples if s.name.endswith("_total")] == [1]
