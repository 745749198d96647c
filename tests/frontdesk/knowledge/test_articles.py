"""The knowledge base's articles: the repository's own load, and every broken front matter is
refused with its file and field named (the build must stop, not answer wrongly)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from frontdesk.entrypoints.cli import main
from frontdesk.knowledge.articles import AUDIENCES, MAX_SHORT_ANSWER_CHARS, ArticleError, load_articles, parse_article

ROOT = Path(__file__).resolve().parents[3]
GOOD = """---
id: export-your-data
title: How do I export my data?
url: https://help.frontdesk.example/articles/export-your-data
tags: [data, export]
updated: 2026-11-12
audience: admins
---
Admins export everything from Settings → Data → Export, as CSV or JSON.

## Steps

1. Open Settings.
2. Choose Data → Export.
"""


def write(tmp_path: Path, text: str, name: str = "export-your-data") -> Path:
    path = tmp_path / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_article_has_its_fields_its_short_answer_and_its_body(tmp_path):
    article = parse_article(write(tmp_path, GOOD), GOOD)
    assert article.id == "export-your-data" and article.audience == "admins"
    assert article.tags == ("data", "export") and article.updated == dt.date(2026, 11, 12)
    assert article.short_answer == "Admins export everything from Settings → Data → Export, as CSV or JSON."
    assert article.body.startswith("## Steps") and "2. Choose Data → Export." in article.body


@pytest.mark.parametrize(("change", "field"), [
    (lambda t: t.replace("---\nid:", "id:", 1), "front matter"),
    (lambda t: t.replace("tags: [data, export]", "tags: [data, export"), "front matter"),
    (lambda t: t.replace("title: How do I export my data?\n", ""), "title"),
    (lambda t: t.replace("audience: admins", "audience: admins\nowner: ops"), "owner"),
    (lambda t: t.replace("id: export-your-data", "id: export-data"), "id"),
    (lambda t: t.replace("id: export-your-data", "id: Export Your Data"), "id"),
    (lambda t: t.replace("url: https://", "url: http://"), "url"),
    (lambda t: t.replace("tags: [data, export]", "tags: data"), "tags"),
    (lambda t: t.replace("tags: [data, export]", "tags: [Data Export]"), "tags"),
    (lambda t: t.replace("updated: 2026-11-12", "updated: 12/11/2026"), "updated"),
    (lambda t: t.replace("updated: 2026-11-12", "updated: 2026-11-31"), "updated"),
    (lambda t: t.replace("audience: admins", "audience: customers"), "audience"),
    (lambda t: t.replace("Admins export everything", "## Export\n\nAdmins export everything"), "short answer"),
    (lambda t: t.replace("Admins export everything", "Admins export everything" + " really" * 60), "short answer"),
    (lambda t: t.split("---\nAdmins")[0] + "---\n", "short answer"),
])
def test_a_broken_article_is_refused_naming_its_file_and_field(tmp_path, change, field):
    text = change(GOOD)
    path = write(tmp_path, text)
    with pytest.raises(ArticleError) as refused:
        parse_article(path, text)
    assert refused.value.field == field and refused.value.path == path
    assert str(refused.value).startswith(f"{path}: {field}: ")


def test_the_cli_check_stops_on_a_broken_article_and_names_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRONTDESK_KB_DIR", str(tmp_path))
    write(tmp_path, GOOD)
    assert main(["kb", "check"]) == 0
    assert "1 articles" in capsys.readouterr().out
    broken = write(tmp_path, GOOD.replace("export-your-data", "api-limits").replace("audience: admins", "audience: x"),
                   "api-limits")
    assert main(["kb", "check"]) == 1
    assert f"{broken}: audience: one of" in capsys.readouterr().err
    broken.unlink()
    assert main(["kb", "list", "--json"]) == 0
    assert '"id": "export-your-data"' in capsys.readouterr().out


def test_an_empty_or_missing_directory_is_an_error_not_an_empty_knowledge_base(tmp_path):
    with pytest.raises(ArticleError, match="no articles"):
        load_articles(tmp_path)
    with pytest.raises(ArticleError, match="no such directory"):
        load_articles(tmp_path / "missing")


def test_the_repositorys_knowledge_base_loads():
    articles = load_articles(ROOT / "kb")
    assert len(articles) >= 40
    assert len({a.url for a in articles}) == len(articles)
    assert {a.audience for a in articles} <= AUDIENCES
    assert all(len(a.short_answer) <= MAX_SHORT_ANSWER_CHARS and a.body for a in articles)


def test_an_article_may_say_how_customers_ask_and_a_bad_list_is_refused(tmp_path):
    asked = GOOD.replace("audience: admins\n",
                         'audience: admins\nasked_as:\n  - "csv  export?"\n  - "get my data out"\n')
    assert parse_article(write(tmp_path, asked), asked).asked_as == ("csv export?", "get my data out")
    assert parse_article(write(tmp_path, GOOD), GOOD).asked_as == ()
    for bad in ("asked_as: how do I export", "asked_as: [\"\"]", f"asked_as: [\"{'x' * 201}\"]", "asked_as: [3]"):
        text = GOOD.replace("audience: admins\n", f"audience: admins\n{bad}\n")
        with pytest.raises(ArticleError) as refused:
            parse_article(write(tmp_path, text), text)
        assert refused.value.field == "asked_as"
