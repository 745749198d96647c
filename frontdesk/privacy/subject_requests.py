"""Data-subject requests: everything held about one customer, exported (GDPR Art. 15) or erased
(Art. 17). The operator's commands are ``frontdesk privacy export|erase`` (``cli_privacy.py``).

A customer is named by an account id (``AC-100004``) or an e-mail address. How each kind of data
links to them -- the map this module follows:

==========================  =================================================================
accounts                    the row itself: ``id``, ``email`` (unique, normalised)
conversations               a conversation id is the customer's when any of these says so:
                            a ``customer_id`` slot event with their account id (signed token or
                            e-mail code) in Rasa's ``events``; a handoff with ``customer_id``; a
                            verification code for their account or their address (``email_key``,
                            an HMAC of the address); a password-reset request for their address
                            (``email_key``, another HMAC); an audit record whose details name
                            their ``customer_id``; an event whose text contains their address.
                            A conversation bound to *another* customer (its ``customer_id`` slot
                            or handoff) is never erased whole: it is counted and reported
                            (``other_customers_conversations``) for a person to review.
tracker events              Rasa's ``events`` rows, ``sender_id`` = conversation id
handoffs, ticket_outbox     ``handoffs.customer_id`` or ``conversation_id``; outbox rows by handoff
agent_feedback              by handoff (the example text is the customer's message)
tickets, ticket_comments    embedded backend: the handoffs' ticket ids, ``tickets.customer_id``,
                            and ``tickets.conversation_id`` = the conversation's *reference*
Zendesk                     the handoffs' ticket ids, the end user with their address (Search
                            Users) and every ticket that user requested
csat_responses              by conversation id or handoff id
telemetry_events,           analytics' event log and facts (frontdesk.insights.telemetry), by
turn_facts,                 conversation id: deleted (the counts they fed lose one conversation)
conversation_facts
verification_codes          ``account_id``, ``email_key`` or conversation id
password_reset_requests     ``email_key`` or conversation id
password_reset_tokens       ``account_id``
customer_token_uses         conversation id
escalations                 ``account_id`` or conversation id
outbox_emails               ``account_id`` (the e-mail goes to the account's address)
rate_limit_hits             bucket ``handoff:account``, key = account id or the pseudonym of the
                            address (other buckets count client pseudonyms: no link to a person)
audit_records               conversation id (``AuditLog.anonymise_conversations``)
billing                     subscriptions, invoices (with lines), payments by ``account_id``
==========================  =================================================================

Erasure, and why each kind is treated as it is:

- Deleted: the account, conversations (their events), handoffs, their outbox rows, agent
  feedback, tickets and comments, verification codes, reset requests and tokens, token uses,
  escalations, e-mails, rate-limit hits, subscriptions. None has a purpose once the customer is
  gone, and deleting is the only erasure that leaves nothing to re-identify.
- Anonymised, kept: CSAT responses (the score, flow and time stay for the satisfaction figures,
  unlinked from the conversation and handoff); audit records (the trail's hash chain must stay
  verifiable, so ``AuditLog.anonymise_conversations`` strips what identifies and keeps the
  decisions); invoices, their lines and payments. Invoices are accounting records that tax law
  makes us keep for years (Art. 17(3)(b)): amounts, dates, numbers and statuses stay, so the books
  still add up, but they move to a new random *tombstone* account (``ER-…``, no name, an
  ``.invalid`` address, no password, locked) and payments lose the card's brand and last digits.
  The legally complete invoice (name, address) is the billing system of record's to keep, not
  this copy's.
- Zendesk tickets and the requester end user are deleted for good through its API
  (``TicketingBackend.erase_requester_data``).

Per store, all or nothing: the ticketing backend first (retried), then the app database and
Rasa's events in one transaction. If the backend cannot finish, the app database is left as it
is -- it holds the ticket ids needed to finish -- and the report says exactly what was not
erased; running the erasure again completes it. What is gone already is skipped, so a second
erasure finds nothing and says so.

Every erasure is recorded in ``subject_requests``: who asked, when, the outcome and counts per
kind -- never the customer's id, address or anything erased.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Text,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from frontdesk.accounts.customer_token import TokenUseRow
from frontdesk.accounts.identity import AccountRow, AccountStatus, AuthMethod, normalise_email
from frontdesk.accounts.verification import VerificationRow
from frontdesk.agents.feedback import FeedbackRow
from frontdesk.billing.records import InvoiceLineRow, InvoiceRow, PaymentRow, SubscriptionRow
from frontdesk.core.audit import AuditLog, AuditRow
from frontdesk.core.chat_sessions import ChatSessions
from frontdesk.core.db import Database
from frontdesk.core.ratelimit import RateLimitHitRow
from frontdesk.core.schema import Base, utcnow
from frontdesk.handoff.escalation import EscalationRow
from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.csat import CsatRow
from frontdesk.insights.telemetry import ConversationFactRow, TelemetryEvent, TurnFactRow
from frontdesk.mail.outbox import OutboxEmailRow
from frontdesk.password_reset.service import ResetRequestRow, ResetTokenRow
from frontdesk.privacy.tracker_events import rasa_events, rasa_events_exist
from frontdesk.ticketing.port import TicketErasure, TicketingBackend
from frontdesk.ticketing.sql import SqlTicketing, TicketCommentRow, TicketRow

log = logging.getLogger(__name__)

ERASED_CONVERSATION = "erased"  # what an anonymised CSAT response says instead of the conversation
TOMBSTONE_PREFIX = "ER-"
HANDOFF_ACCOUNT_BUCKET = "handoff:account"
# The kinds an erasure anonymises and keeps (see above); every other kind is deleted.
ANONYMISED_KINDS = frozenset({"audit_records", "csat_responses", "billing_invoices", "billing_payments"})
# How often the ticketing backend is asked, and the waits between (seconds; its Retry-After, when
# longer, is honoured up to the last figure).
RETRY_WAITS = (1.0, 4.0)
# Columns an export leaves out: credentials and secret-derived values, no use to the customer.
_SECRET_COLUMNS = frozenset({"password_hash", "code_hash", "token_hash", "jti_hash", "email_key"})


class SubjectRequestRow(Base):
    """One data-subject request as it was handled: no customer id, address or erased data."""

    __tablename__ = "subject_requests"

    id = Column(Integer, primary_key=True, autoincrement=True)
    request_id = Column(String(32), nullable=False, unique=True)  # also stamped on anonymised audit records
    kind = Column(String(16), nullable=False)  # access (an export) | erasure
    requested_by = Column(String(80), nullable=False)  # the operator, as given to the CLI
    requested_at = Column(DateTime, nullable=False, default=utcnow)
    completed_at = Column(DateTime, nullable=True)  # None: something is still there (see outstanding)
    outcome = Column(String(16), nullable=False)  # completed | nothing_found | incomplete
    counts = Column(Text, nullable=False, default="{}")  # JSON {kind: rows exported or erased}
    outstanding = Column(Text, nullable=False, default="{}")  # JSON {kind: count not erased}


class UnknownCustomer(LookupError):
    """Neither an account nor anything else is held under this account id or address."""


@dataclass(frozen=True)
class ErasureReport:
    request_id: str
    erased: dict[str, int]  # per kind: rows deleted or anonymised, records deleted elsewhere
    not_erased: dict[str, int] = field(default_factory=dict)  # per kind: still there, after a failure
    problem: str | None = None  # why not, without personal data
    other_customers_conversations: int = 0  # conversations of other customers that mention this one

    @property
    def complete(self) -> bool:
        return not self.not_erased

    @property
    def total(self) -> int:
        return sum(self.erased.values())

    @property
    def found_nothing(self) -> bool:
        return self.complete and self.total == 0

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "complete": self.complete, "erased": self.erased,
                "not_erased": self.not_erased, "problem": self.problem,
                "other_customers_conversations": self.other_customers_conversations}


@dataclass
class _Subject:
    """Where one customer's data is: the keys every query below selects by."""

    account: AccountRow | None
    account_id: str | None
    email: str | None
    conversations: list[str]
    other_customers_conversations: int
    handoff_ids: list[int]
    embedded_ticket_ids: list[int]
    external_ticket_ids: list[str]  # in the configured backend, when that is not the embedded one


