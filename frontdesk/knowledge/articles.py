"""Help-centre articles: one Markdown file each, front matter then the short answer then the body.

```
---
id: export-your-data            # the file's name without .md
title: How do I export my data?
url: https://help.frontdesk.example/articles/export-your-data
tags: [data, export]
updated: 2026-11-12
audience: everyone              # everyone, admins, billing-owners or developers
asked_as:                       # optional: how customers ask what it answers, in their words
  - "can I get all our records out as a spreadsheet?"
---
The short answer: one paragraph the bot sends, with the link.

The full article ...
```

Loading checks every field and names the file and the field of the first problem, so a broken
article stops the build instead of becoming a wrong answer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

AUDIENCES = frozenset({"everyone", "admins", "billing-owners", "developers"})
FIELDS = ("id", "title", "url", "tags", "updated", "audience", "asked_as")
# A question a customer asks in one chat message, not a paragraph.
MAX_ASKED_AS_CHARS = 200
# The bot sends the short answer in a chat bubble, then the link: a few sentences, not a page.
MAX_SHORT_ANSWER_CHARS = 320
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TAG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)


class _TextDatesLoader(yaml.SafeLoader):
    """YAML's safe loader, dates left as text: an impossible date ("2026-11-31") is then the
    ``updated`` field's problem, not a YAML one."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ArticleError(ValueError):
    """An article the build refuses: which file, which field, what is wrong."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path, self.field, self.problem = path, field, problem


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    url: str
    tags: tuple[str, ...]
    updated: dt.date
    audience: str
    short_answer: str
    body: str
    asked_as: tuple[str, ...] = ()

    def listing(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "url": self.url, "tags": list(self.tags),
                "updated": self.updated.isoformat(), "audience": self.audience}


def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ArticleError(path, "front matter", "the file must start with a '---' line and close it with another")
    try:
        fields = yaml.load(match.group(1), Loader=_TextDatesLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise ArticleError(path, "front matter", f"not valid YAML{where}") from None
    if not isinstance(fields, dict):
        raise ArticleError(path, "front matter", "must be 'field: value' lines")
    return fields, text[match.end():]


def _text_field(path: Path, fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ArticleError(path, name, "missing or empty")
    return value.strip()


def parse_article(path: Path, text: str) -> Article:
    """The article in ``text`` (read from ``path``), or ``ArticleError`` naming the field."""
    fields, rest = _front_matter(path, text)
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ArticleError(path, unknown[0], f"not a known field (known: {', '.join(FIELDS)})")
    article_id = _text_field(path, fields, "id")
    if not _ID.match(article_id):
        raise ArticleError(path, "id", "lower-case words joined by '-' (kebab-case)")
    if article_id != path.stem:
        raise ArticleError(path, "id", f"must be the file's name, {path.stem!r}")
    title = _text_field(path, fields, "title")
    url = _text_field(path, fields, "url")
    if not url.startswith("https://") or any(c.isspace() for c in url):
        raise ArticleError(path, "url", "an https:// address without spaces")
    tags = fields.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and _TAG.match(t) for t in tags):
        raise ArticleError(path, "tags", "a non-empty list of lower-case tags, e.g. [billing, invoices]")
    try:
        updated = dt.date.fromisoformat(str(fields.get("updated")))
    except ValueError:
        raise ArticleError(path, "updated", "a date, YYYY-MM-DD") from None
    audience = _text_field(path, fields, "audience")
    if audience not in AUDIENCES:
        raise ArticleError(path, "audience", f"one of {', '.join(sorted(AUDIENCES))}")
    asked_as = fields.get("asked_as", [])
    if not isinstance(asked_as, list) or not all(
            isinstance(q, str) and q.strip() and len(q) <= MAX_ASKED_AS_CHARS for q in asked_as):
        raise ArticleError(path, "asked_as", f"a list of questions, each at most {MAX_ASKED_AS_CHARS} characters")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", rest.strip()) if p.strip()]
    if not paragraphs or paragraphs[0].startswith("#"):
        raise ArticleError(path, "short answer", "the first paragraph after the front matter, before any heading")
    short_answer = " ".join(paragraphs[0].split())
    if len(short_answer) > MAX_SHORT_ANSWER_CHARS:
        raise ArticleError(path, "short answer", f"{len(short_answer)} characters; at most {MAX_SHORT_ANSWER_CHARS}")
    return Article(article_id, title, url, tuple(tags), updated, audience, short_answer,
                   "\n\n".join(paragraphs[1:]), tuple(" ".join(q.split()) for q in asked_as))


def load_articles(directory: Path) -> list[Article]:
    """Every ``*.md`` article in ``directory``, by id; ``ArticleError`` on the first bad one."""
    if not directory.is_dir():
        raise ArticleError(directory, "directory", "no such directory")
    articles = [parse_article(path, path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.md"))]
    if not articles:
        raise ArticleError(directory, "directory", "no articles (*.md)")
    return articles

