"""What a customer's question is matched against: each article cut into short passages.

A question is usually about one detail of an article ("does the reset link expire?"), not its
title, so the index holds the title, the short answer, the questions the article's author says
customers ask (``asked_as``: a question is matched best by a question), every heading and every
paragraph or list item of the body, each as plain text. An article's score is its best passage's
(``frontdesk_rasa.components.knowledge_base_retriever``); the passages come from the article files
alone, so editing an article and retraining changes what it answers.
"""

from __future__ import annotations

import re

from frontdesk.knowledge.articles import Article

# Sentence encoders read about 128 word pieces; a longer passage is cut, not misread.
MAX_PASSAGE_CHARS = 400
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"[*_`]{1,3}")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_HEADING = re.compile(r"^#{1,6}\s+")


def plain(markdown: str) -> str:
    """One line of Markdown as the words a reader sees: links' text, no emphasis or list marks."""
    text = _HEADING.sub("", _LIST_MARK.sub("", markdown))
    text = _EMPHASIS.sub("", _LINK.sub(r"\1", text))
    return " ".join(text.split())


def passages(article: Article) -> list[str]:
    """The article's title, short answer, its customers' questions, then each heading, paragraph
    and list item, in order."""
    found = [article.title, article.short_answer, *article.asked_as]
    for block in re.split(r"\n\s*\n", article.body):
        paragraph: list[str] = []
        for line in (line for line in block.splitlines() if line.strip()):
            if _HEADING.match(line) or _LIST_MARK.match(line):  # a heading or list item stands alone
                found.extend([" ".join(paragraph), plain(line)] if paragraph else [plain(line)])
                paragraph = []
            else:
                paragraph.append(plain(line))
        if paragraph:
            found.append(" ".join(paragraph))
    return [text[:MAX_PASSAGE_CHARS] for text in dict.fromkeys(found) if text]
