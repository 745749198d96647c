"""What analytics knows about conversations: redacted facts per turn and per conversation.

The event consumer (``frontdesk.insights.consumer``) writes them from Rasa's event broker and the
app tables; the KPI report, drift and the rollback check read them. No fact holds a customer's
words, except the redacted text of a message the bot could not answer (``fallback_text``): what a
support lead reads in "what customers ask that the bot cannot answer".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# ConversationFact.outcome
RESOLVED = "resolved"  # the bot finished a flow on its own (the bot_resolved_flow slot was set)
HANDED_OFF = "handed_off"  # a person took over: a handoff was created
ABANDONED = "abandoned"  # the customer asked for something and left without either
NO_REQUEST = "no_request"  # greetings, small talk, out of scope: nothing to resolve
OUTCOMES = (RESOLVED, HANDED_OFF, ABANDONED, NO_REQUEST)


@dataclass(frozen=True)
class TurnFact:
    """One customer message and the bot's reply to it."""

    conversation_id: str
    turn: int  # 1-based position of the customer's message in the conversation
    at: datetime  # naive UTC, when the message arrived
    channel: str | None  # rest, socketio, slack, cmdline …
    intent: str | None
    confidence: float | None
    entity_types: tuple[str, ...]  # the extracted entities' types, never their values
    actions: tuple[str, ...]  # what the bot ran in reply, in order, action_listen left out
    fallback: bool  # the bot did not understand (a fallback or clarification action)
    handoff: bool  # this turn handed the conversation to a person
    error: bool  # an action failed or was rejected: the customer got an apology
    latency_ms: float | None  # from the message to the bot's last event of the turn
    model_id: str | None
    tokens: int  # words in the message
    oov_tokens: int  # of which not in the training data's vocabulary
    fallback_text: str | None = None  # the redacted message, only when ``fallback``


@dataclass(frozen=True)
class ConversationFact:
    """One conversation, as far as it has gone."""

    conversation_id: str
    started_at: datetime
    last_event_at: datetime
    channel: str | None
    customer_key: str | None  # a keyed pseudonym of the customer (verified id, else client), for FCR
    flow: str | None  # the first support flow asked for (password_reset, billing, knowledge, …)
    outcome: str  # one of OUTCOMES
    resolved_flow: str | None  # the flow the bot resolved, when outcome is RESOLVED
    handoff_reason: str | None
    queue: str | None
    turns: int
    bot_seconds: float  # start to resolution or handoff (to the last event otherwise)
    human_seconds: float | None  # handoff created to closed; None while open or without handoff
    first_human_response_seconds: float | None  # handoff created to the agent's first reply
    sla_seconds: float | None  # the queue's first-response SLA for this handoff
    csat: int | None  # the 1-5 rating, when the customer gave one
    csat_after: str | None  # "bot" or "agent": whom the rating was about
    model_id: str | None
    mandatory_human_automated: bool = False  # a mandatory-human request got an automated flow
