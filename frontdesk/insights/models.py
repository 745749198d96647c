"""The model registry, and rolling the live model back without a restart.

``make train`` registers every model it trains (``frontdesk model register``): a copy kept under
``models/archive/<model id>.tar.gz`` (``models/frontdesk.tar.gz`` is overwritten by the next
training), and an entry in ``models/registry.json`` with the model id Rasa gave it, when it was
trained, the Rasa version, and fingerprints of the training data (``data/``, ``domain.yml``,
``kb/``) and of the pipeline (``config.yml``). ``make eval`` attaches its scores to the entry of
the model it evaluated (``frontdesk model scores``).

``frontdesk model rollback --reason …`` asks the running Rasa server, through its HTTP API
(``PUT /model``, with a JWT like the agent workspace's calls), to load the model registered
before the live one; Rasa swaps it in its own process, so requests keep being served. The audit
trail records who did it and why.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from frontdesk.agents.conversations import RasaApiAuth

REGISTRY_FILE = "registry.json"
ARCHIVE_DIR = "archive"
DATA_INPUTS = ("data", "domain.yml", "kb")
CONFIG_INPUTS = ("config.yml",)


class RegistryError(Exception):
    """The registry cannot do what was asked; the message says why, for an operator."""


@dataclass
class RegisteredModel:
    model_id: str
    file: str  # the archived copy, relative to the registry's directory
    trained_at: str
    rasa_version: str
    data_fingerprint: str
    config_fingerprint: str
    registered_at: str
    eval: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(root: Path, inputs: Iterable[str]) -> str:
    """SHA-256 over the inputs' files (path and bytes, in a stable order)."""
    digest = hashlib.sha256()
    for name in inputs:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def model_metadata(archive: Path) -> dict[str, Any]:
    """Rasa's ``metadata.json`` inside a trained model."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name.lstrip("/") == "metadata.json"), None)
            handle = tar.extractfile(member) if member is not None else None
            if handle is None:
                raise RegistryError(f"{archive} holds no metadata.json: is it a Rasa model?")
            return json.loads(handle.read())
    except (OSError, tarfile.TarError, ValueError) as problem:
        raise RegistryError(f"{archive} is not a readable Rasa model: {problem}") from problem


class ModelRegistry:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def index(self) -> Path:
        return self.directory / REGISTRY_FILE

    def models(self) -> list[RegisteredModel]:
        """Every registered model, oldest first."""
        if not self.index.exists():
            return []
        known = {f.name for f in fields(RegisteredModel)}  # an entry written by another version keeps what it can
        return [RegisteredModel(**{k: v for k, v in entry.items() if k in known})
                for entry in json.loads(self.index.read_text(encoding="utf-8"))]

    def _save(self, models: list[RegisteredModel]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        staged = self.index.with_suffix(".json.tmp")
        staged.write_text(json.dumps([m.as_dict() for m in models], indent=1) + "\n", encoding="utf-8")
        staged.replace(self.index)  # whole or not at all

    def get(self, model_id: str) -> RegisteredModel:
        for model in self.models():
            if model.model_id == model_id:
                return model
        raise RegistryError(f"model {model_id} is not registered (frontdesk model list)")

    def path_of(self, model: RegisteredModel) -> Path:
        return (self.directory / model.file).resolve()

    def register(self, archive: Path, project_root: Path, now: datetime | None = None) -> RegisteredModel:
        metadata = model_metadata(archive)
        model_id = str(metadata.get("model_id") or "")
        if not model_id:
            raise RegistryError(f"{archive} has no model id")
        models = self.models()
        existing = next((m for m in models if m.model_id == model_id), None)
        if existing is not None:
            return existing  # registering the same training twice changes nothing
        copy = Path(ARCHIVE_DIR) / f"{model_id}.tar.gz"
        (self.directory / ARCHIVE_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, self.directory / copy)
        model = RegisteredModel(
            model_id=model_id, file=copy.as_posix(), trained_at=str(metadata.get("trained_at", "")),
            rasa_version=str(metadata.get("rasa_open_source_version", "")),
            data_fingerprint=fingerprint(project_root, DATA_INPUTS),
            config_fingerprint=fingerprint(project_root, CONFIG_INPUTS),
            registered_at=(now or datetime.now(timezone.utc)).isoformat(timespec="seconds"))
        self._save([*models, model])
        return model

    def attach_scores(self, model_id: str, scores: dict[str, Any]) -> RegisteredModel:
        models = self.models()
        for model in models:
            if model.model_id == model_id:
                model.eval = scores
                self._save(models)
                return model
        raise RegistryError(f"model {model_id} is not registered: run `frontdesk model register` first")

    def previous(self, model_id: str) -> RegisteredModel:
        """The model registered before ``model_id``: what a rollback goes back to."""
        models = self.models()
        ids = [m.model_id for m in models]
        if model_id not in ids:
            raise RegistryError(f"the live model {model_id} is not registered: say which to load with --to")
        position = ids.index(model_id)
        if position == 0:
            raise RegistryError(f"no model was registered before {model_id}: there is nothing to roll back to")
        return models[position - 1]


class RasaModelApi:
    """The Rasa server's HTTP API for its model: which one is live, and loading another."""

    def __init__(self, rasa_url: str, jwt_secret: str, timeout_seconds: float = 300) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.auth = RasaApiAuth(jwt_secret)
        self.timeout = timeout_seconds

    def live_model_id(self) -> str:
        try:
            answer = httpx.get(f"{self.rasa_url}/status", auth=self.auth, timeout=30)
        except httpx.HTTPError as problem:
            raise RegistryError(f"the Rasa server at {self.rasa_url} did not answer: {problem}") from problem
        if answer.status_code != 200:
            raise RegistryError(f"the Rasa server refused /status ({answer.status_code})")
        return str(answer.json().get("model_id") or "")

    def load(self, model_file: Path) -> None:
        """Rasa loads the file in its own process (the file must be readable there)."""
        try:
            answer = httpx.put(f"{self.rasa_url}/model", json={"model_file": str(model_file)}, auth=self.auth,
                               timeout=self.timeout)
        except httpx.HTTPError as problem:
            raise RegistryError(f"the Rasa server at {self.rasa_url} did not answer: {problem}") from problem
        if answer.status_code != 204:
            raise RegistryError(f"the Rasa server did not load {model_file.name} ({answer.status_code}): "
                                f"{answer.text[:300]}")
