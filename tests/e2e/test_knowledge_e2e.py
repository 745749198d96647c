"""End to end, over REST and in the widget: a question no flow claims is answered with the help
centre's short answer and link; "yes, that helped" resolves it as the bot's (and the rating after
a resolved flow follows); "no" offers a person, whose ticket carries the article and the
question; a question no article answers gets "I don't know" and the offer of a person."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from playwright.async_api import async_playwright, expect

from tests.e2e.test_handoff_e2e import wait_for
from tests.e2e.test_widget_browser_e2e import CHROMIUM, send
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.model]

MOBILE = "https://help.frontdesk.example/articles/mobile-app"
RATE_LIMITS = "https://help.frontdesk.example/articles/api-rate-limits"
# Not in any article, and not a flow: the bot must not guess.
UNANSWERABLE = "can your product book flights and hotels for our sales team?"


def test_an_faq_is_answered_with_its_link_and_a_yes_resolves_it(stack: Stack):
    [answer] = stack.say("e2e-kb-yes", "hey is there an app i can use on my iphone?")
    assert MOBILE in answer["text"] and answer["text"].endswith("Did that help?"), answer
    assert [b["payload"] for b in answer["buttons"]] == ["/affirm", "/deny"]
    assert "glad that helped" in stack.texts("e2e-kb-yes", "/affirm")[0]
    # Resolved by the bot: the rating asked after a resolved flow follows the thanks.
    assert any("rate" in t.lower() for t in stack.texts("e2e-kb-yes", "thanks!")), "no rating asked"
    decisions = wait_for(stack, "SELECT decision, details FROM audit_records WHERE conversation_id = :c "
                         "AND decision LIKE 'knowledge.%' ORDER BY id", {"c": stack.conversation("e2e-kb-yes")})
    assert [(d.decision, json.loads(d.details)["article"]) for d in decisions] == [
        ("knowledge.answered", "mobile-app"), ("knowledge.helped", "mobile-app")]


def test_an_faq_that_did_not_help_goes_to_a_person_with_the_article_on_the_ticket(stack: Stack):
    question = "what are the limits on api calls per second?"
    [answer] = stack.say("e2e-kb-no", question)
    assert RATE_LIMITS in answer["text"], answer
    [offer] = stack.say("e2e-kb-no", "/deny")
    assert "Sorry that didn't answer it" in offer["text"]
    assert [b["payload"] for b in offer["buttons"]] == ["/request_human"]
    assert any("Your reference is HO-" in t for t in stack.texts("e2e-kb-no", "/request_human"))
    [ticket] = wait_for(stack, "SELECT summary, suggested_reply FROM tickets WHERE conversation_id = :c",
                        {"c": stack.reference("e2e-kb-no")})
    assert f'Help-centre answer the bot gave: "What are the API rate limits?" ({RATE_LIMITS}), for "{question}"' in (
        ticket.summary), ticket.summary
    assert RATE_LIMITS in ticket.suggested_reply  # agent assist cites it from the same index


def test_an_unanswerable_question_gets_i_don_t_know_and_a_person_offered(stack: Stack):
    [reply] = stack.say("e2e-kb-unknown", UNANSWERABLE)
    assert "I don't know" in reply["text"] and "help.frontdesk.example" not in reply["text"], reply
    assert reply["buttons"][-1]["payload"] == "/request_human"
    assert not wait_for(stack, "SELECT id FROM audit_records WHERE conversation_id = :c AND decision = "
                        "'knowledge.answered'", {"c": stack.conversation("e2e-kb-unknown")}, timeout=1)


async def test_the_widget_shows_the_answer_its_link_and_the_offer_of_a_person(stack: Stack):
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make browser` installs it (make test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page()
        try:
            await page.goto(f"{stack.web_url}/widget")
            await page.click(".rw-launcher")
            bot = page.locator(".rw-response")
            await expect(bot.first).to_contain_text("I'm Frontdesk", timeout=20_000)
            await send(page, "hey is there an app i can use on my iphone?")
            await expect(bot.last).to_contain_text("Did that help?", timeout=20_000)
            # The widget shows each paragraph as a bubble; the link is a link.
            await expect(page.locator(f'.rw-response a[href="{MOBILE}"]')).to_be_visible()
            await page.click(".rw-reply >> text=No")
            await expect(bot.last).to_contain_text("Sorry that didn't answer it", timeout=20_000)
            await send(page, UNANSWERABLE)
            await expect(bot.last).to_contain_text("I don't know", timeout=20_000)
            await page.click(".rw-reply >> text=Talk to a person")
            await expect(bot.last).to_contain_text("Your reference is HO-", timeout=20_000)
            reference = re.search(r"HO-\d+", await bot.last.inner_text()).group(0)
            [handoff] = wait_for(stack, "SELECT draft FROM handoffs WHERE id = :id", {"id": int(reference[3:])})
            assert MOBILE in json.loads(handoff.draft)["summary"]
        finally:
            await browser.close()
