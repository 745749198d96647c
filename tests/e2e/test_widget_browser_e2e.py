"""The support site's chat widget in headless Chromium (Debian's package, driven by Playwright):
rasa-webchat 1.0.1, bundled locally, on Rasa's socket.io channel with session persistence. The
page works with no network at all: every request that leaves localhost is blocked and recorded.
A screenshot is saved under reports/screenshots/ as a test artifact."""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.stack import ROOT, Stack, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "reports" / "screenshots"


async def send(page: Page, text: str) -> None:
    await page.fill(".rw-new-message", text)
    await page.press(".rw-new-message", "Enter")


async def test_a_customer_chats_in_the_widget_resets_a_password_and_gets_an_agent(stack: Stack):
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make browser` installs it (make test does)")
    mails_before = len(stack.smtp.messages)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        offline: list[str] = []

        async def no_network(route):  # the machine has no internet as far as the page knows
            if urlsplit(route.request.url).hostname in {"localhost", "127.0.0.1"}:
                await route.continue_()
            else:
                offline.append(route.request.url)
                await route.abort()

        await page.route("**/*", no_network)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await page.goto(f"{stack.web_url}/widget")
            await page.click(".rw-launcher")
            bot = page.locator(".rw-response")
            await expect(bot.first).to_contain_text("I'm Frontdesk", timeout=20_000)  # the greeting

            await send(page, "what can you do?")
            await expect(page.locator(".rw-reply", has_text="Reset my password")).to_be_visible(timeout=20_000)
            await page.click(".rw-reply >> text=Reset my password")  # a quick-reply button
            await expect(bot.last).to_contain_text("email address of your account", timeout=20_000)
            await send(page, "ada.lovelace@example.com")
            await expect(bot.last).to_contain_text("If an account exists", timeout=20_000)
            assert len(stack.smtp.wait_for(mails_before + 1)) == mails_before + 1

            # A reload keeps the same conversation and shows its history.
            session_id = await page.evaluate("JSON.parse(sessionStorage.getItem('chat_session')).session_id")
            await page.reload()
            await expect(page.locator(".rw-client", has_text="ada.lovelace@example.com")).to_be_visible(
                timeout=20_000)
            assert await page.evaluate("JSON.parse(sessionStorage.getItem('chat_session')).session_id") == session_id

            # The handoff is visible, and an agent's reply arrives in the same widget.
            await send(page, "can I talk to a person please")
            await expect(bot.last).to_contain_text("Your reference is HO-", timeout=20_000)
            reference = re.search(r"HO-\d+", await bot.last.inner_text()).group(0)
            token = issue_token(stack, f"Widget agent {stack.backend}")
            sent = httpx.post(f"{stack.web_url}/api/agent/handoffs/{reference}/reply", timeout=30,
                              headers={"Authorization": f"Bearer {token}"},
                              json={"text": "Hi, Sam here. How can I help?"})
            assert sent.status_code == 200, sent.text
            await expect(bot.last).to_contain_text("Sam here", timeout=20_000)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"widget_{stack.backend.replace('+', '_')}.png"))
            assert errors == []
            assert all("fonts.googleapis.com" in url for url in offline), offline  # only the web font tried
        finally:
            await browser.close()


async def open_signed_in_widget(page: Page, stack: Stack, account_id: str) -> None:
    """The widget page as the support site shows it to a signed-in customer. In development the
    demo sign-in plays the site; in production the site renders the page with its signed token,
    which the init script does."""
    if stack.production:
        token = json.dumps(stack.customer_token(account_id))
        await page.add_init_script(f"""document.addEventListener("DOMContentLoaded", () => {{
            const config = document.getElementById("frontdesk-widget-config");
            config.textContent = JSON.stringify({{...JSON.parse(config.textContent), customerToken: {token}}});
        }});""")
        await page.goto(f"{stack.web_url}/widget")
    else:
        await page.goto(f"{stack.web_url}/widget?demo_customer={account_id}")
        await expect(page.locator(".who")).to_contain_text(f"Signed in (demo) as {account_id}")


async def test_a_signed_in_customer_is_recognised_by_the_widget(stack: Stack):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page()
        try:
            await open_signed_in_widget(page, stack, "AC-100002")
            await page.click(".rw-launcher")
            await expect(page.locator(".rw-response").first).to_be_visible(timeout=20_000)
            await send(page, "how many seats are we paying for?")
            await expect(page.locator(".rw-response").last).to_contain_text("120 seats", timeout=20_000)
        finally:
            await browser.close()
