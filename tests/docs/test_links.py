"""The documentation's links and file references resolve (no network).

Checked in README.md, docs/**/*.md and (links only) CHANGELOG.md, outside fenced code blocks:

- every relative Markdown link, inline ``[text](target)`` or reference-style (``[text][label]``
  with its ``[label]: target`` definition): a file or directory target must exist, and a
  ``#anchor`` (in the same file or another .md file) must match one of its headings by GitHub's
  slug rules (lower-case, spaces to '-', punctuation dropped except '-' and '_'; a repeated
  heading gets -1, -2, ...). http(s), mailto and other schemes are skipped;
- every backticked token that looks like a repository file (contains a '/' and ends in one of
  PATH_SUFFIXES), e.g. `frontdesk/handoff/service.py`: it must exist, from the repository root
  or from the document's folder. Generated output (var/, reports/, models/, results/),
  placeholders (<, *, {, …, $) and absolute paths (outside the repository) are exempt.

A failure lists every broken reference as file:line. One more check keeps docs/configuration.md
whole: every environment variable frontdesk/settings.py reads is listed there.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATH_SUFFIXES = (".py", ".md", ".yml", ".toml", ".js", ".html", ".css", ".ini")
EXEMPT_PREFIXES = ("var/", "reports/", "models/", "results/")
PLACEHOLDERS = ("<", "*", "{", "…", "$")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_BRACKETED = r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]"
_INLINE_LINK = re.compile(r"!?" + _BRACKETED + r"\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE_USE = re.compile(r"!?" + _BRACKETED + r"\[([^\[\]]*)\]")
_DEFINITION = re.compile(r"^ {0,3}\[([^\[\]]+)\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def documents(changelog: bool = True) -> list[Path]:
    """README.md, docs/**/*.md and, unless told otherwise, CHANGELOG.md (whose old entries name
    files as they were then: its links are checked, its backticked paths are not)."""
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md", *([ROOT / "CHANGELOG.md"] if changelog else []), *docs]


@dataclass(frozen=True)
class Prose:
    """A document with its fenced code blocks blanked (line numbers kept)."""

    path: Path
    text: str  # fenced blocks blanked
    prose: str  # fenced blocks and code spans blanked

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def where(self, offset: int) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line_of(offset)}"


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


@cache
def read(path: Path) -> Prose:
    lines, fence = [], None
    for line in path.read_text(encoding="utf-8").split("\n"):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    text = "\n".join(lines)
    return Prose(path, text, _CODE_SPAN.sub(_blank, text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").lower()
    kept = "".join(c for c in text if c.isalnum() or c in "-_ " or unicodedata.category(c).startswith("M"))
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in read(path).text.split("\n"):
        heading = _HEADING.match(line)
        if heading:
            base = slug(re.sub(r"\*\*|__|(?<!\w)[*_]|[*_](?!\w)", "", heading.group(2)))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
        result.update(_HTML_ANCHOR.findall(line))
    return frozenset(result)


def check_target(source: Path, target: str) -> str | None:
    """Why ``target`` (a link in ``source``) does not resolve; None when it does."""
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if not target or _SCHEME.match(target):
        return None
    path_part, _, fragment = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part:
        base = ROOT if path_part.startswith("/") else source.parent
        resolved = (base / path_part.lstrip("/")).resolve()
        if not resolved.exists():
            return f"no such file or directory: {path_part}"
    else:
        resolved = source
    is_markdown = resolved.is_file() and resolved.suffix == ".md"
    if fragment and is_markdown and unquote(fragment).lower() not in anchors(resolved):
        where = "" if resolved == source else f" in {resolved.relative_to(ROOT)}"
        return f"no heading for #{fragment}{where}"
    return None


def broken_links() -> list[str]:
    problems = []
    for path in documents():
        doc = read(path)
        definitions = {label.strip().lower(): target for label, target in _DEFINITION.findall(doc.prose)}
        for match in _DEFINITION.finditer(doc.prose):
            problem = check_target(path, match.group(2))
            if problem:
                problems.append(f"{doc.where(match.start())}: [{match.group(1)}]: {match.group(2)}: {problem}")
        for match in _INLINE_LINK.finditer(doc.prose):
            problem = check_target(path, match.group(2))
            if problem:
                problems.append(f"{doc.where(match.start())}: ({match.group(2)}): {problem}")
        for match in _REFERENCE_USE.finditer(doc.prose):
            label = (match.group(2) or match.group(1)).strip().lower()
            if label not in definitions:
                problems.append(f"{doc.where(match.start())}: [{label}]: reference link without a definition")
    return problems


def _looks_like_repo_file(token: str) -> bool:
    return ("/" in token and token.endswith(PATH_SUFFIXES) and "://" not in token
            and not token.startswith(("/", "~"))  # outside the repository
            and not token.startswith(EXEMPT_PREFIXES) and not any(p in token for p in PLACEHOLDERS))


def code_path_tokens(doc: Prose) -> list[tuple[int, str]]:
    """(offset, token) for each backticked token that looks like a file in the repository."""
    found = []
    for span in _CODE_SPAN.finditer(doc.text):
        for word in re.finditer(r"\S+", span.group(2)):
            token = word.group(0).strip("\"'()[],;")
            token = re.sub(r"(::\S*|:\d+(-\d+)?)$", "", token)  # pytest node ids, line numbers
            token = token.rstrip(".:")
            if token.startswith("./"):
                token = token[2:]
            if _looks_like_repo_file(token):
                found.append((span.start(), token))
    return found


def broken_code_paths() -> list[str]:
    problems = []
    for path in documents(changelog=False):
        doc = read(path)
        for offset, token in code_path_tokens(doc):
            if not ((ROOT / token).exists() or (path.parent / token).exists()):
                problems.append(f"{doc.where(offset)}: `{token}` does not exist")
    return problems


def _report(problems: list[str], what: str) -> None:
    if problems:
        for problem in problems:
            print(problem)
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems), pytrace=False)


def test_relative_links_and_anchors_resolve() -> None:
    _report(broken_links(), "broken links")


def test_backticked_repository_paths_exist() -> None:
    _report(broken_code_paths(), "backticked paths that do not exist")


def settings_variables() -> set[str]:
    """Every environment variable frontdesk/settings.py reads (``env.get("X")``, ``_int(env, "X", …)``,
    ``_bool``, ``_id_map``), the ``FRONTDESK_LIMIT_<NAME>`` family expanded from ``AbuseLimits``."""
    import ast

    from frontdesk.settings import AbuseLimits

    names = set()
    for node in ast.walk(ast.parse((ROOT / "frontdesk" / "settings.py").read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called not in {"get", "_int", "_bool", "_id_map"}:
            continue
        for arg in node.args[:2]:
            if isinstance(arg, ast.Constant) and re.fullmatch(r"[A-Z][A-Z0-9_]+", str(arg.value)):
                names.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and ast.unparse(arg).startswith("f'FRONTDESK_LIMIT_"):
                names.update(f"FRONTDESK_LIMIT_{field.upper()}" for field in AbuseLimits.__dataclass_fields__)
    return names


def test_every_setting_is_in_configuration_md() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))
    names = settings_variables()
    assert len(names) > 40, names  # the parser still finds them
    _report(sorted(f"docs/configuration.md: `{name}` (read by frontdesk/settings.py) is not listed"
                   for name in names - documented), "settings missing from docs/configuration.md")


# The checker itself, on small cases.

def test_slug_follows_github() -> None:
    assert slug("NLU pipeline benchmark (`make bench-nlu`)") == "nlu-pipeline-benchmark-make-bench-nlu"
    assert slug("0002 — Reading customers' first messages (16)") == "0002--reading-customers-first-messages-16"
    assert slug("A_b c.d") == "a_b-cd"
    assert slug("Links [docs](docs/x.md) here") == "links-docs-here"


def test_checker_finds_what_is_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Real heading\n\n## Twice\n\n## Twice\n")
    doc.write_text(
        "# Top\n"
        "[ok](b.md#real-heading) [ok](b.md#twice-1) [ok](#top) [web](https://example.com/x)\n"
        "[gone](missing.md) [bad anchor](b.md#nope) [self](#nowhere)\n"
        "[ref][r] [undefined][nothing]\n"
        "[r]: b.md#twice\n"
        "```\n[in a fence](missing-too.md)\n```\n"
        "`[in code](missing-three.md)`\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    read.cache_clear()
    anchors.cache_clear()
    prose = read(doc)
    problems = [check_target(doc, m.group(2)) for m in _INLINE_LINK.finditer(prose.prose)]
    assert [p for p in problems if p] == [
        "no such file or directory: missing.md", "no heading for #nope in b.md", "no heading for #nowhere",
    ]
    assert "missing-too" not in prose.prose and "missing-three" not in prose.prose
    read.cache_clear()
    anchors.cache_clear()


def test_code_paths_are_recognised() -> None:
    doc = Prose(ROOT / "x.md", "", "")
    text = ("`frontdesk/handoff/service.py` `lab/stack.py:12` `tests/frontdesk/core/test_db.py::test_x` "
            "`make test` `var/mail/x.eml` `reports/bench.md` `docs/<date>.md` `https://a.b/c.py` "
            "`.venv/bin/python -m lab.speed_bench`")
    doc = Prose(doc.path, text, text)
    assert [t for _, t in code_path_tokens(doc)] == [
        "frontdesk/handoff/service.py", "lab/stack.py", "tests/frontdesk/core/test_db.py"]
