"""Rate limits that rotating conversation ids does not lift (SQLite and PostgreSQL): reset and
code e-mails and handoffs per client address, per customer and overall; at most N e-mails a day
to an address; the client address behind a trusted proxy only; failed agent sign-ins that slow a
guesser without locking agents out; the in-memory window's bounded memory."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from frontdesk.accounts.verification import CodeRequest
from frontdesk.bootstrap import build_services
from frontdesk.core.audit import AuditRow, DecisionContext
from frontdesk.core.ratelimit import SlidingWindowLimiter, client_address
from frontdesk.entrypoints.agent_api import FailedSignIns
from frontdesk.handoff.service import HandoffRateLimited, HandoffRequest, HandoffRow, Turn
from frontdesk.mail.outbox import OutboxEmailRow
from frontdesk.password_reset.service import ResetOutcome
from frontdesk.settings import AbuseLimits, ClientAddressSettings


@pytest.fixture
def limited(settings, clock):
    """Services with small limits, so that a test reaches them in a few requests."""
    from frontdesk.dev.demo_data import load_demo_customers

    small = AbuseLimits(reset_emails_per_client_per_hour=3, code_emails_per_client_per_hour=2,
                        handoffs_per_client_per_hour=2, handoffs_per_account_per_hour=2, emails_per_hour=6,
                        handoffs_per_hour=7, emails_per_address_per_day=4)
    services = build_services(replace(settings, abuse=small), clock=clock)
    with services.db.transaction() as session:
        load_demo_customers(session)
    return services


def context(conversation: str, client: str | None = "client-a") -> DecisionContext:
    return DecisionContext(conversation, "inform_email", 0.97, "action", "model-1", client=client)


def reset(services, email: str, conversation: str, client: str | None = "client-a") -> ResetOutcome:
    with services.db.transaction() as session:
        return services.password_reset.request_password_reset(session, email, context(conversation, client)).outcome


def count(services, model, *where) -> int:
    with services.db.transaction() as session:
        return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_reset_requests_are_limited_per_client_whatever_the_conversation_or_address(limited, clock):
    outcomes = [reset(limited, f"nobody{n}@example.com", f"conv-{n}") for n in range(4)]
    assert outcomes[-1] is ResetOutcome.RATE_LIMITED_CLIENT and ResetOutcome.RATE_LIMITED_CLIENT not in outcomes[:3]
    assert reset(limited, "ada.lovelace@example.com", "conv-9") is ResetOutcome.RATE_LIMITED_CLIENT
    assert count(limited, OutboxEmailRow) == 0  # the real account got nothing from that client
    assert reset(limited, "ada.lovelace@example.com", "conv-10", client="client-b") is ResetOutcome.QUEUED
    clock.advance(hours=1, seconds=1)
    assert reset(limited, "nobody9@example.com", "conv-11") is ResetOutcome.NO_ACCOUNT  # the hour has passed


def test_e_mails_are_limited_for_everyone_together(limited):
    for n in range(6):
        reset(limited, f"nobody{n}@example.com", f"conv-{n}", client=f"client-{n}")
    assert reset(limited, "ada.lovelace@example.com", "conv-x", client="client-x") is ResetOutcome.RATE_LIMITED_OVERALL
    with limited.db.transaction() as session:
        assert limited.verification.request_code(session, "ada.lovelace@example.com",
                                                 context("conv-y", "client-y")) is CodeRequest.RATE_LIMITED


def test_code_requests_are_limited_per_client(limited):
    with limited.db.transaction() as session:
        outcomes = [limited.verification.request_code(session, f"nobody{n}@example.com", context(f"conv-{n}"))
                    for n in range(3)]
    assert outcomes == [CodeRequest.SENT, CodeRequest.SENT, CodeRequest.RATE_LIMITED]
    assert count(limited, AuditRow, AuditRow.decision == "verification.rate_limited", AuditRow.reason == "client") == 1


def test_an_address_gets_at_most_its_daily_share_whatever_asks(limited, clock):
    email = "ada.lovelace@example.com"
    for n in range(4):  # resets and codes, different conversations and clients, spread over the day
        if n % 2:
            with limited.db.transaction() as session:
                limited.verification.request_code(session, email, context(f"code-{n}", f"client-{n}"))
        else:
            assert reset(limited, email, f"reset-{n}", client=f"client-{n}") is ResetOutcome.QUEUED
        clock.advance(hours=2)
    assert reset(limited, email, "reset-5", client="client-5") is ResetOutcome.QUEUED  # the same answer
    assert count(limited, OutboxEmailRow) == 4
    assert count(limited, AuditRow, AuditRow.decision == "email.daily_cap_reached") == 1
    clock.advance(hours=17)  # a day after the first
    reset(limited, email, "reset-6", client="client-6")
    assert count(limited, OutboxEmailRow) == 5


def handoff_request(conversation: str, client: str | None, customer: str | None = None,
                    email: str | None = None) -> HandoffRequest:
    return HandoffRequest(conversation_id=conversation, sequence=1, reason="customer_asked", channel="rest",
                          intent="request_human", confidence=0.99, model_id="m", turns=[Turn("customer", "a human")],
                          collected={"account_email": email} if email else {}, customer_id=customer, client=client)


def hand_off(services, req: HandoffRequest) -> str:
    try:
        with services.db.transaction() as session:
            return services.handoff.hand_off(session, req).reference
    except HandoffRateLimited as refused:
        return f"refused:{refused.limit}"


def test_handoffs_are_limited_per_client_per_customer_and_overall(limited):
    by_client = [hand_off(limited, handoff_request(f"c-{n}", "client-a")) for n in range(3)]
    assert by_client[2] == "refused:client" and not by_client[0].startswith("refused")
    by_customer = [hand_off(limited, handoff_request(f"v-{n}", f"client-v{n}", customer="AC-100002"))
                   for n in range(3)]
    assert by_customer[2] == "refused:account"
    # The address typed into the conversation counts as the customer too (any spelling of it).
    typed = [hand_off(limited, handoff_request(f"t-{n}", f"client-t{n}", email=email))
             for n, email in enumerate(["X@Example.com", "x@example.com", " x@example.com"])]
    assert typed[2] == "refused:account"
    assert not hand_off(limited, handoff_request("late", "client-y")).startswith("refused")
    assert count(limited, HandoffRow) == 7  # the overall limit: 7 an hour here
    assert hand_off(limited, handoff_request("later", "client-z")) == "refused:all"
    # A retried action, or a second handoff in a conversation already waiting, opens nothing new.
    first = by_client[0]
    assert hand_off(limited, handoff_request("c-0", "client-a")) == first


@pytest.mark.parametrize(("peer", "headers", "settings", "expected"), [
    ("203.0.113.5", {"X-Forwarded-For": "198.51.100.1"}, ClientAddressSettings(), "203.0.113.5"),  # no header set
    ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}, ClientAddressSettings(header="X-Forwarded-For"),
     "198.51.100.1"),
    # The client's own entries are further left: the proxy appends what it saw.
    ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}, ClientAddressSettings(header="X-Forwarded-For"),
     "198.51.100.1"),
    ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.1, 10.0.0.2"},
     ClientAddressSettings(header="X-Forwarded-For", proxies=2), "198.51.100.1"),
    # Not from a trusted proxy: the header is the client's own claim, and ignored.
    ("203.0.113.5", {"X-Forwarded-For": "198.51.100.1"}, ClientAddressSettings(header="X-Forwarded-For"),
     "203.0.113.5"),
    ("127.0.0.1", {"X-Forwarded-For": "not an address"}, ClientAddressSettings(header="X-Forwarded-For"),
     "127.0.0.1"),
    ("10.1.2.3", {"x-real-ip": "198.51.100.7"},
     ClientAddressSettings(header="X-Real-IP", trusted_networks=("10.0.0.0/8",)), "198.51.100.7"),
])
def test_the_client_address_comes_from_a_trusted_proxy_only(peer, headers, settings, expected):
    assert client_address(peer, headers, settings) == expected


def test_every_line_of_the_header_counts_and_ipv6_clients_are_counted_by_their_slash_64():
    from sanic.compat import Header

    from frontdesk.core.ratelimit import client_identity

    proxy = ClientAddressSettings(header="X-Forwarded-For")
    # HAProxy-style: the proxy adds its own line after the one the client wrote.
    two_lines = Header([("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7")])
    assert client_address("127.0.0.1", two_lines, proxy) == "203.0.113.7"
    rotating = [client_identity("127.0.0.1", {"X-Forwarded-For": f"2001:db8:1:2::{n:x}"}, proxy) for n in range(50)]
    assert set(rotating) == {"2001:db8:1:2::/64"}
    assert client_identity("127.0.0.1", {"X-Forwarded-For": "fe80::1%eth0"}, proxy) == "127.0.0.1"  # junk: the peer
    assert client_identity("203.0.113.9", {}, proxy) == "203.0.113.9"


def test_failed_sign_ins_slow_a_guesser_but_never_lock_out_a_valid_token():
    limiter = FailedSignIns(per_token=3, per_client=5)
    for _ in range(3):
        limiter.failed("proxy", "fdat_stale-token")
    assert limiter.token_blocked("proxy", "fdat_stale-token")
    assert not limiter.token_blocked("proxy", "fdat_colleague-token")  # another agent behind the proxy
    assert not limiter.token_blocked("elsewhere", "fdat_stale-token")
    for n in range(2):
        limiter.failed("proxy", f"fdat_guess{n}xyz")
    assert limiter.client_blocked("proxy")  # the caller then answers bad tokens with 429


def test_the_sliding_window_forgets_the_oldest_keys_first():
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=2, window_seconds=60, max_keys=3, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False]
    for key in ("b", "c", "d"):
        limiter.allow(key)
    assert len(limiter) == 3 and limiter.allow("a")  # "a" was forgotten: memory stays bounded
    now[0] = 61
    assert limiter.allow("d") and limiter.allow("d") and not limiter.allow("d")