class SubjectRequests:
    """Export and erasure of one customer's data, over the app database, Rasa's events and the
    ticketing backend. ``secret_key`` is the server's (the HMACs of addresses are keyed with it)."""

    def __init__(self, db: Database, secret_key: str, ticketing: TicketingBackend, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow, retry_waits: Sequence[float] = RETRY_WAITS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.db = db
        self._key = secret_key.encode("utf-8")
        self.sessions = ChatSessions(secret_key)
        self.ticketing = ticketing
        self.audit = audit
        self.clock = clock
        self.retry_waits = tuple(retry_waits)
        self.sleep = sleep

    # -- finding the customer ---------------------------------------------------------------------

    def _verification_key(self, email: str) -> str:
        # As EmailVerification._hmac("email", address) (frontdesk/accounts/verification.py).
        return hmac.new(self._key, f"email\x1f{normalise_email(email)}".encode(), "sha256").hexdigest()

    def _reset_key(self, email: str) -> str:
        # As PasswordResetService.email_key (frontdesk/password_reset/service.py).
        return hmac.new(self._key, normalise_email(email).encode("utf-8"), "sha256").hexdigest()

    def _locate(self, session: Session, customer: str) -> _Subject:
        wanted = customer.strip()
        if "@" in wanted:
            account = session.execute(
                select(AccountRow).where(AccountRow.email == normalise_email(wanted))).scalar_one_or_none()
            account_id, email = (account.id, account.email) if account else (None, normalise_email(wanted))
        else:
            wanted = wanted.upper()  # account ids are upper case: "ac-100004" is AC-100004
            account = session.get(AccountRow, wanted)
            account_id, email = wanted, (account.email if account else None)
        if account_id is not None and account_id.startswith(TOMBSTONE_PREFIX):
            account, account_id = None, None  # a tombstone holds nobody's data

        linked: set[str] = set()
        if account_id:
            linked |= set(session.execute(select(HandoffRow.conversation_id)
                                          .where(HandoffRow.customer_id == account_id)).scalars())
            linked |= set(session.execute(select(VerificationRow.conversation_id)
                                          .where(VerificationRow.account_id == account_id)).scalars())
            pattern = f'%"customer_id": "{_like_escaped(account_id)}"%'
            linked |= {c for c in session.execute(select(AuditRow.conversation_id).where(
                AuditRow.details.like(pattern, escape="\\"))).scalars() if c}
        if email:
            linked |= set(session.execute(select(VerificationRow.conversation_id)
                                          .where(VerificationRow.email_key == self._verification_key(email))).scalars())
            linked |= set(session.execute(select(ResetRequestRow.conversation_id)
                                          .where(ResetRequestRow.email_key == self._reset_key(email))).scalars())
        owners: dict[str, set[str]] = {}
        if _has_events(session):
            if account_id:
                linked |= {sender for sender, data in session.execute(
                    select(rasa_events.c.sender_id, rasa_events.c.data).where(
                        rasa_events.c.type_name == "slot",
                        rasa_events.c.data.like(f'%"{_like_escaped(account_id)}"%', escape="\\")))
                    if _slot(data) == ("customer_id", account_id)}
            if email:
                # A scan of the whole table (the address can be anywhere in a message): slow, but
                # run once per request, and it is the only way to find a conversation by what was typed.
                linked |= {sender for sender, data in session.execute(
                    select(rasa_events.c.sender_id, rasa_events.c.data).where(
                        func.lower(rasa_events.c.data).like(f"%{_like_escaped(email.lower())}%", escape="\\")))
                    if _mentions(data, email)}
            if linked:  # who each conversation is bound to, by its customer_id slot
                for sender, data in session.execute(select(rasa_events.c.sender_id, rasa_events.c.data).where(
                        rasa_events.c.sender_id.in_(sorted(linked)), rasa_events.c.type_name == "slot",
                        rasa_events.c.data.like('%"customer_id"%'))):
                    name, value = _slot(data)
                    if name == "customer_id" and isinstance(value, str) and value:
                        owners.setdefault(sender, set()).add(value)
        if linked:
            for conversation_id, owner in session.execute(select(HandoffRow.conversation_id, HandoffRow.customer_id)
                                                          .where(HandoffRow.conversation_id.in_(sorted(linked)),
                                                                 HandoffRow.customer_id.is_not(None))):
                owners.setdefault(conversation_id, set()).add(owner)
        others = {c for c in linked if owners.get(c, set()) - {account_id}}
        conversations = sorted(linked - others)

        handoff_filter = [HandoffRow.conversation_id.in_(conversations)]
        if account_id:
            handoff_filter.append(HandoffRow.customer_id == account_id)
        handoffs = session.execute(select(HandoffRow.id, HandoffRow.ticket_backend, HandoffRow.ticket_external_id)
                                   .where(or_(*handoff_filter))).all()
        embedded = {int(external_id) for _, backend, external_id in handoffs
                    if backend == SqlTicketing.name and external_id and external_id.isdigit()}
        ticket_filter = [TicketRow.conversation_id.in_([self.sessions.reference(c) for c in conversations])]
        if account_id:
            ticket_filter.append(TicketRow.customer_id == account_id)
        embedded |= set(session.execute(select(TicketRow.id).where(or_(*ticket_filter))).scalars())
        external_backend = self.ticketing.name if self.ticketing.name != SqlTicketing.name else None
        external = sorted({external_id for _, backend, external_id in handoffs
                           if external_id and backend == external_backend})
        return _Subject(account, account_id, email, conversations, len(others),
                        [int(h.id) for h in handoffs], sorted(embedded), external)

    def _selections(self, subject: _Subject) -> dict[str, tuple[Any, ColumnElement[bool]]]:
        """Per kind of data in the app database: the table and the condition that selects the
        customer's rows (``false`` when there is nothing to select by)."""
        conversations, account_id, email = subject.conversations, subject.account_id, subject.email

        def either(*conditions: ColumnElement[bool] | None) -> ColumnElement[bool]:
            present = [c for c in conditions if c is not None]
            return or_(*present) if present else false()

        by_account = (lambda column: column == account_id) if account_id else (lambda column: None)
        email_keys = [self._reset_key(email)] if email else []
        pseudonyms = ([account_id] if account_id else []) + (
            [self.sessions.client_key("email:" + email)] if email else [])
        return {
            "handoffs": (HandoffRow, HandoffRow.id.in_(subject.handoff_ids)),
            "ticket_outbox": (TicketOutboxRow, TicketOutboxRow.handoff_id.in_(subject.handoff_ids)),
            "agent_feedback": (FeedbackRow, FeedbackRow.handoff_id.in_(subject.handoff_ids)),
            "tickets": (TicketRow, TicketRow.id.in_(subject.embedded_ticket_ids)),
            "ticket_comments": (TicketCommentRow, TicketCommentRow.ticket_id.in_(subject.embedded_ticket_ids)),
            "csat_responses": (CsatRow, either(CsatRow.conversation_id.in_(conversations),
                                               CsatRow.handoff_id.in_(subject.handoff_ids))),
            "verification_codes": (VerificationRow, either(
                VerificationRow.conversation_id.in_(conversations), by_account(VerificationRow.account_id),
                VerificationRow.email_key == self._verification_key(email) if email else None)),
            "password_reset_requests": (ResetRequestRow, either(
                ResetRequestRow.conversation_id.in_(conversations), ResetRequestRow.email_key.in_(email_keys))),
            "password_reset_tokens": (ResetTokenRow, either(by_account(ResetTokenRow.account_id))),
            "customer_token_uses": (TokenUseRow, TokenUseRow.conversation_id.in_(conversations)),
            "escalations": (EscalationRow, either(EscalationRow.conversation_id.in_(conversations),
                                                  by_account(EscalationRow.account_id))),
            "outbox_emails": (OutboxEmailRow, either(by_account(OutboxEmailRow.account_id))),
            "rate_limit_hits": (RateLimitHitRow, (RateLimitHitRow.bucket == HANDOFF_ACCOUNT_BUCKET)
                                & RateLimitHitRow.key.in_(pseudonyms)),
            "audit_records": (AuditRow, AuditRow.conversation_id.in_(conversations)),
            "telemetry_events": (TelemetryEvent, TelemetryEvent.conversation_id.in_(conversations)),
            "turn_facts": (TurnFactRow, TurnFactRow.conversation_id.in_(conversations)),
            "conversation_facts": (ConversationFactRow, ConversationFactRow.conversation_id.in_(conversations)),
            "billing_subscriptions": (SubscriptionRow, either(by_account(SubscriptionRow.account_id))),
            "billing_invoices": (InvoiceRow, either(by_account(InvoiceRow.account_id))),
            "billing_payments": (PaymentRow, either(by_account(PaymentRow.account_id))),
        }

    # -- export -----------------------------------------------------------------------------------

    def export(self, customer: str, requested_by: str | None = None) -> dict[str, Any]:
        """Everything held about the customer as one JSON-serialisable document: a section per
        kind of data, each with its count. Raises ``UnknownCustomer`` when nothing is held. With
        ``requested_by`` it is an access request (Art. 15), recorded like an erasure: who, when,
        the outcome and the counts, never the customer or the data."""
        try:
            document = self._document(customer)
        except UnknownCustomer:
            if requested_by:
                self._record(uuid.uuid4().hex, requested_by, self.clock(), "nothing_found", {}, {}, kind="access")
            raise
        if requested_by:
            self._record(uuid.uuid4().hex, requested_by, self.clock(), "completed", document["counts"], {},
                         kind="access")
        return document

    def _document(self, customer: str) -> dict[str, Any]:
        with self.db.transaction() as session:
            subject = self._locate(session, customer)
            sections: dict[str, list[dict[str, Any]]] = {
                "account": [_account_record(subject.account)] if subject.account else [],
                "conversations": self._conversation_records(session, subject.conversations),
            }
            for kind, (model, condition) in self._selections(subject).items():
                rows = session.execute(select(model).where(condition).order_by(*model.__table__.primary_key))
                sections[kind] = [_record(row) for row in rows.scalars()]
            lines = session.execute(select(InvoiceLineRow).where(InvoiceLineRow.invoice_id.in_(
                [invoice["id"] for invoice in sections["billing_invoices"]])).order_by(InvoiceLineRow.id)).scalars()
            for line in lines:
                invoice = next(i for i in sections["billing_invoices"] if i["id"] == line.invoice_id)
                invoice.setdefault("lines", []).append(_record(line))
        sections["external_tickets"] = [{"backend": self.ticketing.name, "ticket_id": ticket_id}
                                        for ticket_id in subject.external_ticket_ids]
        counts = {kind: len(records) for kind, records in sections.items()}
        counts["tracker_events"] = sum(len(c["events"]) for c in sections["conversations"])
        if not any(counts.values()) and subject.other_customers_conversations == 0:
            raise UnknownCustomer(customer)
        return {
            "exported_at": _iso(self.clock()),
            "customer": {"account_id": subject.account_id, "email": subject.email},
            "counts": counts,
            "total": sum(counts.values()),
            # Conversations bound to other customers that mention this one's address: not theirs
            # to receive whole, listed by number only for the person answering the request.
            "other_customers_conversations": subject.other_customers_conversations,
            "data": sections,
        }

    def _conversation_records(self, session: Session, conversations: list[str]) -> list[dict[str, Any]]:
        if not conversations or not _has_events(session):
            return [{"conversation_id": c, "events": []} for c in conversations]
        events: dict[str, list[dict[str, Any]]] = {c: [] for c in conversations}
        for row in session.execute(select(rasa_events).where(rasa_events.c.sender_id.in_(conversations))
                                   .order_by(rasa_events.c.id)):
            events[row.sender_id].append({
                "type": row.type_name,
                "time": datetime.fromtimestamp(row.timestamp, timezone.utc).isoformat() if row.timestamp else None,
                "intent": row.intent_name, "action": row.action_name, "data": _json_or_text(row.data)})
        return [{"conversation_id": c, "events": e} for c, e in events.items()]

    # -- erasure ----------------------------------------------------------------------------------

    def preview(self, customer: str) -> dict[str, int]:
        """What an erasure would erase, in counts per kind (nothing changes, nothing is recorded)."""
        return self._document(customer)["counts"]

    def erase(self, customer: str, requested_by: str) -> ErasureReport:
        requested_by = requested_by.strip()
        if not requested_by or len(requested_by) > 80:
            raise ValueError("requested_by names who asked: 1-80 characters")
        request_id = uuid.uuid4().hex
        requested_at = self.clock()
        with self.db.transaction() as session:
            subject = self._locate(session, customer)
        external = self._erase_external(subject)
        erased = {"external_tickets": external.tickets_erased, "external_requesters": external.requesters_erased}
        if not external.complete:
            # The app database keeps the ticket ids the next attempt needs: nothing is erased there.
            with self.db.transaction() as session:
                planned = self._counts(session, subject)
            not_erased = {kind: n for kind, n in planned.items() if n}
            not_erased.update(external_tickets=len(external.tickets_pending),
                              external_requesters=int(external.requester_pending))
            self._record(request_id, requested_by, requested_at, "incomplete", erased, not_erased)
            log.warning("erasure %s incomplete: the ticketing backend failed", request_id)
            return ErasureReport(request_id, {k: v for k, v in erased.items() if v}, not_erased,
                                 external.problem, subject.other_customers_conversations)
        with self.db.transaction() as session:
            erased.update(self._erase_app_data(session, subject, request_id))
            erased = {kind: n for kind, n in erased.items() if n}
            session.add(self._request_row(request_id, requested_by, requested_at,
                                          "completed" if erased else "nothing_found", erased, {}))
        log.info("erasure %s done: %s rows and records", request_id, sum(erased.values()))
        return ErasureReport(request_id, erased, {}, None, subject.other_customers_conversations)

    def _erase_external(self, subject: _Subject) -> TicketErasure:
        """Zendesk (or another external backend): its tickets and the requester, retried."""
        if self.ticketing.name == SqlTicketing.name or not (subject.external_ticket_ids or subject.email):
            return TicketErasure()
        erased_tickets = erased_users = 0
        pending = list(subject.external_ticket_ids)
        for wait in (*self.retry_waits, None):
            result = self.ticketing.erase_requester_data(pending, subject.email)
            erased_tickets += result.tickets_erased
            erased_users += result.requesters_erased
            if result.complete or wait is None:
                return TicketErasure(erased_tickets, erased_users, result.tickets_pending,
                                     result.requester_pending, result.problem)
            pending = list(result.tickets_pending)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def _counts(self, session: Session, subject: _Subject) -> dict[str, int]:
        counts = {kind: int(session.execute(select(func.count()).select_from(model).where(condition)).scalar_one())
                  for kind, (model, condition) in self._selections(subject).items()}
        counts["account"] = int(subject.account is not None)
        counts["conversations"] = len(subject.conversations)
        counts["tracker_events"] = (int(session.execute(select(func.count()).select_from(rasa_events).where(
            rasa_events.c.sender_id.in_(subject.conversations))).scalar_one()) if _has_events(session) else 0)
        return counts

    def _erase_app_data(self, session: Session, subject: _Subject, request_id: str) -> dict[str, int]:
        selections = self._selections(subject)
        erased: dict[str, int] = {"conversations": len(subject.conversations)}

        def remove(kind: str) -> None:
            model, condition = selections[kind]
            erased[kind] = int(session.execute(delete(model).where(condition)).rowcount or 0)

        if subject.conversations and _has_events(session):
            erased["tracker_events"] = int(session.execute(delete(rasa_events).where(
                rasa_events.c.sender_id.in_(subject.conversations))).rowcount or 0)
        if subject.conversations:
            # The trail stays verifiable: its own method anonymises what identifies the customer.
            erased["audit_records"] = self.audit.anonymise_conversations(session, subject.conversations, request_id)
        model, condition = selections["csat_responses"]
        erased["csat_responses"] = int(session.execute(update(model).where(condition).values(
            conversation_id=ERASED_CONVERSATION, handoff_id=None)).rowcount or 0)
        for kind in ("ticket_outbox", "agent_feedback", "handoffs"):  # children before their handoff
            remove(kind)
        tickets = SqlTicketing(self.db).erase_requester_data(
            [str(ticket_id) for ticket_id in subject.embedded_ticket_ids], None, session=session)
        erased["tickets"] = tickets.tickets_erased
        for kind in ("verification_codes", "password_reset_requests", "password_reset_tokens",
                     "customer_token_uses", "escalations", "outbox_emails", "rate_limit_hits",
                     "billing_subscriptions", "telemetry_events", "turn_facts", "conversation_facts"):
            remove(kind)
        if subject.account is not None:
            erased.update(self._retire_account(session, subject.account))
        return erased

    def _retire_account(self, session: Session, account: AccountRow) -> dict[str, int]:
        """Deletes the account; its invoices and payments (kept by law) move to a tombstone first."""
        invoices = session.execute(select(func.count()).select_from(InvoiceRow)
                                   .where(InvoiceRow.account_id == account.id)).scalar_one()
        payments = session.execute(select(func.count()).select_from(PaymentRow)
                                   .where(PaymentRow.account_id == account.id)).scalar_one()
        if invoices or payments:
            tombstone = TOMBSTONE_PREFIX + secrets.token_hex(6).upper()  # random: no way back to the account
            session.add(AccountRow(
                id=tombstone, email=f"{tombstone.lower()}@erased.invalid", full_name="", company=None,
                plan=account.plan, tier=account.tier, auth_method=AuthMethod.PASSWORD.value,
                # Nobody may ever sign in as, or reset the password of, a tombstone.
                status=AccountStatus.SECURITY_LOCKED.value, password_hash=None, created_at=self.clock()))
            session.flush()
            session.execute(update(InvoiceRow).where(InvoiceRow.account_id == account.id)
                            .values(account_id=tombstone))
            session.execute(update(PaymentRow).where(PaymentRow.account_id == account.id)
                            .values(account_id=tombstone, card_brand=None, card_last4=None))
        session.delete(account)
        return {"account": 1, "billing_invoices": int(invoices), "billing_payments": int(payments)}

    def _request_row(self, request_id: str, requested_by: str, requested_at: datetime, outcome: str,
                     counts: dict[str, int], outstanding: dict[str, int], kind: str = "erasure") -> SubjectRequestRow:
        return SubjectRequestRow(
            request_id=request_id, kind=kind, requested_by=requested_by, requested_at=requested_at,
            completed_at=self.clock() if outcome != "incomplete" else None, outcome=outcome,
            counts=json.dumps(counts, sort_keys=True), outstanding=json.dumps(outstanding, sort_keys=True))

    def _record(self, request_id: str, requested_by: str, requested_at: datetime, outcome: str,
                counts: dict[str, int], outstanding: dict[str, int], kind: str = "erasure") -> None:
        with self.db.transaction() as session:
            session.add(self._request_row(request_id, requested_by[:80], requested_at, outcome,
                                          {k: v for k, v in counts.items() if v}, outstanding, kind))


def subject_requests(services: Any) -> SubjectRequests:
    """The service over ``frontdesk.bootstrap.Services`` (its database, secret, ticketing backend
    and audit log)."""
    return SubjectRequests(services.db, services.settings.secret_key, services.ticket_outbox.backend,
                           services.audit)


def export_subject(services: Any, customer: str) -> dict[str, Any]:
    """Everything held about ``customer`` (an account id or e-mail address) as one JSON document."""
    return subject_requests(services).export(customer)


def erase_subject(services: Any, customer: str, requested_by: str) -> ErasureReport:
    """Erases everything held about ``customer``; see the module's docstring for what and how."""
    return subject_requests(services).erase(customer, requested_by)


# -- helpers ---------------------------------------------------------------------------------------


def _like_escaped(value: str) -> str:
    """``value`` for a LIKE pattern (escape character ``\\``): its ``%`` and ``_`` match only themselves."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_events(session: Session) -> bool:
    return rasa_events_exist(session.connection())


def _json_or_text(data: str | None) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data


def _slot(data: str | None) -> tuple[Any, Any]:
    event = _json_or_text(data)
    return (event.get("name"), event.get("value")) if isinstance(event, dict) else (None, None)


def _mentions(data: str | None, email: str) -> bool:
    """Whether a string anywhere in the event is, or contains, the address (any case)."""
    wanted = email.lower()

    def strings(value: Any) -> Iterable[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    return any(wanted in text.lower() for text in strings(_json_or_text(data)))


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _record(row: Any) -> dict[str, Any]:
    """A row as JSON values: times in ISO 8601 (UTC), amounts as strings, JSON text parsed."""
    record: dict[str, Any] = {}
    for column in row.__table__.columns:
        if column.key in _SECRET_COLUMNS:
            continue
        value = getattr(row, column.key)
        if column.key in ("details", "draft", "labels", "profile") and isinstance(value, str):
            value = _json_or_text(value)
        record[column.key] = _iso(value)
    return record


def _account_record(account: AccountRow) -> dict[str, Any]:
    return {**_record(account), "password_set": account.password_hash is not None}

