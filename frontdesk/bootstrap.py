"""Wires the domain services from settings, once per process, on first use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from frontdesk.accounts.crm import SqlCrm
from frontdesk.accounts.customer_token import CustomerAttestations, CustomerBinding, CustomerTokenVerifier
from frontdesk.accounts.identity import IdentityProvider, SqlIdentityProvider
from frontdesk.accounts.verification import EmailVerification
from frontdesk.agents.conversations import RasaConversations
from frontdesk.agents.directory import AgentDirectory
from frontdesk.agents.feedback import AgentFeedback, known_intents
from frontdesk.agents.workspace import AgentWorkspace
from frontdesk.billing.desk import BillingDesk
from frontdesk.billing.records import SqlBilling
from frontdesk.core.audit import AuditLog
from frontdesk.core.chat_sessions import ChatSessions
from frontdesk.core.db import Database
from frontdesk.core.privacy import default_redactor
from frontdesk.core.ratelimit import EmailRequestLimits, SqlRateLimiter
from frontdesk.core.schema import utcnow
from frontdesk.handoff.policy import HandoffPolicy
from frontdesk.handoff.service import HandoffLimits, HandoffService, TicketOutbox
from frontdesk.insights.consumer import TelemetryConsumer, event_source
from frontdesk.insights.csat import CsatSurvey
from frontdesk.insights.telemetry import EventReader, customer_pseudonym, training_vocabulary
from frontdesk.mail.outbox import EmailOutbox, SmtpMailer
from frontdesk.password_reset.service import PasswordResetEmails, PasswordResetService
from frontdesk.settings import PROJECT_ROOT, Settings, parse_broker_url
from frontdesk.status.incidents import IncidentService, StatusDesk
from frontdesk.status.port import StatusSource
from frontdesk.status.sql import IncidentTableSource
from frontdesk.status.tickets import TicketStatusDesk
from frontdesk.ticketing.port import TicketingBackend
from frontdesk.ticketing.sql import SqlTicketing


@dataclass
class Services:
    settings: Settings
    db: Database
    identity: IdentityProvider
    audit: AuditLog
    outbox: EmailOutbox
    mailer: SmtpMailer
    password_reset: PasswordResetService
    handoff: HandoffService
    ticket_outbox: TicketOutbox
    customer_binding: CustomerBinding
    agents: AgentDirectory
    workspace: AgentWorkspace
    csat: CsatSurvey
    verification: EmailVerification
    billing_desk: BillingDesk
    status: StatusDesk
    ticket_status: TicketStatusDesk
    telemetry: TelemetryConsumer | None  # None when FRONTDESK_EVENT_BROKER_URL is off


def build_services(settings: Settings, clock: Callable[[], datetime] = utcnow) -> Services:
    audit, identity = AuditLog(), SqlIdentityProvider()
    sessions, limiter, abuse = ChatSessions(settings.secret_key), SqlRateLimiter(clock), settings.abuse
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    composers: dict = {}
    outbox = EmailOutbox(composers, max_age=timedelta(minutes=settings.reset.email_max_age_minutes), clock=clock,
                         lease=lease, per_address_per_day=abuse.emails_per_address_per_day)
    handoff = HandoffService(
        HandoffPolicy.load(settings.handoff_config), default_redactor(settings.privacy.sensitive_identifiers),
        SqlCrm(), references=sessions.reference,
        audit=audit, clock=clock,
        limits=HandoffLimits(limiter, abuse.handoffs_per_client_per_hour, abuse.handoffs_per_account_per_hour,
                             abuse.handoffs_per_hour, pseudonym=sessions.client_key))
    # SSO and security-locked reset requests become follow-up tickets (the handoff service).
    password_reset = PasswordResetService(
        identity, outbox, settings.reset, settings.secret_key, follow_ups=handoff, audit=audit, clock=clock,
        limits=EmailRequestLimits(limiter, "reset", abuse.reset_emails_per_client_per_hour, abuse.emails_per_hour),
    )
    verification = EmailVerification(
        identity, outbox, settings.secret_key, audit, clock=clock,
        limits=EmailRequestLimits(limiter, "code", abuse.code_emails_per_client_per_hour, abuse.emails_per_hour))
    # The composers need the services (to mint tokens and codes) and the outbox needs the composers.
    composers.update(PasswordResetEmails(password_reset, settings.public_url).composers())
    composers.update(verification.composers())
    db = Database(settings.database_url)
    ticketing = ticketing_backend(settings, db)
    conversations = RasaConversations(settings.rasa_url, settings.rasa_jwt_secret)
    feedback = AgentFeedback(known_intents(), clock=clock)
    return Services(
        settings=settings,
        db=db,
        identity=identity,
        audit=audit,
        outbox=outbox,
        mailer=SmtpMailer(settings.smtp),
        password_reset=password_reset,
        handoff=handoff,
        ticket_outbox=TicketOutbox(ticketing, clock=clock, lease=lease),
        # The action server checks the chat channel's attestation, never a token (the channel did).
        customer_binding=CustomerBinding(CustomerAttestations(
            CustomerTokenVerifier(settings.customer_token), None, settings.secret_key), identity, audit),
        agents=AgentDirectory(clock=clock, token_days=settings.agent_token_days),
        workspace=AgentWorkspace(db, handoff, conversations, feedback, audit, clock=clock),
        csat=CsatSurvey(audit, clock=clock),
        verification=verification,
        billing_desk=BillingDesk(SqlBilling(), audit, settings.billing_portal_url, clock=clock),
        status=StatusDesk(status_source(settings, db, clock), IncidentService(audit, clock=clock)),
        ticket_status=TicketStatusDesk(ticketing, handoff.policy, clock=clock),
        telemetry=telemetry_consumer(settings, db, handoff.policy),
    )


def telemetry_consumer(settings: Settings, db: Database, policy: HandoffPolicy) -> TelemetryConsumer | None:
    insights = settings.insights
    source = event_source(parse_broker_url(insights.event_broker_url), insights.event_broker_password)
    if source is None:
        return None

    def reader() -> EventReader:
        redactor = default_redactor(settings.privacy.sensitive_identifiers)
        return EventReader(redactor.redact, training_vocabulary(PROJECT_ROOT / "data"),
                           customer_pseudonym(settings.secret_key))

    return TelemetryConsumer(db, source, reader, frozenset(policy.mandatory_human))


def ticketing_backend(settings: Settings, db: Database) -> TicketingBackend:
    if settings.ticketing_backend == "zendesk":
        from frontdesk.ticketing.zendesk import ZendeskTicketing

        zendesk = settings.zendesk
        return ZendeskTicketing(zendesk.base_url, zendesk.email, zendesk.api_token,
                                custom_fields=zendesk.custom_fields, group_ids=zendesk.group_ids)
    return SqlTicketing(db)


def status_source(settings: Settings, db: Database, clock: Callable[[], datetime] = utcnow) -> StatusSource:
    if settings.status.source == "statuspage":
        from frontdesk.status.statuspage import StatuspageSource

        status = settings.status
        return StatuspageSource(status.statuspage_url, status.statuspage_timeout_seconds,
                                status.statuspage_cache_seconds, clock=clock)
    return IncidentTableSource(db, clock=clock)


@functools.lru_cache(maxsize=1)
def get_services() -> Services:
    return build_services(Settings.from_env())
