"""Synthetic demo customers: made-up people at made-up companies, safe to show anyone.

Loading is idempotent (rows are matched by id), so ``make run`` can do it every time.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from frontdesk.identity import AccountRow, AccountStatus, AuthMethod
from frontdesk.passwords import hash_password

# id, e-mail, name, company, plan, tier, time zone, sign-in, status
DEMO_CUSTOMERS: tuple[tuple[str, str, str, str, str, str, str, AuthMethod, AccountStatus], ...] = (
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


def load_demo_customers(session: Session) -> int:
    """Inserts the demo customers that are missing; returns how many were added."""
    added = 0
    for account_id, email, name, company, plan, tier, tz, auth, status in DEMO_CUSTOMERS:
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
                # Nobody knows these passwords: the reset flow is how a demo user gets in.
                password_hash=hash_password(secrets.token_urlsafe(24)) if auth is AuthMethod.PASSWORD else None,
            )
        )
        added += 1
    return added
