"""The agent inbox page in headless Chromium (Debian's package, driven by Playwright): an agent
signs in, opens the handed-off conversation, inserts the suggested reply with one click, sends
it (it reaches the customer's socket.io widget), and closes (the bot asks for a rating). A
screenshot is saved under reports/screenshots/ as a test artifact."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.async_api import async_playwright, expect

from tests.stack import ROOT, Stack, WidgetCustomer, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "reports" / "screenshots"


async def test_an_agent_works_a_handoff_in_the_inbox_page(stack: Stack):
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make browser` installs it (make test does)")
    token = issue_token(stack, f"Robin {stack.backend}")
    customer = WidgetCustomer(stack.rasa_url)
    await customer.connect()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            await customer.say("I need a refund, I was billed after cancelling")
            reference = re.search(r"HO-\d+", (await customer.next_message())["text"]).group(0)

            await page.goto(f"{stack.web_url}/agent")
            await page.fill("#token", "fdat_wrong")
            await page.click("#sign-in-form button")
            await expect(page.locator("#sign-in-error")).to_contain_text("valid agent token")
            await page.fill("#token", token)
            await page.click("#sign-in-form button")
            await expect(page.locator("#whoami")).to_contain_text(f"Robin {stack.backend}")

            await page.click(f"button[data-reference='{reference}']")
            await expect(page.locator("#ticket-summary")).to_contain_text("refund")
            await expect(page.locator("#transcript li.customer").first).to_contain_text("refund")
            suggested = await page.locator("#ticket-suggested").inner_text()
            await page.click("#use-suggested")  # one click puts it in the reply box, signed
            reply = suggested.replace("{agent name}", f"Robin {stack.backend}")
            assert await page.locator("#reply-text").input_value() == reply
            await page.click("#send-reply")
            await expect(page.locator("#status")).to_have_text("Reply sent.")
            # Rasa's socket.io channel sends each paragraph as its own message.
            received = [(await customer.next_message())["text"] for _ in reply.split("\n\n")]
            assert "\n\n".join(received) == reply
            await expect(page.locator("#transcript li.agent")).to_contain_text(reply[:40])
            await expect(page.locator("#ticket-meta")).to_contain_text(f"claimed by Robin {stack.backend}")

            # The customer answers; the agent sees it in the live transcript.
            await customer.say("thanks, that's great")
            await expect(page.locator("#transcript li.customer").last).to_contain_text("that's great")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"agent_inbox_{stack.backend.replace('+', '_')}.png"),
                                  full_page=True)

            await page.click("#close")
            await expect(page.locator("#status")).to_contain_text("Closed")
            assert "How would you rate" in (await customer.next_message())["text"]
            await expect(page.locator(f"button[data-reference='{reference}']")).to_have_count(0)
            # The only failed request is the deliberate wrong token; no script errors.
            assert [p for p in problems if "401 (Unauthorized)" not in p] == [], problems
        finally:
            await browser.close()
            await customer.client.disconnect()
