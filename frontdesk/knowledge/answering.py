"""When the bot answers from the knowledge base, and which articles an agent is pointed to.

The NLU pipeline's ``KnowledgeBaseRetriever`` puts its finding under ``knowledge`` in a message's
parse data: the best articles with their similarity, and an answer when the best clears the
calibrated threshold. This module decides what the dialogue does with it, and the evaluation
(``lab.knowledge_evaluation``) calls the same function, so what is measured is what customers get:

- Only a message no flow claims can be answered: one read as out of scope, or too unsure to act
  on (``nlu_fallback``). A password reset or a billing question read as such keeps its flow.
- Not even then, when unsure, if the classifier gives an automated flow or a request for a person
  a real chance (``FLOW_GUARD``): the clarification offers that topic instead, so a reset or
  billing question phrased oddly is not answered with an article in place of its flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KNOWLEDGE_KEY = "knowledge"
# The readings the knowledge base may answer: nobody else claims the message.
OPEN_READINGS = frozenset({"out_of_scope", "nlu_fallback"})
# A guess at a topic with a button (frontdesk.handoff.clarification) this confident keeps the
# clarification, which offers it. 0.2: a taken flow costs more than a missed answer, and on the
# development questions 0.2 costs one answer against 0.3 (`make eval`, reports/knowledge.md;
# docs/decisions/0005-knowledge-answers.md says what the blind sets showed at 0.3).
FLOW_GUARD = 0.2
# Articles cited in a handoff's suggested reply, down to this far below the answer threshold: an
# agent can judge a near miss, which a customer is never shown; a far one is noise.
CITED_ARTICLES = 3
CITATION_MARGIN = 0.1


@dataclass(frozen=True)
class KnowledgeAnswer:
    article: str
    title: str
    url: str
    text: str
    score: float


def _likely_topic(ranking: Iterable[Mapping[str, Any]], topics: Iterable[str], flow_guard: float) -> bool:
    offered = set(topics)
    return any(str(r.get("name")) in offered and float(r.get("confidence") or 0.0) >= flow_guard for r in ranking)


def knowledge_answer(parse_data: Mapping[str, Any], topics: Iterable[str],
                     flow_guard: float = FLOW_GUARD) -> KnowledgeAnswer | None:
    """The article to answer the message with, or None. ``topics``: the intents the clarification
    can offer (flows and requests for a person); ``parse_data``: Rasa's, as the tracker holds it."""
    intent = (parse_data.get("intent") or {}).get("name")
    found = parse_data.get(KNOWLEDGE_KEY) or {}
    answer = found.get("answer")
    if intent not in OPEN_READINGS or not isinstance(answer, Mapping):
        return None
    if intent == "nlu_fallback" and _likely_topic(parse_data.get("intent_ranking") or [], topics, flow_guard):
        return None
    try:
        return KnowledgeAnswer(str(answer["article"]), str(answer["title"]), str(answer["url"]),
                               str(answer["text"]), float(answer["score"]))
    except (KeyError, TypeError, ValueError):
        return None  # not the retriever's shape: never answer from something half-read


@dataclass(frozen=True)
class ShownArticle:
    """An article the bot answered with, and the customer message it answered."""

    article: str
    title: str
    url: str
    question: str


@dataclass(frozen=True)
class Citation:
    article: str
    title: str
    url: str
    score: float


def citations(parse_datas: Iterable[Mapping[str, Any]], limit: int = CITED_ARTICLES) -> list[Citation]:
    """The best articles over a conversation's customer messages (each article at its best
    score), for an agent's suggested reply."""
    best: dict[str, Citation] = {}
    for parse_data in parse_datas:
        found = parse_data.get(KNOWLEDGE_KEY) or {}
        for match in found.get("ranking") or []:
            try:
                citation = Citation(str(match["article"]), str(match["title"]), str(match["url"]),
                                    float(match["score"]))
                floor = float(found.get("threshold") or 0.0) - CITATION_MARGIN
            except (KeyError, TypeError, ValueError):
                continue
            if citation.score < floor:
                continue
            if citation.article not in best or best[citation.article].score < citation.score:
                best[citation.article] = citation
    return sorted(best.values(), key=lambda c: -c.score)[:limit]
