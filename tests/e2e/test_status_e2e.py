"""End to end, over REST and in the widget: where a signed-in customer's own request stands;
another customer's reference answered exactly like one that does not exist; an open incident in
the greeting and in the answer to "is it down?"; and, on the stack that reads a Statuspage feed,
the feed down gives what it said last with its time, not an error (over REST and in the widget).

The development stack reads incidents from its table (declared with `frontdesk status incident`);
the production stack reads the Statuspage stand-in's feed."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.async_api import async_playwright, expect

from tests.e2e.test_widget_browser_e2e import CHROMIUM, open_signed_in_widget, send
from tests.stack import Stack, frontdesk
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.model]

HEADS_UP = "Heads-up: we're working on an incident right now"


def signed_in(stack: Stack, account_id: str) -> dict:
    return {"customer_token": stack.customer_token(account_id)}


def request_a_person(stack: Stack, name: str, account_id: str) -> str:
    """A handoff for that customer, and its reference. The stack is shared and handoffs are limited
    per customer (5 an hour): each test here uses customers the other e2e and security tests leave
    alone (AC-100003 and AC-100005; AC-100004 is the security tests' own)."""
    replies = stack.texts(name, "I need to talk to a person please", metadata=signed_in(stack, account_id))
    found = re.search(r"HO-\d+", " ".join(replies))
    assert found is not None, replies
    return found.group(0)


@contextlib.contextmanager
def open_incident(stack: Stack, title: str, component: str) -> Iterator[None]:
    """An incident on the stack's status source, resolved afterwards (the stack is shared)."""
    if stack.statuspage is not None:
        stack.statuspage.outage(component, name=title, body="Our engineers are on it.")
    else:
        opened = frontdesk(stack, "status", "incident", "open", "--title", title, "--component", component,
                           "--impact", "major", "--message", "Our engineers are on it.")
        incident_id = re.search(r"incident (\d+)", opened).group(1)
    try:
        yield
    finally:
        if stack.statuspage is not None:
            stack.statuspage.all_clear()
        else:
            frontdesk(stack, "status", "incident", "resolve", incident_id, "--message", "Fixed.")


def test_a_signed_in_customer_hears_where_their_own_request_stands(stack: Stack):
    older = request_a_person(stack, "e2e-status-older", "AC-100003")
    reference = request_a_person(stack, "e2e-status-open", "AC-100003")
    [reply] = stack.say("e2e-status-ask", f"any update on {reference}?", metadata=signed_in(stack, "AC-100003"))
    assert reply["text"].startswith(f"{reference} ") and "aim to reply within" in reply["text"], reply
    # Without a reference: their open requests, newest first, one message each.
    replies = stack.texts("e2e-status-ask", "what's the status of my ticket?")
    assert replies[0].startswith(f"{reference} ") and replies[1].startswith(f"{older} "), replies


def test_another_customer_s_reference_is_answered_like_one_that_does_not_exist(stack: Stack):
    theirs = request_a_person(stack, "e2e-status-theirs", "AC-100005")
    [other] = stack.say("e2e-status-other", f"any update on {theirs}?", metadata=signed_in(stack, "AC-100002"))
    [nothing] = stack.say("e2e-status-other", "any update on HO-99999?")
    assert other["text"].replace(theirs, "REF") == nothing["text"].replace("HO-99999", "REF")
    assert other.get("buttons") == nothing.get("buttons")
    assert "can't find a request" in other["text"] and "AC-100005" not in other["text"]


def test_an_open_incident_is_in_the_greeting_and_the_answer_to_is_it_down(stack: Stack):
    with open_incident(stack, "Elevated API errors", "API"):
        greeting = wait_until(lambda: (texts := stack.texts(f"e2e-incident-{len(stack.sessions)}", "hi"))
                              and HEADS_UP in texts[-1] and texts, timeout=20, what="the heads-up", interval=1)
        assert "Elevated API errors" in greeting[-1]
        [status] = stack.say("e2e-incident-status", "is the api down?")
        assert "Elevated API errors" in status["text"] and "Our engineers are on it." in status["text"], status
    # Resolved: the answer says so as soon as the source does (the feed is re-read every second).
    wait_until(lambda: stack.say("e2e-incident-after", "is the api down?")[0]["text"].startswith(
        "All systems are operational"), timeout=20, what="the all-clear", interval=1)


FEED_ONLY = "the development stack reads the incidents table; the production stack reads the feed"
STALE_AT = r"this is what it said at \d+ \w+ \d{4}, \d\d:\d\d UTC"


def wait_for_the_stale_answer(stack: Stack, sender: str, question: str) -> dict:
    """The feed is re-read every second: the first answers after `fail` may still come from the cache."""
    return wait_until(lambda: (reply := stack.say(sender, question)[0]) and "isn't answering" in reply["text"]
                      and reply, timeout=20, what="the stale answer", interval=1)


def test_the_status_feed_down_gives_what_it_said_last_with_its_time(stack: Stack):
    if stack.statuspage is None:
        pytest.skip(FEED_ONLY)
    [fresh] = stack.say("e2e-feed", "is the service down?")
    assert fresh["text"].startswith("All systems are operational"), fresh
    stack.statuspage.fail()
    try:
        stale = wait_for_the_stale_answer(stack, "e2e-feed", "is the service down?")
        assert re.search(STALE_AT, stale["text"]), stale
        assert "All systems are operational" in stale["text"]
    finally:
        stack.statuspage.heal()


async def test_the_widget_shows_the_incident_the_status_and_only_the_customer_s_own_request(stack: Stack):
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make browser` installs it (make test does)")
    mine, theirs = (request_a_person(stack, "e2e-widget-mine", "AC-100003"),
                    request_a_person(stack, "e2e-widget-theirs", "AC-100005"))
    with open_incident(stack, "Dashboard slow to load", "Dashboard"):
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            page = await browser.new_page()
            try:
                await open_signed_in_widget(page, stack, "AC-100003")
                await page.click(".rw-launcher")
                bot = page.locator(".rw-response")
                await expect(page.locator(".rw-response", has_text=HEADS_UP)).to_be_visible(timeout=20_000)
                await send(page, "is the dashboard down?")
                await expect(bot.last).to_contain_text("Dashboard slow to load", timeout=20_000)
                await send(page, f"any update on {mine}?")
                await expect(bot.last).to_contain_text(f"{mine} ", timeout=20_000)
                await expect(bot.last).to_contain_text("aim to reply within")
                await send(page, f"and what is the status of ticket {theirs}?")
                await expect(bot.last).to_contain_text(f"I can't find a request {theirs} on your account",
                                                       timeout=20_000)
            finally:
                await browser.close()


async def test_the_widget_gives_the_last_known_status_with_its_time_when_the_feed_is_down(stack: Stack):
    if stack.statuspage is None:
        pytest.skip(FEED_ONLY)
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make browser` installs it (make test does)")
    with open_incident(stack, "Webhooks delayed", "API"):
        wait_until(lambda: "Webhooks delayed" in stack.say("e2e-widget-feed", "is the api down?")[0]["text"],
                   timeout=20, what="the incident on the feed", interval=1)
        stack.statuspage.fail()
        try:
            # Over REST first, so the action server has seen the feed fail; then the customer asks.
            wait_for_the_stale_answer(stack, "e2e-widget-feed", "is the api down?")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM)
                page = await browser.new_page()
                try:
                    await open_signed_in_widget(page, stack, "AC-100003")
                    await page.click(".rw-launcher")
                    await send(page, "is the api down?")
                    stale = page.locator(".rw-response", has_text="isn't answering")
                    await expect(stale).to_be_visible(timeout=20_000)
                    # What the feed said last: the incident, with the time it said it.
                    await expect(stale).to_contain_text("Webhooks delayed")
                    await expect(stale).to_contain_text(re.compile(STALE_AT))
                    await expect(page.locator(".rw-response", has_text="went wrong")).to_have_count(0)
                finally:
                    await browser.close()
        finally:
            stack.statuspage.heal()
