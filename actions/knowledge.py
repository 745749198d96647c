"""Answers from the help centre: the article's short answer, its link and "Did that help?"; and
reading back from the tracker which article was shown for which question. Which messages get an
article is decided by ``frontdesk.knowledge.answering`` on what the NLU pipeline's retriever
found; the two-stage fallback (``actions.handoff.clarify``) gives the answer, and
``action_knowledge_feedback`` there acts on the customer's yes or no."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_context import decision_context
from frontdesk.bootstrap import get_services
from frontdesk.handoff.clarification import TALK_TO_A_PERSON, TOPIC_TITLES
from frontdesk.knowledge.answering import KnowledgeAnswer, ShownArticle, knowledge_answer

# The article the bot answered with ({article, title, url}), set by the answer, never from what
# the customer types; a handoff's ticket names it with the question it answered.
SHOWN_SLOT = "knowledge_article"
# What a resolved answer counts as for the rating asked after a flow the bot resolved.
RESOLVED_FLOW = "knowledge_base"
HELPED_BUTTONS = [{"title": "Yes, that helped", "payload": "/affirm"},
                  {"title": "No", "payload": "/deny"}]


def article_for(tracker: Tracker) -> KnowledgeAnswer | None:
    """The article that answers the latest message, if the bot should answer with one."""
    if not get_services().settings.knowledge_answers:
        return None
    return knowledge_answer(tracker.latest_message or {}, [*TOPIC_TITLES, TALK_TO_A_PERSON])


async def answer_with_article(dispatcher: CollectingDispatcher, tracker: Tracker,
                              answer: KnowledgeAnswer) -> list[EventType]:
    services = get_services()
    context = decision_context(tracker, "action_clarify")
    await services.db.in_worker_thread(lambda session: services.audit.record(
        session, context, "knowledge.answered", article=answer.article, score=round(answer.score, 4)))
    dispatcher.utter_message(response="utter_knowledge_answer", answer=answer.text, title=answer.title,
                             url=answer.url, buttons=HELPED_BUTTONS)
    return [SlotSet(SHOWN_SLOT, {"article": answer.article, "title": answer.title, "url": answer.url})]


def previous_turn(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """The events between the previous customer message and the current one, newest first: the
    raw events, as Rasa sent them (get_last_event_for() works on applied_events() and cannot stop
    at the previous message)."""
    seen_current = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_current:
                return
            seen_current = True
        elif seen_current:
            yield event


def answered_in_previous_turn(tracker: Tracker) -> dict[str, Any] | None:
    """The article the bot answered the previous message with, if it did."""
    for event in previous_turn(tracker):
        if event.get("event") == "slot" and event.get("name") == SHOWN_SLOT and event.get("value"):
            return dict(event["value"])
    return None


def shown_article(tracker: Tracker) -> ShownArticle | None:
    """The last article the bot answered with in this conversation and the customer message it
    answered, for the ticket when the customer then asks for a person."""
    shown: dict[str, Any] | None = None
    for event in reversed(tracker.events):
        if shown is None and event.get("event") == "slot" and event.get("name") == SHOWN_SLOT and event.get("value"):
            shown = dict(event["value"])
        elif shown is not None and event.get("event") == "user":
            return ShownArticle(str(shown.get("article")), str(shown.get("title")), str(shown.get("url")),
                                str(event.get("text") or ""))
    return None
