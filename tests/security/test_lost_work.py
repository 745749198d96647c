"""Attack 6: nothing is lost or done twice. A password reset asked for an SSO or security-locked
account becomes a ticket in the security queue (the customer was told support was notified),
while the chat answers exactly as for any address; an account whose data makes an e-mail
template fail does not stop the outbox (unit tests cover leases, attempt caps and idempotent
Zendesk comments: tests/frontdesk/mail/test_outbox.py, tests/frontdesk/ticketing/test_zendesk.py)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.stack import Stack, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def wait_for(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)
    return result


@pytest.mark.parametrize("address", ["margaret.hamilton@example.net", "edsger.dijkstra@example.com"],
                         ids=["sso", "security-locked"])
def test_a_reset_nobody_can_do_automatically_reaches_the_security_queue(stack: Stack, address: str):
    name, control = f"sec-reset-{address[:6]}-{stack.backend}", f"sec-reset-ctl-{address[:6]}-{stack.backend}"
    answer = stack.texts(name, f"I forgot my password, my email is {address}")
    assert stack.texts(control, "I forgot my password, my email is nobody.at.all@example.com") == answer
    agent = issue_token(stack, f"Security desk {address[:6]} {stack.backend}", "agent", queues=("security",))
    api = httpx.Client(base_url=f"{stack.web_url}/api/agent", headers={"Authorization": f"Bearer {agent}"},
                       timeout=30)
    reference = stack.reference(name)
    listed = wait_for(lambda: [h for h in api.get("/handoffs", params={"queue": "security"}).json()
                               if h["conversation"] == reference])
    [handoff] = listed
    ticket = api.get(f"/handoffs/{handoff['reference']}").json()
    assert ticket["queue"] == "security" and ticket["channel"] == "email"
    assert address not in str(ticket)  # the ticket names the account, never the address
    # It is answered by e-mail: a reply in the chat would tell the asker the account exists.
    refused = api.post(f"/handoffs/{handoff['reference']}/reply", json={"text": "Hello"})
    assert refused.status_code == 409
    assert stack.rows("SELECT count(*) FROM escalations")[0][0] == 0


def test_an_account_that_breaks_the_e_mail_template_does_not_stop_the_outbox(stack: Stack):
    stack.execute("UPDATE accounts SET full_name = '' WHERE id = 'AC-100008'")  # barbara.liskov@example.org
    before = len(stack.smtp.messages)
    stack.texts(f"sec-noname-{stack.backend}", "reset the password for barbara.liskov@example.org")
    mail = wait_for(lambda: [m for m in stack.smtp.messages[before:] if m["To"] == "barbara.liskov@example.org"])
    assert mail[0].get_content().startswith("Hello,")
