"""The PII redaction measurement (issue 19): the scorer's arithmetic on hand-made cases, and the
corpus itself (parses, is big enough, every gold substring is where the annotation says)."""

from __future__ import annotations

import pytest

from lab.redaction_evaluation import (
    ENTITY_TYPES,
    PARTS,
    Sentence,
    load_corpus,
    markdown,
    meets_targets,
    parse_sentences,
    score,
    summary,
    summary_line,
    timed,
)


def test_a_gold_span_counts_as_found_only_when_every_character_is_covered_whatever_the_label():
    text = "mail anna@x.org now"
    sentence = parse_sentences([{"text": text, "pii": [["EMAIL_ADDRESS", "anna@x.org"]]}])[0]
    assert sentence.gold == ((5, 15, "EMAIL_ADDRESS"),)
    whole_but_mislabelled = score([sentence], [[(5, 15, "URL")]])
    assert whole_but_mislabelled["recall"]["EMAIL_ADDRESS"]["recall"] == 1.0
    assert whole_but_mislabelled["recall"]["EMAIL_ADDRESS"]["label_exact_recall"] == 0.0
    in_two_pieces = score([sentence], [[(5, 9, "EMAIL_ADDRESS"), (9, 15, "EMAIL_ADDRESS")]])
    assert in_two_pieces["recall"]["EMAIL_ADDRESS"]["label_exact_recall"] == 1.0
    partly = score([sentence], [[(5, 10, "EMAIL_ADDRESS")]])  # "anna@" gone, "x.org" leaked
    assert partly["recall"]["EMAIL_ADDRESS"]["recall"] == 0.0
    assert partly["misses"] == [{"type": "EMAIL_ADDRESS", "value": "anna@x.org", "text": text}]


def test_precision_counts_overlaps_with_gold_and_trap_hits_apart():
    sentences = parse_sentences([
        {"text": "card 4111 for INV-1 and tom", "pii": [["PERSON", "tom"]], "keep": ["INV-1"]},
        {"text": "nothing here at all"},
    ])
    report = score(sentences, [
        [(14, 19, "PHONE_NUMBER"), (24, 27, "PERSON")],  # the invoice taken for a phone; tom found
        [(0, 7, "PERSON")],  # a plain word taken for a name
    ])
    assert report["predicted"] == 3
    assert report["precision_overall"] == round(1 / 3, 4)
    assert report["precision"]["PERSON"] == {"predicted": 2, "precision": 0.5, "trap_hits": 0}
    assert report["precision"]["PHONE_NUMBER"] == {"predicted": 1, "precision": 0.0, "trap_hits": 1}
    assert (report["traps"], report["trap_survival"]) == (1, 0.0)
    assert report["sentences_without_pii"] == 1
    assert meets_targets(report) == {"recall PERSON ≥ 0.95": True, "precision overall ≥ 0.95": False}


def test_postcodes_and_street_lines_share_a_family_for_label_exact_recall():
    [sentence] = parse_sentences([{"text": "at 12 baker st NW1 6XE", "pii": [["POSTCODE", "NW1 6XE"]]}])
    report = score([sentence], [[(3, 22, "ADDRESS")]])
    assert report["recall"]["POSTCODE"]["label_exact_recall"] == 1.0


def test_a_repeated_substring_is_resolved_to_its_next_occurrence():
    [sentence] = parse_sentences([{"text": "LIC-1 and LIC-1", "pii": [["SENSITIVE_ID", "LIC-1"],
                                                                     ["SENSITIVE_ID", "LIC-1"]]}])
    assert [(s, e) for s, e, _ in sentence.gold] == [(0, 5), (10, 15)]


@pytest.mark.parametrize("entry", [
    pytest.param({"text": "hello anna", "pii": [["PERSON", "anne"]]}, id="gold substring absent"),
    pytest.param({"text": "hello", "keep": ["INV-1"]}, id="trap substring absent"),
    pytest.param({"text": "hello anna", "pii": [["NAME", "anna"]]}, id="unknown type"),
    pytest.param({"text": "anna", "pii": [["PERSON", "anna"], ["PERSON", "anna"]]}, id="one occurrence, two spans"),
])
def test_an_annotation_that_does_not_match_its_text_fails_loudly(entry: dict):
    with pytest.raises(ValueError, match="sentence 1"):
        parse_sentences([entry], "corpus.yml")


def test_timing_reports_percentiles_after_a_warm_up():
    calls: list[str] = []

    def find(text: str) -> list[tuple[int, int, str]]:
        calls.append(text)
        return []

    predictions, cost = timed(find, ["a", "b", "c"])
    assert predictions == [[], [], []]
    assert len(calls) == 6  # three warm-up calls, three timed
    assert 0 <= cost["p50_ms"] <= cost["p95_ms"]


def test_the_markdown_names_both_parts_and_the_targets():
    [sentence] = parse_sentences([{"text": "mail a@b.org", "pii": [["EMAIL_ADDRESS", "a@b.org"]]}])
    part = score([sentence], [[(5, 12, "EMAIL_ADDRESS")]]) | {"p50_ms": 1.0, "p95_ms": 2.0}
    part["targets"] = meets_targets(part)
    text = markdown({"dev": part, "heldout": part})
    assert "Development part (tuned on)" in text and "Held-out part (never tuned on)" in text
    assert "recall EMAIL_ADDRESS ≥ 0.99 met" in text


def test_make_eval_gets_both_parts_without_the_lists_and_one_line_against_the_targets():
    [sentence] = parse_sentences([{"text": "mail a@b.org", "pii": [["EMAIL_ADDRESS", "a@b.org"]]}])
    part = score([sentence], [[]]) | {"p50_ms": 1.0, "p95_ms": 2.0}
    part["targets"] = meets_targets(part)
    short = summary({"dev": part, "heldout": part})
    assert set(short) == {"dev", "heldout"} and "misses" not in short["heldout"]
    line = summary_line(short["heldout"])
    assert "EMAIL_ADDRESS 0.0%" in line and "targets missed: recall EMAIL_ADDRESS ≥ 0.99" in line


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[Sentence]]:
    # Fails loudly on a bad substring; a part not written yet is not there to check.
    return {name: load_corpus(path) for name, path in PARTS.items() if path.exists()}


def test_the_corpus_has_at_least_400_sentences_split_about_40_60(corpus: dict[str, list[Sentence]]):
    dev, heldout = len(corpus["dev"]), len(corpus["heldout"])
    assert dev + heldout >= 400
    assert 0.35 <= dev / (dev + heldout) <= 0.45


def test_the_corpus_covers_every_entity_type_and_has_traps_and_sentences_without_pii(
        corpus: dict[str, list[Sentence]]):
    for sentences in corpus.values():
        assert {kind for s in sentences for _, _, kind in s.gold} == set(ENTITY_TYPES)
        assert sum(1 for s in sentences if s.traps) >= 50
        assert sum(1 for s in sentences if not s.gold) >= 20
        assert sum(1 for s in sentences if len(s.gold) >= 2) >= 40


def test_no_sentence_is_in_two_parts(corpus: dict[str, list[Sentence]]):
    names = sorted(corpus)
    for index, name in enumerate(names):
        for other in names[index + 1:]:
            shared = {s.text for s in corpus[name]} & {s.text for s in corpus[other]}
            assert not shared, (name, other, shared)
