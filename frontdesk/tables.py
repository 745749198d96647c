"""Every app table on one metadata: the modules whose rows Alembic migrates (``migrations/env.py``).
Rasa creates and owns its own ``events`` table."""

from __future__ import annotations

import frontdesk.accounts.customer_token
import frontdesk.accounts.identity
import frontdesk.accounts.verification
import frontdesk.agents.directory
import frontdesk.agents.feedback
import frontdesk.billing.records
import frontdesk.core.audit
import frontdesk.core.ratelimit
import frontdesk.handoff.escalation
import frontdesk.handoff.service
import frontdesk.insights.csat
import frontdesk.insights.telemetry
import frontdesk.mail.outbox
import frontdesk.password_reset.service
import frontdesk.privacy.subject_requests
import frontdesk.status.sql
import frontdesk.ticketing.sql  # noqa: F401 - each registers its tables on Base.metadata
from frontdesk.core.schema import Base

metadata = Base.metadata
