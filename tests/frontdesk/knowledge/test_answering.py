"""Which messages the knowledge base answers, which articles an agent is pointed to, and how an
article is cut into the passages a question is matched against."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.handoff.clarification import TALK_TO_A_PERSON, TOPIC_TITLES
from frontdesk.knowledge.answering import FLOW_GUARD, citations, knowledge_answer
from frontdesk.knowledge.articles import parse_article
from frontdesk.knowledge.passages import MAX_PASSAGE_CHARS, passages
from tests.frontdesk.knowledge.test_articles import GOOD

TOPICS = [*TOPIC_TITLES, TALK_TO_A_PERSON]
ANSWER = {"article": "export-your-data", "title": "How do I export my data?",
          "url": "https://help.frontdesk.example/articles/export-your-data", "text": "Settings → Data → Export.",
          "score": 0.8}


def parsed(intent: str, ranking: list[tuple[str, float]] | None = None, answer: object = ANSWER) -> dict:
    return {"intent": {"name": intent, "confidence": 0.9},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking or [(intent, 0.9)]],
            "knowledge": {"ranking": [], "threshold": 0.6, "answer": answer}}


@pytest.mark.parametrize("intent", ["out_of_scope", "nlu_fallback"])
def test_a_message_no_flow_claims_gets_the_article(intent):
    answer = knowledge_answer(parsed(intent, [(intent, 0.9), ("greet", 0.05)]), TOPICS)
    assert answer is not None and (answer.article, answer.url, answer.score) == (
        "export-your-data", ANSWER["url"], 0.8)


@pytest.mark.parametrize("intent", ["request_password_reset", "ask_latest_invoice", "request_refund", "greet",
                                    "affirm", "request_human"])
def test_a_message_read_as_anything_else_keeps_its_reading(intent):
    assert knowledge_answer(parsed(intent), TOPICS) is None


def test_an_unsure_message_whose_best_guess_is_a_flow_is_clarified_not_answered():
    guess = [("nlu_fallback", 0.7), ("ask_latest_invoice", FLOW_GUARD), ("out_of_scope", 0.2)]
    assert knowledge_answer(parsed("nlu_fallback", guess), TOPICS) is None
    behind = [("nlu_fallback", 0.7), ("out_of_scope", 0.5), ("ask_latest_invoice", FLOW_GUARD)]
    assert knowledge_answer(parsed("nlu_fallback", behind), TOPICS) is None  # a real chance, even second
    weak = [("nlu_fallback", 0.7), ("out_of_scope", 0.5), ("ask_latest_invoice", FLOW_GUARD - 0.01)]
    assert knowledge_answer(parsed("nlu_fallback", weak), TOPICS) is not None
    small_talk = [("nlu_fallback", 0.7), ("greet", 0.6)]
    assert knowledge_answer(parsed("nlu_fallback", small_talk), TOPICS) is not None
    # Read as out of scope outright: the ranking below it does not hold the answer back.
    assert knowledge_answer(parsed("out_of_scope", [("out_of_scope", 0.6), ("ask_pricing", 0.4)]), TOPICS)


@pytest.mark.parametrize("answer", [None, "export-your-data", {"article": "x"}, {**ANSWER, "score": "high"}])
def test_no_answer_or_a_malformed_one_is_never_given(answer):
    assert knowledge_answer(parsed("out_of_scope", answer=answer), TOPICS) is None
    assert knowledge_answer({"intent": {"name": "out_of_scope"}}, TOPICS) is None


def test_citations_keep_each_article_s_best_score_drop_far_misses_and_skip_junk():
    def found(*matches: tuple[str, float]) -> dict:
        return {"knowledge": {"threshold": 0.6, "ranking": [
            {"article": a, "title": a.title(), "url": f"https://help.frontdesk.example/articles/{a}", "score": s}
            for a, s in matches]}}

    conversation = [found(("sso", 0.55), ("scim", 0.52)), {}, found(("sso", 0.71), ("api", 0.49)),
                    {"knowledge": {"threshold": 0.6, "ranking": [{"article": "broken"}]}}, found(("jira", 0.51))]
    assert [(c.article, c.score) for c in citations(conversation)] == [("sso", 0.71), ("scim", 0.52), ("jira", 0.51)]
    assert [c.article for c in citations(conversation, limit=1)] == ["sso"]
    assert citations([]) == []


def test_passages_are_the_title_the_short_answer_headings_and_each_paragraph_or_list_item(tmp_path):
    text = GOOD + "\nSome **bold** words and a [link](https://example.com/x)\nthat goes on.\n- one\n- two\n"
    article = parse_article(Path(tmp_path / "export-your-data.md"), text)
    assert passages(article) == [
        "How do I export my data?", "Admins export everything from Settings → Data → Export, as CSV or JSON.",
        "Steps", "Open Settings.", "Choose Data → Export.",
        "Some bold words and a link that goes on.", "one", "two"]
    asked = text.replace("audience: admins\n", 'audience: admins\nasked_as: ["csv export?"]\n')
    assert passages(parse_article(Path(tmp_path / "export-your-data.md"), asked))[2] == "csv export?"
    long = GOOD.replace("## Steps", "word " * 200)
    assert max(len(p) for p in passages(parse_article(tmp_path / "export-your-data.md", long))) == MAX_PASSAGE_CHARS
