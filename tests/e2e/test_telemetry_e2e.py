"""End to end: conversations through the real servers reach the KPI facts through Rasa's own event
broker (the SQL broker on the embedded stack, RabbitMQ on the production one) and the web app's
consumer: every tracker event once, outcomes, flows, queues, model ids and latencies right."""

from __future__ import annotations

import json

import pytest

from tests.stack import Stack, frontdesk

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def test_conversations_reach_the_kpi_facts_through_rasas_event_broker(stack: Stack):
    stack.texts("tel-reset", "I forgot my password")
    stack.texts("tel-reset", "ada.lovelace@example.com")
    stack.texts("tel-hello", "hello")
    stack.texts("tel-refund", "I want a refund for last month")
    facts = stack.facts_of("tel-reset", "tel-hello", "tel-refund")

    assert (facts["tel-reset"].outcome, facts["tel-reset"].flow) == ("resolved", "password_reset")
    assert facts["tel-reset"].customer_key and facts["tel-reset"].turns == 2
    assert facts["tel-hello"].outcome == "no_request"
    refund = facts["tel-refund"]
    assert (refund.outcome, refund.flow, refund.handoff_reason) == ("handed_off", "refund", "mandatory_category")
    assert refund.queue and refund.sla_seconds > 0 and not refund.mandatory_human_automated

    conversation = stack.conversation("tel-reset")
    turns = stack.rows("SELECT intent, confidence, model_id, latency_ms, channel FROM turn_facts "
                       "WHERE conversation_id = :c ORDER BY turn", c=conversation)
    assert [t.intent for t in turns] == ["request_password_reset", "inform_email"]
    assert all(t.model_id and t.latency_ms > 0 and t.channel == "rest" and t.confidence > 0 for t in turns), turns
    # Every event the tracker store holds reached analytics exactly once.
    for kind, rasa_type in (("user", "user"), ("action", "action"), ("bot", "bot")):
        stored = stack.rows("SELECT count(*) FROM events WHERE sender_id = :c AND type_name = :t",
                            c=conversation, t=rasa_type)[0][0]
        recorded = stack.rows("SELECT count(*) FROM telemetry_events WHERE conversation_id = :c AND kind = :k",
                              c=conversation, k=kind)[0][0]
        assert recorded == stored > 0, (kind, recorded, stored)

    # A second consumer (the CLI, beside the web app's) finds nothing new to count.
    before = stack.rows("SELECT count(*) FROM telemetry_events")[0][0]
    report = json.loads(frontdesk(stack, "insights", "consume", "--once", "--json"))
    assert report["recorded"] == 0 and stack.rows("SELECT count(*) FROM telemetry_events")[0][0] == before
