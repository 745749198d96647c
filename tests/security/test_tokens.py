"""Attack 4: tokens and secrets, at rest and in transit.

- The support site's customer token never reaches the tracker store: only its attestation
  (customer id, jti, expiry, a MAC) does. A token without iss, aud or jti binds nothing, and a
  token replayed in another conversation is refused.
- No secret is on a command line (``ps`` shows those to every user), and Rasa's HTTP API takes
  no ``?token=``: a JWT in the Authorization header, or nothing.
- Agent API tokens expire, and ``token list`` shows when.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.stack import PRODUCTION_SECRETS, Stack, WidgetCustomer, customer_token_settings, frontdesk, issue_token

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def audit_reasons(stack: Stack, name: str, decision: str) -> list[str]:
    return [r.reason for r in stack.rows("SELECT reason FROM audit_records WHERE conversation_id = :c "
                                         "AND decision = :d ORDER BY id", c=stack.conversation(name), d=decision)]


def test_the_customer_token_is_not_stored_and_cannot_be_replayed(stack: Stack):
    token = stack.customer_token("AC-100002")
    first = f"sec-token-{stack.backend}"
    assert "120 seats" in " ".join(stack.texts(first, "how many seats are we paying for",
                                               metadata={"customer_token": token}))
    stored = " ".join(r.data for r in stack.rows("SELECT data FROM events WHERE sender_id = :c",
                                                 c=stack.conversation(first)))
    assert token not in stored and token.split(".")[1] not in stored  # neither the token nor its claims
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["jti"] in stored and '"frontdesk_customer"' in stored  # the attestation instead

    # The same token presented by another conversation (copied from a log, a proxy, a screen).
    replay = f"sec-token-replay-{stack.backend}"
    answer = " ".join(stack.texts(replay, "how many seats are we paying for", metadata={"customer_token": token}))
    assert "120 seats" not in answer and "check it's you" in answer
    assert audit_reasons(stack, replay, "customer.token_rejected") == ["replayed_in_another_conversation"]


async def test_a_binding_lasts_only_while_the_page_vouches_for_it(stack: Stack):
    """A shared browser: the customer signs out of the support site (the widget then says
    nobody is signed in); whoever asks next in that chat sees none of their billing data."""
    customer = WidgetCustomer(stack.rasa_url)
    await customer.connect()
    try:
        await customer.say("how many seats are we paying for", {"customer_token": stack.customer_token("AC-100002")})
        assert "120 seats" in (await customer.next_message())["text"]
        await customer.say("how many seats are we paying for", {"customer_token": None})
        answer = (await customer.next_message())["text"]
        assert "120 seats" not in answer and "check it's you" in answer
    finally:
        await customer.client.disconnect()
    assert "signed_out" in [r.reason for r in stack.rows(
        "SELECT reason FROM audit_records WHERE conversation_id = :c AND decision = 'customer.unbound'",
        c=customer.conversation_id)]


@pytest.mark.parametrize("missing", ["iss", "aud", "jti"])
def test_a_token_without_issuer_audience_or_id_binds_nothing(stack: Stack, missing: str):
    site = customer_token_settings()
    now = int(time.time())
    claims = {"sub": "AC-100002", "exp": now + 600, "iat": now, "iss": site.issuer, "aud": site.audience,
              "jti": f"sec-{missing}-{stack.backend}"}
    del claims[missing]
    name = f"sec-claims-{missing}-{stack.backend}"
    answer = " ".join(stack.texts(name, "how many seats are we paying for",
                                  metadata={"customer_token": jwt.encode(claims, site.secret, algorithm="HS256")}))
    assert "120 seats" not in answer
    assert audit_reasons(stack, name, "customer.token_rejected") == ["malformed"]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def test_no_secret_is_on_a_command_line(stack: Stack):
    command_lines = []
    for pid in _descendants(stack.process.pid):
        try:
            command_lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    assert any("frontdesk_rasa.rasa_server" in c for c in command_lines), command_lines
    assert any("frontdesk_rasa.action_server" in c for c in command_lines), command_lines
    for line in command_lines:
        assert "--auth-token" not in line and "--jwt-secret" not in line and "token=" not in line, line
        for secret in PRODUCTION_SECRETS.values() if stack.production else ():
            assert secret not in line


def test_rasa_s_api_takes_a_jwt_in_a_header_never_a_token_in_the_url(stack: Stack):
    name = f"sec-api-{stack.backend}"
    stack.texts(name, "hello")
    url = f"{stack.rasa_url}/conversations/{stack.conversation(name)}/tracker"
    assert httpx.get(url, timeout=10).status_code == 401
    for guess in ("", "token", PRODUCTION_SECRETS["RASA_JWT_SECRET"]):
        assert httpx.get(url, params={"token": guess}, timeout=10).status_code == 401
    forged = jwt.encode({"user": {"username": "x", "role": "admin"}, "exp": int(time.time()) + 60},
                        "not-the-secret-0123456789abcdef0123456789", algorithm="HS256")
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=10).status_code == 401
    if stack.production:  # the secret is the test's: the header works
        signed = jwt.encode({"user": {"username": "ops", "role": "admin"}, "exp": int(time.time()) + 60},
                            PRODUCTION_SECRETS["RASA_JWT_SECRET"], algorithm="HS256")
        tracker = httpx.get(url, headers={"Authorization": f"Bearer {signed}"}, timeout=10)
        assert tracker.status_code == 200 and tracker.json()["sender_id"] == stack.conversation(name)


def test_agent_tokens_expire(stack: Stack):
    token = issue_token(stack, f"Short-lived {stack.backend}")
    me = f"{stack.web_url}/api/agent/me"
    assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    listed = json.loads(frontdesk(stack, "agent", "token", "list", "--json"))
    [mine] = [t for t in listed if t["agent"] == f"Short-lived {stack.backend}"]
    lifetime = time.mktime(time.strptime(mine["expires_at"][:19], "%Y-%m-%d %H:%M:%S")) - time.mktime(
        time.strptime(mine["created_at"][:19], "%Y-%m-%d %H:%M:%S"))
    assert round(lifetime / 86400) == 90 and mine["expired"] is False
    # Travel past the expiry instead of waiting 90 days.
    stack.execute("UPDATE agent_api_tokens SET expires_at = '2000-01-01 00:00:00' WHERE id = :i", i=mine["id"])
    assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401
    listed = json.loads(frontdesk(stack, "agent", "token", "list", "--json"))
    assert next(t for t in listed if t["id"] == mine["id"])["expired"] is True
