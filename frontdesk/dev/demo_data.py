"""Synthetic demo customers: made-up people at made-up companies, safe to show anyone.

Loading is idempotent (rows are matched by id), so ``make run`` can do it every time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.accounts.identity import AccountRow, AccountStatus, AuthMethod
from frontdesk.billing.records import InvoiceLineRow, InvoiceRow, PaymentRow, SubscriptionRow

# id, e-mail, name, company, plan, tier, time zone, sign-in, status
Customer = tuple[str, str, str, str, str, str, str, AuthMethod, AccountStatus]
DEMO_CUSTOMERS: tuple[Customer, ...] = (
    ("AC-100001", "ada.lovelace@example.com", "Ada Lovelace", "Analytical Engines Ltd",
     "business", "vip", "Europe/London", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100002", "grace.hopper@example.org", "Grace Hopper", "Cobol Works",
     "enterprise", "standard", "America/New_York", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100003", "alan.turing@example.net", "Alan Turing", "Bletchley Analytics",
     "team", "standard", "Europe/London", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100004", "katherine.johnson@example.com", "Katherine Johnson", "Orbital Maths Inc",
     "team", "standard", "America/Chicago", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100005", "linus.t@example.org", "Linus Torvalds", "Kernel Co",
     "starter", "standard", "Europe/Helsinki", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100006", "margaret.hamilton@example.net", "Margaret Hamilton", "Apollo Guidance",
     "enterprise", "vip", "America/Los_Angeles", AuthMethod.SSO, AccountStatus.ACTIVE),
    ("AC-100007", "edsger.dijkstra@example.com", "Edsger Dijkstra", "Shortest Path BV",
     "business", "standard", "Europe/Amsterdam", AuthMethod.PASSWORD, AccountStatus.SECURITY_LOCKED),
    ("AC-100008", "barbara.liskov@example.org", "Barbara Liskov", "Substitution Systems",
     "team", "standard", "America/New_York", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100009", "tim.bl@example.net", "Tim Berners-Lee", "Hypertext Partners",
     "starter", "standard", "Europe/London", AuthMethod.PASSWORD, AccountStatus.ACTIVE),
    ("AC-100010", "radia.perlman@example.com", "Radia Perlman", "Spanning Tree LLC",
     "business", "standard", "America/Denver", AuthMethod.SSO, AccountStatus.ACTIVE),
)


def synthetic_customers(count: int, seed: int = 7) -> tuple[Customer, ...]:
    """``count`` more made-up customers (AC-200001 …, customerNNNN@beta.example.com), with a
    seeded plan, tier and time-zone mix, for the closed-beta simulator: a month's traffic comes
    from many different customers, so per-address rate limits behave as they would live."""
    pick = random.Random(seed)  # noqa: S311 - reproducible made-up data, not security
    zones = ("Europe/London", "America/New_York", "Europe/Amsterdam", "America/Chicago", "Europe/Helsinki")
    return tuple(
        (f"AC-{200000 + n}", f"customer{n:04d}@beta.example.com", f"Beta Customer {n}", f"Beta Company {n}",
         pick.choice(("starter", "team", "team", "business", "enterprise")),
         "vip" if pick.random() < 0.05 else "standard", pick.choice(zones),
         AuthMethod.PASSWORD, AccountStatus.ACTIVE)
        for n in range(1, count + 1)
    )


def load_demo_customers(session: Session, customers: Sequence[Customer] = DEMO_CUSTOMERS) -> int:
    """Inserts the demo customers that are missing; returns how many were added."""
    added = 0
    for account_id, email, name, company, plan, tier, tz, auth, status in customers:
        if session.get(AccountRow, account_id) is not None:
            continue
        session.add(
            AccountRow(
                id=account_id,
                email=email,
                full_name=name,
                company=company,
                plan=plan,
                tier=tier,
                timezone=tz,
                auth_method=auth.value,
                status=status.value,
                # No password until a reset sets one (the reset flow is how a demo user gets in): as
                # safe as a random one nobody knows, without the 84 ms of scrypt per customer that
                # made seeding a test database take most of a second (timed in accounts/passwords.py).
                password_hash=None,
            )
        )
        added += 1
    return added


# plan -> (seat price, seats) for the demo subscriptions; EU customers pay in EUR with 20% VAT.
_PLANS = {"starter": (Decimal("12.00"), 3), "team": (Decimal("29.00"), 10), "business": (Decimal("49.00"), 25),
          "enterprise": (Decimal("79.00"), 120)}
_EUR_ZONES = ("Europe/Amsterdam", "Europe/Helsinki")
# Customers whose latest payment failed, and why (the processor's decline code).
_FAILED = {"AC-100003": "expired_card", "AC-100008": "insufficient_funds"}


def decline_code(account_id: str) -> str | None:
    """Why this customer's latest payment failed, or None; one synthetic customer in eight has
    a failed payment."""
    serial = int(account_id[3:])
    if serial < 200000:
        return _FAILED.get(account_id)
    return ("expired_card", "insufficient_funds")[serial // 8 % 2] if serial % 8 == 0 else None


def _invoice_base(account_id: str) -> int:
    # The ten demo customers keep their short invoice numbers (INV-2026-0105, …); synthetic
    # customers number from 20000 up, so the two never collide.
    serial = int(account_id[3:])
    return (serial - 100000) * 100 if serial < 200000 else 20000 + (serial - 200000) * 10


def load_demo_billing(session: Session, today: date | None = None,
                      customers: Sequence[Customer] = DEMO_CUSTOMERS) -> int:
    """Six months of monthly invoices and payments per demo customer, ending this month.

    Idempotent: customers who already have a subscription are skipped. Amounts are Decimals.
    """
    today = today or date.today()
    added = 0
    for account_id, _email, _name, _company, plan, _tier, zone, _auth, _status in customers:
        if session.execute(select(SubscriptionRow.id).where(SubscriptionRow.account_id == account_id)).first():
            continue
        seat_price, seats = _PLANS[plan]
        currency = "EUR" if zone in _EUR_ZONES else ("GBP" if zone == "Europe/London" else "USD")
        next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        session.add(SubscriptionRow(account_id=account_id, plan=plan, seats=seats, seat_price=seat_price,
                                    currency=currency, interval="month",
                                    status="past_due" if decline_code(account_id) else "active", renews_on=next_month))
        number = _invoice_base(account_id)
        month = today.replace(day=1)
        for age in range(6):  # this month first, going back
            issued = datetime(month.year, month.month, 1, 9, 0)
            invoice_id = f"INV-{month.year}-{number + 5 - age:04d}"
            lines = [("seats", f"{plan.title()} plan, {seats} seats at {seat_price} each", seat_price * seats)]
            if age == 2:  # two seats added mid-month: prorated
                lines.append(("proration", "2 seats added on the 15th (prorated)", (seat_price * 2 / 2).quantize(
                    Decimal("0.01"))))
            if currency == "EUR":
                lines.append(("tax", "VAT 20%", (sum(a for _, _, a in lines) * Decimal("0.20")).quantize(
                    Decimal("0.01"))))
            total = sum(amount for _, _, amount in lines)
            failed = age == 0 and decline_code(account_id) is not None
            session.add(InvoiceRow(id=invoice_id, account_id=account_id, issued_at=issued,
                                   due_on=issued.date() + timedelta(days=14), status="open" if failed else "paid",
                                   currency=currency, total=total))
            session.flush()
            for kind, description, amount in lines:
                session.add(InvoiceLineRow(invoice_id=invoice_id, kind=kind, description=description, amount=amount))
            session.add(PaymentRow(id=f"ch_{account_id[-6:]}_{month:%Y%m}", account_id=account_id,
                                   invoice_id=invoice_id, created_at=issued + timedelta(hours=1), amount=total,
                                   currency=currency, status="failed" if failed else "succeeded",
                                   decline_code=decline_code(account_id) if failed else None,
                                   card_brand="Visa", card_last4=f"{4242 + number // 100:04d}"))
            month = (month - timedelta(days=1)).replace(day=1)
        added += 1
    return added
