"""Billing answers for a verified customer: latest invoice, a charge explained, payment history,
current plan, why a payment failed. Only the verified customer's own data is ever shown: a
request naming another account's invoice is refused and audited.

Each answer says whether it resolved the question; an unresolved one (say, no charge matches)
goes to billing triage and a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from frontdesk.accounts.identity import AccountRow
from frontdesk.billing.records import BillingPort, Invoice, Payment
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.schema import utcnow

LOOKUP_INTENTS = frozenset({
    "ask_latest_invoice", "ask_charge_explanation", "ask_payment_history", "ask_plan_details", "ask_payment_failed",
})
# Decline codes (Stripe's vocabulary, which most processors share) in words a customer understands.
DECLINE_REASONS = {
    "insufficient_funds": "the card had insufficient funds",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the security code (CVC) was incorrect",
    "do_not_honor": "your bank declined it without giving a reason",
    "card_declined": "your bank declined it",
    "authentication_required": "your bank asked for extra authentication (3-D Secure) that was not completed",
    "processing_error": "there was a temporary processing error",
    "lost_card": "the card was reported lost",
}
_INVOICE_ID = re.compile(r"\bINV-\d{4}-\d{3,6}\b", re.IGNORECASE)
_AMOUNT = re.compile(r"(?:[$€£]\s?)?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s?(?:usd|eur|gbp|dollars|euros?|pounds)?",
                     re.IGNORECASE)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
     "december"])}
_MONTHS.update({name[:3]: number for name, number in list(_MONTHS.items())})
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]{3,9})\b", re.IGNORECASE)
_MONTH_DAY = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_YEAR = re.compile(r"\b(20\d{2})\b")


@dataclass(frozen=True)
class BillingAnswer:
    text: str
    resolved: bool  # False: the question needs a person (triage)


def mentioned_amount(text: str) -> Decimal | None:
    for match in _AMOUNT.finditer(text):
        whole, cents = match.group(1).replace(",", ""), match.group(2)
        has_money_sign = bool(re.search(r"[$€£]|usd|eur|gbp|dollar|euro|pound", match.group(0), re.IGNORECASE))
        if not has_money_sign and ((len(whole) == 4 and whole.startswith("20")) or (len(whole) <= 2 and not cents)):
            continue  # a year or a day of the month, not an amount
        try:
            return Decimal(f"{whole}.{cents}") if cents else Decimal(whole)
        except InvalidOperation:
            continue
    return None


def mentioned_date(text: str, today: date) -> date | None:
    lowered = text.lower()
    if "yesterday" in lowered:
        return today - timedelta(days=1)
    if "today" in lowered:
        return today
    if match := _ISO_DATE.search(lowered):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        for match in pattern.finditer(lowered):
            month = _MONTHS.get(match.group(month_group).lower())
            if month is None:
                continue
            try:
                candidate = date(today.year, month, int(match.group(day_group)))
            except ValueError:
                continue
            return candidate if candidate <= today else candidate.replace(year=today.year - 1)
    return None


def mentioned_period(text: str, today: date) -> tuple[date, date, str]:
    """The period a payment-history question asks about; the last 12 months by default."""
    lowered = text.lower()
    if "last month" in lowered:
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end, "last month"
    if "this month" in lowered:
        return today.replace(day=1), today, "this month"
    if "this year" in lowered:
        return date(today.year, 1, 1), today, "this year"
    if "last year" in lowered:
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), str(today.year - 1)
    if match := re.search(r"last (\d{1,2}|three|six|two) months", lowered):
        words = {"two": 2, "three": 3, "six": 6}
        months = int(words.get(match.group(1), match.group(1) if match.group(1).isdigit() else 12))
        return today - timedelta(days=30 * months), today, f"the last {months} months"
    if match := _YEAR.search(lowered):
        year = int(match.group(1))
        return date(year, 1, 1), min(date(year, 12, 31), today), str(year)
    return today - timedelta(days=365), today, "the last 12 months"


class BillingDesk:
    def __init__(
        self, billing: BillingPort, audit: AuditLog, portal_url: str, clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.billing = billing
        self.audit = audit
        self.portal_url = portal_url.rstrip("/")
        self.clock = clock

    def answer(
        self, session: Session, intent: str, text: str, customer_id: str, context: DecisionContext,
    ) -> BillingAnswer:
        if intent not in LOOKUP_INTENTS:
            raise ValueError(f"{intent} is not a billing lookup")
        refusal = self.refuse_foreign_invoice(session, text, customer_id, context)
        if refusal is not None:
            return refusal
        zone = self._zone(session, customer_id)
        named = {m.upper() for m in _INVOICE_ID.findall(text or "")}
        handler = {
            "ask_latest_invoice": self._latest_invoice, "ask_charge_explanation": self._charge,
            "ask_payment_history": self._history, "ask_plan_details": self._plan,
            "ask_payment_failed": self._failed_payment,
        }[intent]
        result = handler(session, customer_id, text or "", zone, sorted(named))
        self.audit.record(session, context, "billing.answered" if result.resolved else "billing.unresolved",
                          reason=intent, customer_id=customer_id)
        return result

    def refuse_foreign_invoice(
        self, session: Session, text: str, customer_id: str, context: DecisionContext,
    ) -> BillingAnswer | None:
        """A refusal when the message names an invoice that is not the customer's own, else None."""
        for invoice_id in sorted({m.upper() for m in _INVOICE_ID.findall(text or "")}):
            invoice = self.billing.invoice(session, invoice_id)
            if invoice is None or invoice.account_id != customer_id:
                # The same answer whether the invoice exists or not: nothing leaks.
                self.audit.record(session, context, "billing.access_denied", reason="not_the_customers_invoice",
                                  customer_id=customer_id)
                return BillingAnswer(
                    f"I can't find {invoice_id} on your account, so I can't show it. I can only show invoices "
                    "of the account you verified. If it belongs to a colleague's account, they can ask me "
                    "themselves, or our billing team can help.", resolved=True)
        return None

    # -- lookups --------------------------------------------------------------------------------

    def _latest_invoice(self, session: Session, customer_id: str, text: str, zone: ZoneInfo,
                        named: list[str]) -> BillingAnswer:
        invoices = self.billing.invoices(session, customer_id)
        invoice = next((i for i in invoices if i.id in named), None) or (invoices[0] if invoices else None)
        if invoice is None:
            return BillingAnswer("I don't see any invoices on your account yet.", resolved=True)
        statuses = {"paid": "paid", "open": f"due on {_day(invoice.due_on)}",
                    "overdue": f"overdue since {_day(invoice.due_on)}", "void": "void"}
        status = statuses.get(invoice.status, invoice.status)
        if invoice.status == "open" and invoice.due_on < self._local(self.clock(), zone).date():
            status = statuses["overdue"]
        return BillingAnswer(
            f"Your {'latest ' if invoice is invoices[0] else ''}invoice {invoice.id} of "
            f"{_day(self._local(invoice.issued_at, zone))} is {invoice.total}, {status}. "
            f"You can download the PDF here: {self.portal_url}/invoices/{invoice.id}.pdf", resolved=True)

    def _charge(self, session: Session, customer_id: str, text: str, zone: ZoneInfo,
                named: list[str]) -> BillingAnswer:
        amount = mentioned_amount(text)
        day = mentioned_date(text, self._local(self.clock(), zone).date())
        payments = [p for p in self.billing.payments(session, customer_id) if p.status != "failed"]
        candidates = [
            p for p in payments
            if (amount is None or p.amount.amount == amount)
            and (day is None or self._local(p.created_at, zone).date() == day)
        ]
        if amount is None and day is None and payments:
            # "What's this charge?" with no amount or date: most customers mean the latest one (the
            # closed beta handed these off before), and saying which charge this is lets them correct it.
            latest = max(payments, key=lambda p: p.created_at)
            invoice = self.billing.invoice(session, latest.invoice_id) if latest.invoice_id else None
            return BillingAnswer(f"Your most recent charge: {self._explain(latest, invoice, zone)} If you meant "
                                 "another charge, tell me its amount or date.", resolved=True)
        if len(candidates) != 1:
            return BillingAnswer(
                "I couldn't match that to exactly one charge on your account. I'm passing it to our billing "
                "team with the details, so they can check it.", resolved=False)
        payment = candidates[0]
        invoice = self.billing.invoice(session, payment.invoice_id) if payment.invoice_id else None
        return BillingAnswer(self._explain(payment, invoice, zone), resolved=True)

    def _explain(self, payment: Payment, invoice: Invoice | None, zone: ZoneInfo) -> str:
        when = _day(self._local(payment.created_at, zone))
        if invoice is None:
            return f"The {payment.amount} charge on {when} was a one-off charge with no invoice lines."
        lines = "; ".join(f"{line.description}: {line.amount}" for line in invoice.lines)
        return (f"The {payment.amount} charge on {when} paid invoice {invoice.id}. It is made up of: {lines}. "
                f"The PDF: {self.portal_url}/invoices/{invoice.id}.pdf")

    def _history(self, session: Session, customer_id: str, text: str, zone: ZoneInfo,
                 named: list[str]) -> BillingAnswer:
        start, end, label = mentioned_period(text, self._local(self.clock(), zone).date())
        payments = [p for p in self.billing.payments(session, customer_id)
                    if start <= self._local(p.created_at, zone).date() <= end]
        if not payments:
            return BillingAnswer(f"I don't see any payments for {label}.", resolved=True)
        shown = payments[:12]
        lines = "\n".join(
            f"- {_day(self._local(p.created_at, zone))}: {p.amount}, {_payment_status(p)}"
            + (f" ({p.invoice_id})" if p.invoice_id else "") for p in shown)
        more = f"\n…and {len(payments) - len(shown)} more in the billing portal." if len(payments) > len(shown) else ""
        return BillingAnswer(f"Your payments for {label}:\n{lines}{more}\nAll invoices: {self.portal_url}/invoices",
                             resolved=True)

    def _plan(self, session: Session, customer_id: str, text: str, zone: ZoneInfo,
              named: list[str]) -> BillingAnswer:
        subscription = self.billing.subscription(session, customer_id)
        if subscription is None:
            return BillingAnswer("I don't see a subscription on your account.", resolved=True)
        period = "month" if subscription.interval == "month" else "year"
        state = "It renews" if subscription.status == "active" else f"It is {subscription.status.replace('_', ' ')}; " \
            "the renewal date is"
        return BillingAnswer(
            f"You're on the {subscription.plan.title()} plan, billed {subscription.interval}ly: {subscription.seats} "
            f"seats at {subscription.seat_price} each, {subscription.price} per {period} before tax. "
            f"{state} on {_day(subscription.renews_on)}. To change seats or plan: {self.portal_url}/plan",
            resolved=True)

    def _failed_payment(self, session: Session, customer_id: str, text: str, zone: ZoneInfo,
                        named: list[str]) -> BillingAnswer:
        failed = next((p for p in self.billing.payments(session, customer_id) if p.status == "failed"), None)
        update = f"You can update your payment method here: {self.portal_url}/payment-method"
        if failed is None:
            return BillingAnswer(f"I don't see a failed payment on your account. {update}", resolved=True)
        reason = DECLINE_REASONS.get(failed.decline_code or "", "your bank declined it")
        card = f" on your {failed.card}" if failed.card else ""
        return BillingAnswer(
            f"The payment of {failed.amount}{card} on {_day(self._local(failed.created_at, zone))} failed because "
            f"{reason}. {update}. We retry automatically after you update it. For your security, please don't "
            "type card numbers in this chat.", resolved=True)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _zone(session: Session, customer_id: str) -> ZoneInfo:
        account = session.get(AccountRow, customer_id)
        try:
            return ZoneInfo(account.timezone if account is not None else "UTC")
        except (KeyError, ValueError):
            return ZoneInfo("UTC")

    @staticmethod
    def _local(moment: datetime, zone: ZoneInfo) -> datetime:
        return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)


def _day(moment: date | datetime) -> str:
    return f"{moment.day} {moment.strftime('%b %Y')}"


def _payment_status(payment: Payment) -> str:
    return {"succeeded": "paid", "failed": "failed", "refunded": "refunded"}.get(payment.status, payment.status)
