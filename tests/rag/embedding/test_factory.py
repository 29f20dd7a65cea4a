"""Model specs, fingerprints and load errors of ``load_embedder``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from rag.embedding.base import PairedEmbedder
from rag.embedding.factory import (
    ModelOptions,
    folder_revision,
    load_embedder,
    load_embedder_from_settings,
    model_name,
    resolve_model,
)
from rag.embedding.fake import HashEmbedder
from rag.embedding.pplx import PplxEmbedder
from rag.errors import ConfigError, ModelLoadError
from rag.settings import Settings
from rag.types import DocumentMode


def test_fake_spec_gives_the_hash_embedder() -> None:
    embedder = load_embedder(
        ModelOptions(doc_model="fake:32", query_model="fake:32", document_mode=DocumentMode.ISOLATED)
    )
    assert isinstance(embedder, HashEmbedder) and embedder.dimensions == 32
    assert embedder.fingerprint.document_mode == "isolated"
    with pytest.raises(ConfigError):
        load_embedder(ModelOptions(doc_model="fake:12", query_model="fake:12"))
    with pytest.raises(ConfigError):
        load_embedder(ModelOptions(doc_model="fake:32", query_model="fake:32", dimensions=16))


def test_a_missing_folder_is_one_load_error_with_the_hint(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="local folder holding config.json"):
        load_embedder(ModelOptions(doc_model=str(tmp_path / "absent"), query_model="fake:8"))
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_embedder(ModelOptions(doc_model=str(tmp_path), query_model=str(tmp_path)))


def test_an_unknown_layout_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(ModelLoadError, match="cannot load an encoder"):
        load_embedder(ModelOptions(doc_model=str(tmp_path), query_model=str(tmp_path), device="cpu"))


def test_an_unreachable_hub_id_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="model hub.*RAG_DOC_MODEL"):
        load_embedder(ModelOptions(doc_model="perplexity-ai/pplx-embed-v1-0.6b", query_model="fake:8"))


def test_float16_and_unknown_modes_are_refused(checkpoints: dict[str, Path]) -> None:
    spec = str(checkpoints["v1"])
    with pytest.raises(ConfigError, match="float16"):
        load_embedder(ModelOptions(doc_model=spec, query_model=spec, dtype="float16", device="cpu"))
    with pytest.raises(ConfigError, match="document_mode"):
        # Not a mode: the string an untyped caller could pass, which ModelOptions parses and refuses.
        late = cast(DocumentMode, "late")
        load_embedder(ModelOptions(doc_model=spec, query_model=spec, document_mode=late))


def test_local_pplx_folders_load_once_or_paired(checkpoints: dict[str, Path]) -> None:
    context, v1 = str(checkpoints["context"]), str(checkpoints["v1"])
    single = load_embedder(
        ModelOptions(doc_model=context, query_model=context, device="cpu", torch_threads=1)
    )
    assert isinstance(single, PplxEmbedder)
    assert single.fingerprint.doc_model == "pplx-embed-context-v1-tiny"
    assert single.fingerprint.document_mode == "contextual"
    paired = load_embedder(ModelOptions(doc_model=context, query_model=v1, device="cpu", dimensions=32))
    assert isinstance(paired, PairedEmbedder) and paired.dimensions == 32
    fingerprint = paired.fingerprint
    assert fingerprint.query_model == "pplx-embed-v1-tiny"
    assert fingerprint.doc_revision == folder_revision(checkpoints["context"])
    assert fingerprint.quantization == fingerprint.query_quantization == "tanh-int8"


def test_revision_hash_follows_config_and_weight_sizes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    first = folder_revision(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"y" * 10)
    assert folder_revision(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"x" * 11)
    assert folder_revision(tmp_path) != first
    assert (
        load_embedder(ModelOptions(doc_model="fake:8", query_model="fake:8", doc_revision="abc")).dimensions
        == 8
    )


def test_settings_choose_the_models(checkpoints: dict[str, Path]) -> None:
    folder = str(checkpoints["v1"])
    settings = Settings(doc_model=folder, query_model=folder, device="cpu", dimensions=16)
    embedder = load_embedder_from_settings(settings)
    assert embedder.dimensions == 16 and embedder.fingerprint.document_mode == "isolated"


def test_contextual_mode_belongs_to_the_document_model(checkpoints: dict[str, Path]) -> None:
    # The design's default pair, with the mode set explicitly: the v1 query model must not be checked.
    context, v1 = str(checkpoints["context"]), str(checkpoints["v1"])
    options = ModelOptions(
        doc_model=context, query_model=v1, document_mode=DocumentMode.CONTEXTUAL, device="cpu"
    )
    paired = load_embedder(options)
    assert paired.fingerprint.document_mode == "contextual"
    with pytest.raises(ConfigError, match="context model as the document model"):
        load_embedder(ModelOptions(doc_model=v1, query_model=v1, document_mode=DocumentMode.CONTEXTUAL))


def _model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return path


def test_a_symlinked_folder_is_named_by_the_link(tmp_path: Path) -> None:
    snapshot = _model_folder(tmp_path / "snapshots" / "3f2a9c")
    link = tmp_path / "models" / "pplx-embed-v1-0.6b"
    link.parent.mkdir()
    link.symlink_to(snapshot, target_is_directory=True)
    chained = tmp_path / "models" / "current"
    chained.symlink_to(link, target_is_directory=True)
    for spec, name in [
        (str(link), "pplx-embed-v1-0.6b"),
        (f"{link}/", "pplx-embed-v1-0.6b"),
        (str(chained), "current"),
    ]:
        folder, resolved_name, revision = resolve_model(spec, None)
        assert (resolved_name, model_name(spec)) == (name, name)
        assert folder.resolve() == snapshot.resolve()
        assert revision == folder_revision(snapshot)


def test_a_real_folder_keeps_the_name_it_always_had(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``folder.resolve().name``, as before: existing collections' fingerprints stay the same."""
    folder = _model_folder(tmp_path / "real" / "pplx-embed-context-v1-0.6b")
    (folder / "sub").mkdir()
    # A symlinked parent does not rename the folder inside it.
    (tmp_path / "linked-parent").symlink_to(folder.parent, target_is_directory=True)
    monkeypatch.chdir(folder)
    specs = [str(folder), f"{folder}/", ".", "./", "sub/..", str(tmp_path / "linked-parent" / folder.name)]
    for spec in specs:
        assert resolve_model(spec, None)[1] == folder.resolve().name == "pplx-embed-context-v1-0.6b", spec
        assert model_name(spec) == "pplx-embed-context-v1-0.6b", spec


def test_a_symlinked_checkpoint_loads_under_the_links_name(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    link = tmp_path / "pplx-embed-v1-0.6b"
    link.symlink_to(checkpoints["v1"], target_is_directory=True)
    embedder = load_embedder(ModelOptions(doc_model=str(link), query_model=str(link), device="cpu"))
    assert embedder.fingerprint.doc_model == embedder.fingerprint.query_model == "pplx-embed-v1-0.6b"
    direct = load_embedder(ModelOptions(doc_model=str(checkpoints["v1"]), query_model=str(checkpoints["v1"])))
    assert direct.fingerprint.doc_model == "pplx-embed-v1-tiny"
    assert embedder.fingerprint.doc_revision == direct.fingerprint.doc_revision


def test_model_name_without_loading() -> None:
    assert model_name("fake:64") == "fake:64"
    assert model_name("All-MiniLM-L6-v2") == "all-minilm-l6-v2"
    assert model_name("perplexity-ai/pplx-embed-v1-0.6b") == "perplexity-ai/pplx-embed-v1-0.6b"
