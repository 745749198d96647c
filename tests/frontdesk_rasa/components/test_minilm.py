"""all-MiniLM-L6-v2 as Frontdesk runs it (frontdesk_rasa.components.minilm): the tokenizer gives the ids
Hugging Face's tokenizer gives, and the encoder refuses files that are not the published ones."""

from __future__ import annotations

import numpy as np
import pytest

from frontdesk_rasa.components.minilm import MAX_TOKENS, MiniLMEncoder, vocabulary_file


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


# Each expected list was produced by Hugging Face `tokenizers` 0.23.3 from the model's own
# tokenizer.json (padding off); the same comparison over 7,189 of our training and test lines
# found no difference when this tokenizer was written.
@pytest.mark.parametrize(("text", "expected"), [
    ("I can't log in!!! pwd=abc123#4",
     [101, 1045, 2064, 1005, 1056, 8833, 1999, 999, 999, 999, 1052, 21724, 1027, 5925, 12521, 2509, 1001, 1018, 102]),
    ("Ünïcödé café naïve — “quotes” ½", [101, 27260, 7668, 15743, 1517, 1523, 16614, 1524, 1092, 102]),
    ("中文 mixed", [101, 1746, 1861, 3816, 102]),
    ("tab\there\x00null\ufffd", [101, 21628, 2182, 11231, 3363, 102]),
    ("get bill #8821 plz", [101, 2131, 3021, 1001, 6070, 17465, 20228, 2480, 102]),
    ("unaffable", [101, 14477, 20961, 3468, 102]),
    ("x" * 101 + " ok", [101, 100, 7929, 102]),
    ("retrieve the key of my user", [101, 12850, 1996, 3145, 1997, 2026, 5310, 102]),
])
def test_the_tokenizer_matches_hugging_face(encoder, text, expected):
    assert encoder.tokenizer.encode(text) == expected


def test_a_long_message_is_truncated_like_the_model_was_trained(encoder):
    assert len(encoder.tokenizer.encode("word " * 1000)) == MAX_TOKENS


def test_vectors_are_unit_length_and_paraphrases_are_closer_than_other_requests(encoder):
    reset, paraphrase, invoice, empty = encoder.encode(
        ["I forgot my password", "can ya help me retrieve the key of my user account", "send me my last invoice", ""])
    assert np.allclose([np.linalg.norm(v) for v in (reset, paraphrase, invoice, empty)], 1.0, atol=1e-5)
    assert reset @ paraphrase > reset @ invoice
    # A message in a batch is encoded as it is alone (up to the int8 quantisation of the batch).
    alone = encoder.encode(["can ya help me retrieve the key of my user account"])[0]
    assert alone @ paraphrase > 0.999


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text(vocabulary_file().read_text(encoding="utf-8").replace("password", "passw0rd"),
                          encoding="utf-8")
    with pytest.raises(ValueError, match="sha256"):
        MiniLMEncoder(vocabulary=vocabulary)
    with pytest.raises(FileNotFoundError, match="make install"):
        MiniLMEncoder(vocabulary=tmp_path / "missing.txt")
