"""End to end: conversations through the real servers reach the KPI facts through Rasa's own event
broker (the SQL broker on the embedded stack, RabbitMQ on the production one) and the web app's
consumer: every tracker event once, outcomes, flows, queues, model ids and latencies right."""

from __future__ import annotations

import json
import re
import shutil

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import METRICS_TOKEN, ROOT, Stack, frontdesk

pytestmark = [pytest.mark.e2e, pytest.mark.model]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The HTML page is rendered from the report's JSON and /metrics is the same code on either stack
# (the collector's queries run on both databases in tests/frontdesk/insights/test_metrics.py): one
# stack each. A skip, not an indirect parameter, which would start a third and fourth stack.
ONE_STACK = "run on one of the two stacks only"


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


def test_prometheus_reads_the_web_app_and_the_action_server_with_its_token_only(stack: Stack):
    if not stack.production:
        pytest.skip(ONE_STACK)
    stack.texts("tel-metrics", "I forgot my password")
    stack.facts_of("tel-metrics")
    for base in (stack.web_url, stack.action_url):
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = {}
    for base in (stack.web_url, stack.action_url):
        answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        scraped.update({family.name: family for family in text_string_to_metric_families(answer.text)})
    messages = sum(sample.value for sample in scraped["frontdesk_messages"].samples)
    assert messages >= 1
    latency = {s.labels.get("le"): s.value for s in scraped["frontdesk_message_latency_seconds"].samples
               if s.name.endswith("_bucket")}
    timed = stack.rows("SELECT count(*) FROM turn_facts WHERE latency_ms IS NOT NULL")[0][0]
    assert latency["+Inf"] == timed and 1 <= timed <= messages  # every answered message is in the histogram
    intents = {s.labels["intent"] for s in scraped["frontdesk_intents"].samples}
    assert "request_password_reset" in intents
    assert {"frontdesk_handoffs", "frontdesk_outbox_backlog", "frontdesk_conversations",
            "frontdesk_intent_confidence", "frontdesk_fallbacks"} <= set(scraped)
    actions = {s.labels["action"] for s in scraped["frontdesk_action_latency_seconds"].samples}
    assert "password_reset_form" in actions or "validate_password_reset_form" in actions, actions
    # The Grafana dashboard in the repo asks only for metrics the servers expose.
    asked = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in
             re.findall(r"frontdesk_[a-z_]+", (ROOT / "docs" / "grafana" / "frontdesk.json").read_text())}
    assert asked and asked <= set(scraped), asked - set(scraped)


def test_the_html_kpi_report_opens_in_a_browser_with_readable_plots(stack: Stack, tmp_path):
    if stack.production:
        pytest.skip(ONE_STACK)
    from PIL import Image
    from playwright.sync_api import sync_playwright

    stack.texts("tel-html", "I forgot my password")
    stack.texts("tel-html-2", "can you tell me a joke about penguins")
    stack.facts_of("tel-html", "tel-html-2")
    page_file = tmp_path / "kpi.html"
    frontdesk(stack, "kpi", "report", "--html", str(page_file))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri())
            assert requests == [page_file.as_uri()]  # self-contained: nothing else is fetched
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no sideways scrolling
            headings = page.locator("h2").all_inner_texts()
            assert {"Targets", "Weekly trends", "Outcomes", "What customers ask that the bot cannot answer"} <= set(
                headings)
            figures = page.locator("figure")
            assert figures.count() >= 7
            for index in range(figures.count()):
                plot = figures.nth(index)
                box = plot.bounding_box()
                assert box and box["width"] >= 300 and box["height"] >= 150, (index, box)
                shot = tmp_path / f"figure-{index}.png"
                plot.screenshot(path=str(shot))
                image = Image.open(shot).convert("RGB")
                pixels = list(image.getdata())
                inked = sum(1 for r, g, b in pixels if min(r, g, b) < 200) / len(pixels)
                # Axes, labels and data drawn, not a blank box nor a solid block.
                assert 0.01 < inked < 0.6 and len(set(pixels)) > 20, (index, inked)
            page.screenshot(path=str(tmp_path / "kpi.png"), full_page=True)
        finally:
            browser.close()
