"""The model registry: a trained model recorded once with its fingerprints and a kept copy;
scores attached to the model they are for; the model before the live one found for a rollback."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from frontdesk.insights.models import ModelRegistry, RegistryError, fingerprint


def fake_model(path: Path, model_id: str) -> Path:
    """A tar.gz with the metadata.json a Rasa model carries (what the registry reads)."""
    metadata = json.dumps({"model_id": model_id, "trained_at": "2026-12-01T10:00:00",
                           "rasa_open_source_version": "3.6.21"}).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text("nlu: []\n")
    (tmp_path / "domain.yml").write_text("version: '3.1'\n")
    (tmp_path / "config.yml").write_text("pipeline: []\n")
    return tmp_path


def test_a_model_is_registered_once_with_its_fingerprints_and_a_kept_copy(project, tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    first = registry.register(fake_model(tmp_path / "a.tar.gz", "m-1"), project)
    assert registry.register(tmp_path / "a.tar.gz", project) == first  # twice: unchanged
    assert registry.path_of(first).read_bytes() == (tmp_path / "a.tar.gz").read_bytes()
    assert (first.rasa_version, first.trained_at) == ("3.6.21", "2026-12-01T10:00:00")
    (project / "data" / "nlu.yml").write_text("nlu: [changed]\n")
    second = registry.register(fake_model(tmp_path / "b.tar.gz", "m-2"), project)
    assert second.data_fingerprint != first.data_fingerprint
    assert second.config_fingerprint == first.config_fingerprint
    assert [m.model_id for m in registry.models()] == ["m-1", "m-2"]
    assert registry.previous("m-2").model_id == "m-1"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.previous("m-1")
    with pytest.raises(RegistryError, match="not registered"):
        registry.previous("m-9")


def test_scores_go_to_the_model_they_are_for(project, tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    registry.register(fake_model(tmp_path / "a.tar.gz", "m-1"), project)
    registry.attach_scores("m-1", {"model_id": "m-1", "nlu_heldout": {"accuracy": 0.91}})
    assert registry.get("m-1").eval["nlu_heldout"]["accuracy"] == 0.91
    with pytest.raises(RegistryError, match="not registered"):
        registry.attach_scores("m-2", {})


def test_not_a_model_is_refused_clearly(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(RegistryError, match="not a readable Rasa model"):
        ModelRegistry(tmp_path).register(tmp_path / "junk.tar.gz", tmp_path)


def test_fingerprints_cover_paths_and_contents(tmp_path):
    (tmp_path / "a.yml").write_text("x")
    before = fingerprint(tmp_path, ["a.yml"])
    (tmp_path / "a.yml").write_text("y")
    assert fingerprint(tmp_path, ["a.yml"]) != before
    assert fingerprint(tmp_path, ["missing"]) == fingerprint(tmp_path, [])
