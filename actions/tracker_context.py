"""What the dialogue engine knew when an action ran, for the audit trail."""

from __future__ import annotations

from rasa_sdk import Tracker

from frontdesk.core.audit import DecisionContext
from frontdesk.core.chat_sessions import CLIENT_KEY

# Set by the actions that resolve a flow without a person: the reset e-mail queued, a billing
# question answered, a help-centre answer that helped. Slots start empty in every session
# (domain.yml, session_config); action_wrap_up then asks for a rating.
RESOLVED_FLOW_SLOT = "bot_resolved_flow"


def model_id(tracker: Tracker) -> str | None:
    # Rasa stamps every event with the id of the model that produced it (no rasa-sdk helper reads metadata).
    for event in reversed(tracker.events):
        metadata = event.get("metadata") or {}
        if metadata.get("model_id"):
            return str(metadata["model_id"])
    return None


def client_key(tracker: Tracker) -> str | None:
    """The pseudonym of the client address the latest message came from, as the chat channel
    wrote it into the message's metadata (clients cannot set it: the channel drops our keys)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    client = metadata.get(CLIENT_KEY) if isinstance(metadata, dict) else None
    return client if isinstance(client, str) and client else None


def decision_context(tracker: Tracker, action: str) -> DecisionContext:
    # The classified intent and its confidence: get_intent_of_latest_message() reads the ranking, names only.
    intent = (tracker.latest_message or {}).get("intent") or {}
    confidence = intent.get("confidence")
    return DecisionContext(
        conversation_id=tracker.sender_id,
        intent=intent.get("name"),
        confidence=float(confidence) if confidence is not None else None,
        action=action,
        model_id=model_id(tracker),
        client=client_key(tracker),
    )
