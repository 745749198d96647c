"""The CRM port: who the customer is, for routing, priority and the agent's context.

The profile deliberately leaves out name and e-mail: the ticket carries the customer id, and
an agent who needs contact details opens the CRM record with their own access rights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from frontdesk.accounts.identity import AccountRow
from frontdesk.core.schema import utcnow


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    company: str | None
    plan: str
    tier: str
    account_age_days: int
    language: str
    timezone: str
    open_tickets: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Crm(Protocol):
    def profile(self, session: Session, customer_id: str, open_tickets: int = 0) -> CustomerProfile | None: ...


class SqlCrm:
    """Profiles from the app database (the embedded default)."""

    def profile(self, session: Session, customer_id: str, open_tickets: int = 0) -> CustomerProfile | None:
        row = session.get(AccountRow, customer_id)
        if row is None:
            return None
        return CustomerProfile(
            customer_id=row.id,
            company=row.company,
            plan=row.plan,
            tier=row.tier,
            account_age_days=max((utcnow() - row.created_at).days, 0),
            language=row.language,
            timezone=row.timezone,
            open_tickets=open_tickets,
        )
