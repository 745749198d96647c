"""Billing data: subscriptions, invoices with line items, and payments, behind a port.

``SqlBilling`` reads the billing tables in the app database (the embedded default); a Stripe or
Chargebee adapter can implement the same ``BillingPort``. Amounts are ``Money`` (a Decimal with a
currency), never floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from frontdesk.core.schema import Base

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money needs a Decimal amount")

    def __str__(self) -> str:
        text = f"{self.amount:,.2f}"
        symbol = _SYMBOLS.get(self.currency)
        return f"{symbol}{text}" if symbol else f"{text} {self.currency}"


class MinorUnits(TypeDecorator):
    """A Decimal amount stored as an integer number of cents: exact on every database (SQLite
    has no decimal type and would round-trip through a float)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> int | None:
        if value is None:
            return None
        cents = (Decimal(value) * 100).to_integral_value()
        if cents != Decimal(value) * 100:
            raise ValueError(f"{value} has more than two decimal places")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: object) -> Decimal | None:
        return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


class SubscriptionRow(Base):
    __tablename__ = "billing_subscriptions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    plan = Column(String(40), nullable=False)
    seats = Column(Integer, nullable=False)
    seat_price = Column(MinorUnits(), nullable=False)
    currency = Column(String(3), nullable=False)
    interval = Column(String(8), nullable=False)  # month | year
    status = Column(String(16), nullable=False)  # active | past_due | cancelled
    renews_on = Column(Date, nullable=False)


class InvoiceRow(Base):
    __tablename__ = "billing_invoices"

    id = Column(String(20), primary_key=True)  # INV-2026-0412
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    issued_at = Column(DateTime, nullable=False)
    due_on = Column(Date, nullable=False)
    status = Column(String(16), nullable=False)  # paid | open | overdue | void
    currency = Column(String(3), nullable=False)
    total = Column(MinorUnits(), nullable=False)


class InvoiceLineRow(Base):
    __tablename__ = "billing_invoice_lines"

    id = Column(Integer, primary_key=True, autoincrement=True)
    invoice_id = Column(String(20), ForeignKey("billing_invoices.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # plan | seats | proration | tax | discount
    description = Column(String(200), nullable=False)
    amount = Column(MinorUnits(), nullable=False)


class PaymentRow(Base):
    __tablename__ = "billing_payments"

    id = Column(String(32), primary_key=True)  # the processor's charge id
    account_id = Column(String(16), ForeignKey("accounts.id"), nullable=False, index=True)
    invoice_id = Column(String(20), ForeignKey("billing_invoices.id"), nullable=True)
    created_at = Column(DateTime, nullable=False, index=True)
    amount = Column(MinorUnits(), nullable=False)
    currency = Column(String(3), nullable=False)
    status = Column(String(16), nullable=False)  # succeeded | failed | refunded
    decline_code = Column(String(40), nullable=True)
    card_brand = Column(String(16), nullable=True)
    card_last4 = Column(String(4), nullable=True)


@dataclass(frozen=True)
class InvoiceLine:
    kind: str
    description: str
    amount: Money


@dataclass(frozen=True)
class Invoice:
    id: str
    account_id: str
    issued_at: datetime
    due_on: date
    status: str
    total: Money
    lines: tuple[InvoiceLine, ...]


@dataclass(frozen=True)
class Payment:
    id: str
    account_id: str
    invoice_id: str | None
    created_at: datetime
    amount: Money
    status: str
    decline_code: str | None
    card: str | None  # "Visa ending 4242"


@dataclass(frozen=True)
class Subscription:
    plan: str
    seats: int
    seat_price: Money
    interval: str
    status: str
    renews_on: date

    @property
    def price(self) -> Money:
        return Money(self.seat_price.amount * self.seats, self.seat_price.currency)


class BillingPort(Protocol):
    def invoice(self, session: Session, invoice_id: str) -> Invoice | None: ...

    def invoices(self, session: Session, account_id: str) -> list[Invoice]: ...

    def payments(self, session: Session, account_id: str) -> list[Payment]: ...

    def subscription(self, session: Session, account_id: str) -> Subscription | None: ...


class SqlBilling:
    def _invoice(self, session: Session, row: InvoiceRow) -> Invoice:
        lines = session.execute(select(InvoiceLineRow).where(InvoiceLineRow.invoice_id == row.id)
                                .order_by(InvoiceLineRow.id)).scalars()
        return Invoice(row.id, row.account_id, row.issued_at, row.due_on, row.status, Money(row.total, row.currency),
                       tuple(InvoiceLine(li.kind, li.description, Money(li.amount, row.currency)) for li in lines))

    def invoice(self, session: Session, invoice_id: str) -> Invoice | None:
        row = session.get(InvoiceRow, invoice_id)
        return self._invoice(session, row) if row is not None else None

    def invoices(self, session: Session, account_id: str) -> list[Invoice]:
        rows = session.execute(select(InvoiceRow).where(InvoiceRow.account_id == account_id)
                               .order_by(InvoiceRow.issued_at.desc())).scalars().all()
        return [self._invoice(session, row) for row in rows]

    def payments(self, session: Session, account_id: str) -> list[Payment]:
        rows = session.execute(select(PaymentRow).where(PaymentRow.account_id == account_id)
                               .order_by(PaymentRow.created_at.desc())).scalars()
        return [
            Payment(r.id, r.account_id, r.invoice_id, r.created_at, Money(r.amount, r.currency), r.status,
                    r.decline_code, f"{r.card_brand} ending {r.card_last4}" if r.card_last4 else None)
            for r in rows
        ]

    def subscription(self, session: Session, account_id: str) -> Subscription | None:
        row = session.execute(select(SubscriptionRow).where(SubscriptionRow.account_id == account_id)
                              .order_by(SubscriptionRow.id.desc())).scalars().first()
        if row is None:
            return None
        return Subscription(row.plan, row.seats, Money(row.seat_price, row.currency), row.interval, row.status,
                            row.renews_on)
