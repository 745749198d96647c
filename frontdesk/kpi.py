"""KPI report from the app database: handoffs, CSAT and how often agents corrected the bot."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.agent_feedback import AgentFeedback
from frontdesk.csat import CsatRow
from frontdesk.handoff import HandoffRow


def kpi_report(session: Session, feedback: AgentFeedback) -> dict[str, Any]:
    handoffs = session.execute(select(HandoffRow.reason, HandoffRow.queue, HandoffRow.status)).all()
    scores = [s for (s,) in session.execute(select(CsatRow.score))]
    closed = sum(1 for h in handoffs if h.status == "closed")
    return {
        "handoffs": {
            "total": len(handoffs), "open": len(handoffs) - closed, "closed": closed,
            "by_reason": dict(sorted(Counter(h.reason for h in handoffs).items())),
            "by_queue": dict(sorted(Counter(h.queue for h in handoffs).items())),
        },
        "csat": {
            "responses": len(scores),
            "average": round(sum(scores) / len(scores), 2) if scores else None,
            # The usual CSAT figure: share of 4s and 5s.
            "satisfied_share": round(sum(1 for s in scores if s >= 4) / len(scores), 3) if scores else None,
            "response_rate": round(len(scores) / closed, 3) if closed else None,
        },
        "agent_corrected": [
            {"intent": r.intent, "reviewed": r.reviewed, "corrected": r.corrected, "rate": round(r.rate, 3)}
            for r in feedback.correction_rates(session)
        ],
        "oldest_open_handoff": session.execute(
            select(func.min(HandoffRow.created_at)).where(HandoffRow.status == "open")).scalar(),
    }
