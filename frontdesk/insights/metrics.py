"""Prometheus metrics (prometheus-client): ``GET /metrics`` on the web app and the action server.

- **The web app** reports what the app database knows, read when Prometheus scrapes: messages,
  their latency and the intents' confidence (from ``turn_facts``: the event consumer's, so every
  Rasa server's traffic, counted once), intents, fallbacks, turns the bot said nothing to,
  conversations by outcome, handoffs by reason and queue, and the e-mail and ticket outboxes'
  backlog and failures. Read from the database, every web app replica reports the same figures:
  scrape one. Counts go down when retention deletes old rows; ``rate()`` treats that as a reset.
- **The action server** reports what only it sees: how long each custom action takes, and the
  actions that failed (its own process, from a request's start to its response).

Both answer only ``Authorization: Bearer <FRONTDESK_METRICS_TOKEN>``; without that setting the
endpoint is off (404). The figures hold no personal data (intents, queues, counts).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from frontdesk.handoff.service import HandoffRow, TicketOutboxRow
from frontdesk.insights.telemetry import ConversationFactRow, TurnFactRow
from frontdesk.mail.outbox import OutboxEmailRow

LATENCY_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def authorised(header: str | None, token: str) -> bool:
    """The scrape carries the configured bearer token (constant-time compare); never without one."""
    if not token:
        return False
    return hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def _histogram(name: str, help_text: str, rows: list[tuple[float, int]], count: int,
               total: float) -> HistogramMetricFamily:
    """``rows``: (upper bound, count at or below it), cumulative as Prometheus wants; ``count``:
    every observation (+Inf), those above the last bound included."""
    return HistogramMetricFamily(name, help_text, buckets=[(f"{bound:g}", n) for bound, n in rows] + [("+Inf", count)],
                                 sum_value=total)


class DatabaseCollector:
    """The web app's figures, read from the app database at each scrape."""

    def __init__(self, session_scope: Callable[[], Any]) -> None:
        self.session_scope = session_scope  # a context manager giving a Session

    def collect(self) -> Iterator[Metric]:
        with self.session_scope() as session:
            yield from self._turns(session)
            yield from self._outcomes(session)
            yield from self._handoffs(session)
            yield from self._outboxes(session)

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only, never at registration

    @staticmethod
    def _cumulative(session: Session, column: Any,
                    bounds: tuple[float, ...]) -> tuple[list[tuple[float, int]], int, float]:
        counts = session.execute(select(*(func.sum(case((column <= bound, 1), else_=0)) for bound in bounds),
                                        func.count(column), func.coalesce(func.sum(column), 0.0))
                                 .where(column.is_not(None))).one()
        return ([(bound, int(counts[i] or 0)) for i, bound in enumerate(bounds)], int(counts[-2] or 0),
                float(counts[-1] or 0.0))

    def _turns(self, session: Session) -> Iterator[Metric]:
        messages = CounterMetricFamily("frontdesk_messages", "Customer messages the bot answered, by channel",
                                       labels=["channel"])
        for channel, count in session.execute(select(TurnFactRow.channel, func.count()).group_by(TurnFactRow.channel)):
            messages.add_metric([channel or "unknown"], count)
        yield messages
        intents = CounterMetricFamily("frontdesk_intents", "Customer messages by the intent the NLU read",
                                      labels=["intent"])
        for intent, count in session.execute(select(TurnFactRow.intent, func.count()).group_by(TurnFactRow.intent)):
            intents.add_metric([intent or "none"], count)
        yield intents
        fallbacks, errors = session.execute(select(func.coalesce(func.sum(case((TurnFactRow.fallback, 1), else_=0)), 0),
                                                   func.coalesce(func.sum(case((TurnFactRow.error, 1), else_=0)), 0))
                                            ).one()
        yield CounterMetricFamily("frontdesk_fallbacks", "Messages the bot did not understand", value=int(fallbacks))
        yield CounterMetricFamily("frontdesk_turn_errors", "Messages the bot said nothing to (an action failed)",
                                  value=int(errors))
        seconds = TurnFactRow.latency_ms / 1000.0
        yield _histogram("frontdesk_message_latency_seconds", "From a customer's message to the bot's last word",
                         *self._cumulative(session, seconds, LATENCY_BUCKETS_SECONDS))
        yield _histogram("frontdesk_intent_confidence", "The NLU's confidence in the intent it read",
                         *self._cumulative(session, TurnFactRow.confidence, CONFIDENCE_BUCKETS))

    @staticmethod
    def _outcomes(session: Session) -> Iterator[Metric]:
        outcomes = CounterMetricFamily("frontdesk_conversations", "Conversations by outcome", labels=["outcome"])
        for outcome, count in session.execute(select(ConversationFactRow.outcome, func.count())
                                              .group_by(ConversationFactRow.outcome)):
            outcomes.add_metric([outcome], count)
        yield outcomes

    @staticmethod
    def _handoffs(session: Session) -> Iterator[Metric]:
        handoffs = CounterMetricFamily("frontdesk_handoffs", "Conversations handed to a person",
                                       labels=["reason", "queue"])
        for reason, queue, count in session.execute(select(HandoffRow.reason, HandoffRow.queue, func.count())
                                                    .group_by(HandoffRow.reason, HandoffRow.queue)):
            handoffs.add_metric([reason, queue], count)
        yield handoffs
        open_now = session.execute(select(func.count()).select_from(HandoffRow)
                                   .where(HandoffRow.status == "open")).scalar_one()
        yield GaugeMetricFamily("frontdesk_handoffs_open", "Handoffs waiting for or with a person", value=open_now)

    @staticmethod
    def _outboxes(session: Session) -> Iterator[Metric]:
        backlog = GaugeMetricFamily("frontdesk_outbox_backlog", "Deliveries not yet made", labels=["outbox"])
        failed = GaugeMetricFamily("frontdesk_outbox_failed", "Deliveries given up on, kept for an operator",
                                   labels=["outbox"])
        for name, row in (("email", OutboxEmailRow), ("ticket", TicketOutboxRow)):
            counts = dict(session.execute(select(row.status, func.count()).group_by(row.status)).all())
            backlog.add_metric([name], counts.get("pending", 0))
            failed.add_metric([name], counts.get("failed", 0))
        yield backlog
        yield failed


def web_registry(session_scope: Callable[[], Any]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(session_scope))
    return registry


class ActionMetrics:
    """The action server's own: each custom action's duration, and failures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram("frontdesk_action_latency_seconds", "How long a custom action took",
                                 ["action"], buckets=LATENCY_BUCKETS_SECONDS, registry=self.registry)
        self.errors = Counter("frontdesk_action_errors", "Custom actions that failed", ["action"],
                              registry=self.registry)

    def observe(self, action: str, seconds: float, failed: bool) -> None:
        self.latency.labels(action).observe(seconds)
        if failed:
            self.errors.labels(action).inc()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
