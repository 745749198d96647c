"""KPI report from the app database: handoffs, CSAT and how often agents corrected the bot."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.agents.feedback import AgentFeedback
from frontdesk.core.audit import AuditRow
from frontdesk.handoff.service import FOLLOW_UP_CHANNEL, HandoffRow
from frontdesk.insights.csat import ASKED_AFTER_BOT, CsatRow


def _csat(scores: list[int], asked: int) -> dict[str, Any]:
    return {
        "responses": len(scores),
        "average": round(sum(scores) / len(scores), 2) if scores else None,
        # The usual CSAT figure: share of 4s and 5s.
        "satisfied_share": round(sum(1 for s in scores if s >= 4) / len(scores), 3) if scores else None,
        "response_rate": round(len(scores) / asked, 3) if asked else None,
    }


def kpi_report(session: Session, feedback: AgentFeedback) -> dict[str, Any]:
    handoffs = session.execute(select(HandoffRow.reason, HandoffRow.queue, HandoffRow.status,
                                      HandoffRow.channel)).all()
    ratings = session.execute(select(CsatRow.flow, CsatRow.score)).all()
    asked_after_bot = Counter(flow for (flow,) in session.execute(
        select(AuditRow.reason).where(AuditRow.decision == ASKED_AFTER_BOT)))
    closed = sum(1 for h in handoffs if h.status == "closed")
    # E-mail follow-ups close without a rating question in the chat: not in the response rate.
    closed_in_chat = sum(1 for h in handoffs if h.status == "closed" and h.channel != FOLLOW_UP_CHANNEL)
    bot_flows = sorted({flow for flow, _ in ratings if flow} | set(asked_after_bot))
    return {
        "handoffs": {
            "total": len(handoffs), "open": len(handoffs) - closed, "closed": closed,
            "by_reason": dict(sorted(Counter(h.reason for h in handoffs).items())),
            "by_queue": dict(sorted(Counter(h.queue for h in handoffs).items())),
            "email_follow_ups": sum(1 for h in handoffs if h.channel == FOLLOW_UP_CHANNEL),
        },
        "csat": {
            # Asked when an agent closes a handoff; the response rate is per closed handoff.
            "after_agent": _csat([score for flow, score in ratings if flow is None], closed_in_chat),
            # Asked once after a flow the bot resolved on its own (deflected contacts), by flow.
            "after_bot": {flow: _csat([score for f, score in ratings if f == flow], asked_after_bot[flow])
                          for flow in bot_flows},
        },
        "agent_corrected": [
            {"intent": r.intent, "reviewed": r.reviewed, "corrected": r.corrected, "rate": round(r.rate, 3)}
            for r in feedback.correction_rates(session)
        ],
        "oldest_open_handoff": session.execute(
            select(func.min(HandoffRow.created_at)).where(HandoffRow.status == "open")).scalar(),
    }
