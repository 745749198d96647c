"""What the dialogue engine knew when an action ran, for the audit trail."""

from __future__ import annotations

from rasa_sdk import Tracker

from frontdesk.audit import DecisionContext


def model_id(tracker: Tracker) -> str | None:
    # Rasa stamps every event with the id of the model that produced it.
    for event in reversed(tracker.events):
        metadata = event.get("metadata") or {}
        if metadata.get("model_id"):
            return str(metadata["model_id"])
    return None


def decision_context(tracker: Tracker, action: str) -> DecisionContext:
    intent = (tracker.latest_message or {}).get("intent") or {}
    confidence = intent.get("confidence")
    return DecisionContext(
        conversation_id=tracker.sender_id,
        intent=intent.get("name"),
        confidence=float(confidence) if confidence is not None else None,
        action=action,
        model_id=model_id(tracker),
    )
